"""The courier sends one outbox message through the ports and records what the partner's
confirmation means (a forwarded case is Forwarded, a delivered result ResultDelivered), marking
the message delivered in the same transaction. It decides what a failure means: a partner that
cannot be reached is tried again later, with backoff and jitter; a partner that refuses parks
the message as refused, with its reason, for an operator to look at."""

from __future__ import annotations

import copy
import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exchange.case import Case, CaseStatus
from exchange.context import NodeContext
from exchange.department import task_envelope
from exchange.errors import PeerBusy, PeerRefused, PeerUnavailable, TongbanError, Unavailable
from exchange.leases import LeaseKeeper
from exchange.materials import CARRIED_EACH, CARRIED_IN_ALL
from exchange.outbox import (
    ASSIGN_TASK, DELIVER_RESULT, FORWARD_CASE, NOTIFY_PROGRESS, REPORT_TASK, OutboxMessage,
)
from exchange.window import envelope_of

log = logging.getLogger("tongban.outbox")

# Refusals that will not change by sending again; anything else (a partner overloaded, an
# internal error there) is tried again later.
PERMANENT_REFUSALS = frozenset({
    "INVALID_ARGUMENT", "FAILED_PRECONDITION", "PERMISSION_DENIED", "UNAUTHENTICATED", "NOT_FOUND",
    "ALREADY_EXISTS", "OUT_OF_RANGE", "UNIMPLEMENTED",
})


