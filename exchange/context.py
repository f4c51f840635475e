"""What a node's application services share: its identity, its ledger and its adapters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from exchange.case import Case
from exchange.catalog import Catalog
from exchange.errors import InvalidRequest, NotFound, TongbanError
from exchange.issued import IssuedResults
from exchange.ledger import CaseLedger
from exchange.outbox import Outbox, OutboxMessage
from exchange.ports import CoordinationGateway, ObjectStore, PeerGateway, PrintSpool, ResultIssuer, ResultVerifier


def utc_now() -> datetime:
    return datetime.now(tz=timezone.utc)


@dataclass
class NodeContext:
    province_code: str
    provinces: Mapping[str, Mapping[str, object]]  # code -> {"name", "departments": {key: name}}
    ledger: CaseLedger
    catalog: Catalog
    store: ObjectStore
    peers: PeerGateway
    issuer: ResultIssuer | None = None
    verifier: ResultVerifier | None = None
    spool: PrintSpool | None = None
    coordination: CoordinationGateway | None = None  # 多地联办 tasks and progress notices
    now: Callable[[], datetime] = utc_now
    max_material_bytes: int = 2 << 30
    uploads: Any = None  # exchange.materials.PartialUploads: resumable transfers from peers
    outbox: Outbox | None = None  # messages to partners, recorded with their events
    courier: Any = None  # exchange.courier.Courier: sends outbox messages (set once the context exists)
    issued: IssuedResults = field(default_factory=IssuedResults)  # what this process issued, for the window's question
    # Read-modify-save of one case is serialised per process, so concurrent RPCs on the same
    # case do not race each other to IntegrityError; another process is still caught by it.
    _locks: dict[str, threading.RLock] = field(default_factory=dict)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock)

    def case_lock(self, case_number: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(case_number, threading.RLock())

    def department_name(self, province: str, department_key: str) -> str:
        departments = self.province(province)["departments"]
        assert isinstance(departments, Mapping)
        try:
            return str(departments[department_key])
        except KeyError:
            raise NotFound(
                f"province {province} has no department {department_key!r} in the federation"
            ) from None

    def province(self, code: str) -> Mapping[str, object]:
        try:
            return self.provinces[code]
        except KeyError:
            raise InvalidRequest(
                "province", f"{code!r} is not a province of this federation"
            ) from None

    def stamp(self) -> str:
        """When something happens: the node's clock, ISO 8601 in UTC."""
        return self.now().astimezone(timezone.utc).isoformat()

    def save(
        self, case: Case, *, outbox: Sequence[OutboxMessage] = (), delivered: Sequence[str] = (),
        inbox: str = "",
    ) -> None:
        """Save; a stale aggregate (another writer got there first) raises eventsourcing's
        IntegrityError and saves nothing; the RPC layer answers ABORTED so the client retries.
        Outbox messages, the ids of messages the peer confirmed and the id of the peer message
        that caused these events are recorded in the same transaction as the events."""
        if (outbox or delivered or inbox) and self.outbox is None:
            raise TongbanError("this node was started without an outbox; it cannot send to partner nodes")
        kwargs: dict[str, Any] = {}
        if outbox:
            kwargs["outbox"] = list(outbox)
        if delivered:
            kwargs["delivered"] = list(delivered)
        if inbox:
            kwargs["inbox"] = (inbox, case.case_number)
        self.ledger.save(case, **kwargs)

    def already_applied(self, message_id: str, *, case_number: str) -> bool:
        """A message from a peer with this id was applied here before (its events are saved).
        An id applied for another case is refused: acknowledging it would drop this message."""
        if not message_id or self.outbox is None:
            return False
        applied_for = self.outbox.inbox_case(message_id)
        if applied_for is not None and applied_for != case_number:
            raise InvalidRequest("message_id", f"message {message_id} was applied here for case {applied_for}, "
                                 f"not {case_number}; give each message an id of its own")
        return applied_for is not None

    def send_now(self, messages: Sequence[OutboxMessage], *, current: Case | None = None) -> dict[str, Case]:
        """Try recorded messages at once; whatever does not go now the relay retries later.
        Returns the cases that a confirmation moved on (Forwarded, ResultDelivered), as saved.
        `current`: the case the messages were saved with, by a caller that still holds its
        lock, so the courier need not read it again."""
        if messages and self.courier is not None:
            return self.courier.attempt_all(messages, current=current)
        return {}

