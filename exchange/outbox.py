"""Messages to partner nodes leave through an outbox recorded with the events that caused them,
and are retried until the partner confirms. This module is the domain's view of it; the rows
live beside the events (storage/outbox.py) and a relay thread drains them (nodes/relay.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# What a node sends a partner, and what each kind carries in its payload (never personal data:
# the courier reads the case back from the ledger when it sends).
FORWARD_CASE = "forward_case"  # {"actor"}: materials, then the envelope (with 身份核验); then Forwarded
DELIVER_RESULT = "deliver_result"  # {"actor"}: the sealed PDF; then ResultDelivered
ASSIGN_TASK = "assign_task"  # {"department", "task"}
REPORT_TASK = "report_task"  # {"outcome", "note"}
NOTIFY_PROGRESS = "notify_progress"  # {"step", "detail"}
KINDS = (FORWARD_CASE, DELIVER_RESULT, ASSIGN_TASK, REPORT_TASK, NOTIFY_PROGRESS)


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    peer: str  # province code of the receiving node
    kind: str
    case_number: str
    payload: Mapping[str, Any]
    created_at: str
    seq: int = 0  # order of recording (0 until stored)
    attempts: int = 0


def new_message(*, peer: str, kind: str, case_number: str, payload: Mapping[str, Any], at: str) -> OutboxMessage:
    assert kind in KINDS, kind
    # A case is forwarded once: its forward's id is known to both sides from the case number,
    # so the competent node can bar a forward the applicant withdrew before it arrived.
    message_id = forward_message_id(case_number) if kind == FORWARD_CASE else str(uuid.uuid4())
    return OutboxMessage(message_id=message_id, peer=peer, kind=kind, case_number=case_number,
                         payload=dict(payload), created_at=at)


def forward_message_id(case_number: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:tongban:forward:{case_number}"))


@dataclass(frozen=True)
class PeerBacklog:
    """What `tongban status` shows for one partner: no personal data, only case numbers."""

    peer: str
    pending: int
    refused: int
    oldest_created_at: str = ""
    oldest_case_number: str = ""
    oldest_kind: str = ""
    attempts: int = 0
    last_error: str = ""
    retry_in_seconds: float = 0.0
    last_refused_case: str = ""


class Outbox(Protocol):
    """The node's outbox and inbox (storage.outbox.SqlOutbox)."""

    def claim(self, *, owner: str, lease_seconds: float, message_id: str | None = None) -> list[OutboxMessage]: ...

    def release(self, message_ids: list[str]) -> None: ...

    def renew(self, message_ids: Sequence[str], *, owner: str, lease_seconds: float) -> list[str]:
        """Extend `owner`'s leases of messages it is still sending; returns those it still held."""

    def peer_unreachable(self, peer: str, *, error: str, retry_in: Callable[[int], float]) -> float: ...

    def peer_reachable(self, peer: str) -> None: ...

    def delivered(self, message_id: str) -> None: ...

    def failed(self, message_id: str, *, error: str, retry_in: float) -> None: ...

    def refused(self, message_id: str, *, reason: str) -> None: ...

    def attempts_of(self, message_id: str) -> int: ...

    def inbox_has(self, message_id: str) -> bool: ...

    def inbox_case(self, message_id: str) -> str | None:
        """The case a recorded message (or a client's request id) opened or changed."""

    def bar_message(self, message_id: str, *, case_number: str) -> bool:
        """Record `message_id` as applied without applying it, so that it never will be (saving
        it then fails); False if it was applied (or barred) first."""

    def backlog(self) -> list[PeerBacklog]: ...

    def pending(self) -> list[OutboxMessage]: ...