def carried_with_forward(materials: Sequence[Mapping[str, Any]]) -> list[str]:
    """SHA-256s of the materials that travel inside the forward, in the case's order."""
    chosen: list[str] = []
    total = 0
    for material in materials:
        size = int(material["size"])
        if size <= CARRIED_EACH and total + size <= CARRIED_IN_ALL and material["sha256"] not in chosen:
            chosen.append(material["sha256"])
            total += size
    return chosen


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped: attempt n waits base·2ⁿ⁻¹ (at most cap),
    scaled by a random factor in [1 - jitter, 1]."""

    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    jitter: float = 0.5
    lease_seconds: float = 120.0  # a claim not renewed by then is taken over (the sender died)

    def delay(self, attempts: int, rng: random.Random) -> float:
        # The exponent is capped too: 2 ** 1024 does not fit a float (days of retries at the cap).
        raw = min(self.cap_seconds, self.base_seconds * (2 ** min(max(0, attempts - 1), 60)))
        return raw * (1.0 - self.jitter * rng.random())


class Courier:
    def __init__(self, ctx: NodeContext, *, policy: RetryPolicy | None = None,
                 on_queued: Callable[[], None] | None = None) -> None:
        self.ctx = ctx
        self.policy = policy or RetryPolicy()
        self.owner = uuid.uuid4().hex  # this process's claims
        self.on_queued = on_queued  # wakes the relay when a message stays queued
        self.rng = random.Random()
        self.peer_state: dict[str, str] = {}  # province -> "reachable" | error of the last failure
        self._state_lock = threading.Lock()
        self.already_applied = 0  # confirmations that said "already applied" (a resend)
        self.leases = LeaseKeeper(
            renew=lambda ids: self._outbox().renew(ids, owner=self.owner, lease_seconds=self.policy.lease_seconds),
            lease_seconds=self.policy.lease_seconds)

    # -- attempts ---------------------------------------------------------------------------

    def attempt_all(self, messages: Sequence[OutboxMessage], *, current: Case | None = None) -> dict[str, Case]:
        """Try freshly recorded messages now, each only if it may go (the earlier messages of its
        case are delivered, its partner is not in backoff) and no one else holds it; the others
        wait for the relay. Returns the cases whose confirmation recorded something (Forwarded,
        ResultDelivered), as saved, so the caller need not read them again.

        `current`: the case the messages were saved with, by a caller that still holds its lock,
        so it is what is saved: sent from a copy of it rather than read again. A confirmation
        records on the copy, so one that cannot be saved leaves `current` as saved, and the
        caller never answers with what was not saved."""
        outbox = self._outbox()
        queued = False
        recorded: dict[str, Case] = {}
        for message in messages:
            claimed = outbox.claim(owner=self.owner, lease_seconds=self.policy.lease_seconds,
                                   message_id=message.message_id)
            if claimed:
                known = current if current is not None and current.case_number == message.case_number else None
                confirmed, case = self._attempt(claimed[0], fresh=True,
                                                case=_detached(known) if known is not None else None)
                queued = queued or not confirmed
                if case is not None:
                    recorded[case.case_number] = case
                    if known is not None:
                        current = case  # the copy, as now saved
            else:
                queued = True
        if queued and self.on_queued is not None:
            self.on_queued()
        return recorded

    def attempt(self, message: OutboxMessage) -> bool:
        """Send one claimed message; True once the partner confirmed it."""
        return self._attempt(message)[0]

    def _attempt(self, message: OutboxMessage, *, fresh: bool = False,
                 case: Case | None = None) -> tuple[bool, Case | None]:
        outbox = self._outbox()
        try:
            with self.leases.sending(message.message_id):  # a long send keeps its claim
                case = self.send(message, fresh=fresh, case=case)
        except PeerBusy as exc:
            # The partner answered: only this message waits (its case is busy there).
            wait = self.policy.delay(message.attempts + 1, self.rng)
            outbox.failed(message.message_id, error=str(exc), retry_in=wait)
            self._peer(message.peer, "reachable")
            return False, None
        except PeerUnavailable as exc:
            # The partner, not this message, is the problem: nothing goes to it for a while
            # (backoff per partner), then its messages go again oldest first.
            outbox.failed(message.message_id, error=str(exc), retry_in=0.0)
            wait = outbox.peer_unreachable(message.peer, error=str(exc),
                                           retry_in=lambda failures: self.policy.delay(failures, self.rng))
            self._peer(message.peer, str(exc))
            log.info("%s of case %s to %s not delivered (attempt %d), retry in %.1fs: %s",
                     message.kind, message.case_number, message.peer, message.attempts + 1, wait, exc)
            return False, None
        except PeerRefused as exc:
            if exc.code in PERMANENT_REFUSALS:
                outbox.refused(message.message_id, reason=str(exc))
                self._peer(message.peer, "reachable")
                log.warning("%s of case %s refused by %s: %s", message.kind, message.case_number, message.peer, exc)
            else:
                wait = self.policy.delay(message.attempts + 1, self.rng)
                outbox.failed(message.message_id, error=str(exc), retry_in=wait)
                self._peer(message.peer, str(exc))
            return False, None
        except Unavailable as exc:
            # This node's own object store, say: the message goes again once it is back.
            wait = self.policy.delay(message.attempts + 1, self.rng)
            outbox.failed(message.message_id, error=str(exc), retry_in=wait)
            log.warning("%s of case %s to %s waits (attempt %d), retry in %.1fs: %s",
                        message.kind, message.case_number, message.peer, message.attempts + 1, wait, exc)
            return False, None
        except TongbanError as exc:
            # Something here makes the message unsendable (its case or a material is gone).
            outbox.refused(message.message_id, reason=f"not sendable from this node: {exc}")
            log.error("%s of case %s to %s cannot be sent: %s", message.kind, message.case_number, message.peer, exc)
            return False, None
        except Exception as exc:  # e.g. the database was briefly unreachable: try again later
            wait = self.policy.delay(message.attempts + 1, self.rng)
            outbox.failed(message.message_id, error=f"{type(exc).__name__}: {exc}", retry_in=wait)
            log.exception("%s of case %s to %s failed", message.kind, message.case_number, message.peer)
            return False, None
        if self.peer_states().get(message.peer) != "reachable":
            outbox.peer_reachable(message.peer)  # ends its backoff (once, not on every message)
        self._peer(message.peer, "reachable")
        return True, case

    def peer_states(self) -> dict[str, str]:
        with self._state_lock:
            return dict(self.peer_state)

    def _peer(self, province: str, state: str) -> None:
        with self._state_lock:
            self.peer_state[province] = state

    # -- what each kind of message is --------------------------------------------------------

    def send(self, message: OutboxMessage, *, fresh: bool = False, case: Case | None = None) -> Case | None:
        """Send one message; the case as saved when the confirmation recorded events on it.
        `fresh`: recorded a moment ago and never tried, so no part of it can have arrived.
        `case`: the message's case as saved, read under its lock, which the caller holds."""
        handler: Callable[[OutboxMessage], Case | None] = {
            FORWARD_CASE: lambda m: self._forward_case(m, fresh=fresh, case=case),
            DELIVER_RESULT: lambda m: self._deliver_result(m, case=case), ASSIGN_TASK: self._assign_task,
            REPORT_TASK: self._report_task, NOTIFY_PROGRESS: self._notify_progress,
        }[message.kind]
        before = self.already_applied
        case = handler(message)
        if self.already_applied > before:
            log.info("%s of case %s: %s had already applied it (a resend)", message.kind, message.case_number,
                     message.peer)
        return case

    def _forward_case(self, m: OutboxMessage, *, fresh: bool = False, case: Case | None = None) -> Case | None:
        ctx = self.ctx
        # Under the case's lock, so an applicant's withdrawal at the window and the forward do
        # not cross: a case withdrawn before it left is not sent at all.
        with ctx.case_lock(m.case_number):
            case = case if case is not None else ctx.ledger.get_case(m.case_number)
            if case.status is not CaseStatus.SUBMITTED:
                self._outbox().delivered(m.message_id)  # withdrawn here first: nothing to forward
                return None
            try:
                self._send_forward(m, case, fresh=fresh)
            except PeerRefused:
                _check_own_copies(ctx, case)  # our copy, not the partner, may be what is wrong
                raise
            return self._confirm(m, case, lambda c: c.forward(actor=_actor(m), at=ctx.stamp()))

    def _send_forward(self, m: OutboxMessage, case: Case, *, fresh: bool) -> None:
        # On the first try the small materials travel inside the forward; a resend pushes them,
        # asking first what the partner already holds, rather than send them again.
        try:
            self._send_case(m, case, carry=fresh, first_push=fresh)
        except PeerRefused as refusal:
            if not (fresh and _missed_what_it_carried(refusal) and carried_with_forward(case.materials)):
                raise
            # A partner older than materials carried in the forward ignores them and finds them
            # missing: they are pushed, as to any partner, and the case sent again.
            log.info("forward of case %s: %s took none of the materials it carried (an older node?); "
                     "pushing them", m.case_number, m.peer)
            self._send_case(m, case, carry=False, first_push=True)

    def _send_case(self, m: OutboxMessage, case: Case, *, carry: bool, first_push: bool) -> None:
        ctx = self.ctx
        # The materials go as read, without hashing them here: the partner hashes every byte it
        # takes and refuses (storing none of it) any material that does not hash to what the
        # case lists. Only when it refuses are our copies hashed, to say which side is wrong.
        carried = {sha256: ctx.store.read_bytes(sha256, verify=False)
                   for sha256 in (carried_with_forward(case.materials) if carry else [])}
        for material in case.materials:
            if material["sha256"] not in carried:
                ctx.peers.push_material(m.peer, case_number=case.case_number, material=material,
                                        chunks=ctx.store.iter_chunks(material["sha256"], verify=False),
                                        first_push=first_push)
        # The envelope carries 身份核验 and 代办 too: the competent node records them with the case.
        self._count(ctx.peers.forward_case(m.peer, envelope=envelope_of(case), message_id=m.message_id,
                                           carried=carried))

    def _deliver_result(self, m: OutboxMessage, *, case: Case | None = None) -> Case | None:
        ctx = self.ctx
        with ctx.case_lock(m.case_number):  # as for the forward: the confirmation goes on this read
            case = case if case is not None else ctx.ledger.get_case(m.case_number)
            assert case.result is not None
            pdf = ctx.store.read_bytes(case.result["sha256"])
            self._count(ctx.peers.deliver_result(m.peer, case_number=case.case_number, pdf=pdf,
                                                 issued_sha256=case.result["sha256"], message_id=m.message_id))
            return self._confirm(m, case, lambda c: c.deliver_result(to_province=m.peer, actor=_actor(m), at=ctx.stamp())
                                 if c.status is CaseStatus.RESULT_ISSUED else None)

    def _assign_task(self, m: OutboxMessage) -> Case | None:
        case = self.ctx.ledger.get_case(m.case_number)
        self._count(self._coordination().assign_task(
            m.peer, envelope=task_envelope(case), department=str(m.payload["department"]),
            task=str(m.payload["task"]), message_id=m.message_id))
        self._outbox().delivered(m.message_id)
        return None

    def _report_task(self, m: OutboxMessage) -> Case | None:
        self._count(self._coordination().report_task(
            m.peer, case_number=m.case_number, outcome=str(m.payload["outcome"]), note=str(m.payload["note"]),
            message_id=m.message_id))
        self._outbox().delivered(m.message_id)
        return None

    def _notify_progress(self, m: OutboxMessage) -> Case | None:
        ctx = self.ctx
        step, detail = str(m.payload["step"]), dict(m.payload.get("detail") or {})
        if step == "supplemented":  # 补正材料 travel before the notice that names them
            for material in detail.get("materials", []):
                ctx.peers.push_material(m.peer, case_number=m.case_number, material=material,
                                        chunks=ctx.store.iter_chunks(material["sha256"]))
        self._count(self._coordination().notify_progress(
            m.peer, case_number=m.case_number, step=step, detail=detail, message_id=m.message_id))
        self._outbox().delivered(m.message_id)
        return None

    def _confirm(self, m: OutboxMessage, case: Case, record: Callable[[Case], None]) -> Case | None:
        """Record what the confirmation means and mark the message delivered, in one save. The
        caller holds the case's lock and read `case` under it, so it is current in this process
        (a replica that moved it meanwhile makes the save fail, and the relay tries again)."""
        record(case)
        if case.pending_events:
            self.ctx.save(case, delivered=[m.message_id])
            return case
        # recorded before (another replica, or before a crash): only the mark is missing
        self._outbox().delivered(m.message_id)
        return None

    def _count(self, already_applied: bool | None) -> None:
        if already_applied:
            self.already_applied += 1

    def _outbox(self):  # type: ignore[no-untyped-def]
        if self.ctx.outbox is None:
            raise TongbanError("this node was started without an outbox")
        return self.ctx.outbox

    def _coordination(self):  # type: ignore[no-untyped-def]
        if self.ctx.coordination is None:
            raise TongbanError("this node was started without node-to-node coordination")
        return self.ctx.coordination


def _detached(case: Case) -> Case:
    """A copy of `case` that a confirmation may change while `case` stays as saved. The events
    a confirmation records (Forwarded, ResultDelivered) only rebind the case's status, so a
    shallow copy with pending events of its own is enough."""
    clone = copy.copy(case)
    vars(clone)["_pending_events"] = []
    return clone


def _missed_what_it_carried(refusal: PeerRefused) -> bool:
    """The partner refused the forward because a material it lists has not arrived, which is what
    a node older than carried materials says of them (and not, say, a matter it does not know)."""
    return refusal.code == "NOT_FOUND" and "has not arrived" in str(refusal)


def _check_own_copies(ctx: NodeContext, case: Case) -> None:
    """Raise MaterialIntegrityError (this node's copy is corrupt: restore it) if a material of
    the case no longer hashes to its SHA-256 here."""
    for material in case.materials:
        for _ in ctx.store.iter_chunks(material["sha256"]):  # checked as the last chunk is read
            pass


def _actor(m: OutboxMessage) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(m.payload.get("actor") or {}).items()}
