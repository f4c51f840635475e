"""The relay: a background thread of the node process that drains its outbox. It claims the
messages that may go (oldest first; a case's messages in order; none to a partner in backoff),
sends each partner's in order, partners side by side, and sleeps until the next one is due or a
desk queues a new one. On start it picks
up whatever an earlier run left undelivered. It also tells the health service, per partner,
whether the last attempt reached it (`tongban.peer.<province>`: SERVING or NOT_SERVING)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from exchange.courier import Courier
from exchange.outbox import Outbox, OutboxMessage

log = logging.getLogger("tongban.relay")

PEER_HEALTH_PREFIX = "tongban.peer."


class OutboxRelay:
    def __init__(
        self, *, courier: Courier, outbox: Outbox, poll_seconds: float = 5.0,
        peers: list[str] | None = None, report_health: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.courier = courier
        self.outbox = outbox
        self.poll_seconds = poll_seconds
        self.peers = sorted(peers or [])
        self.report_health = report_health
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One partner that is down (each attempt waits out its connection) must not hold up the
        # others: each round sends every partner's next message side by side.
        self._senders = ThreadPoolExecutor(max_workers=max(1, min(8, len(self.peers))),
                                           thread_name_prefix="outbox-send")
        courier.on_queued = self.wake

    def start(self) -> OutboxRelay:
        for peer in self.peers:  # unknown until the first attempt: assume reachable
            self._report(peer, True)
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._senders.shutdown(wait=False, cancel_futures=True)

    def drain_once(self) -> int:
        """One round: every due message that is next in line for its partner; how many went."""
        claimed = self.outbox.claim(owner=self.courier.owner, lease_seconds=self.courier.policy.lease_seconds)
        per_peer: dict[str, list[OutboxMessage]] = {}
        for message in claimed:  # oldest first
            per_peer.setdefault(message.peer, []).append(message)
        sent = sum(self._senders.map(self._send_in_order, per_peer.values())) if per_peer else 0
        for peer, state in self.courier.peer_states().items():
            self._report(peer, state == "reachable")
        return sent

    def _send_in_order(self, messages: list[OutboxMessage]) -> int:
        """One partner's messages, oldest first; if it turns out to be down the rest wait. The
        claims of those waiting their turn are kept alive too: behind a long forward they would
        run out, and another sender would send them a second time."""
        leases = self.courier.leases
        held = {message.message_id for message in messages}
        for message_id in held:
            leases.keep(message_id)
        sent = 0
        try:
            for position, message in enumerate(messages):
                if self._stop.is_set():
                    self.outbox.release([m.message_id for m in messages[position:]])  # type: ignore[attr-defined]
                    break
                try:
                    delivered = self.courier.attempt(message)
                finally:
                    held.discard(message.message_id)
                    leases.let_go(message.message_id)
                if delivered:
                    sent += 1
                elif self.courier.peer_states().get(message.peer) != "reachable":
                    self.outbox.release([m.message_id for m in messages[position + 1:]])  # type: ignore[attr-defined]
                    break
        finally:
            for message_id in held:  # not attempted: released above, or the round was cut short
                leases.let_go(message_id)
        return sent

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.drain_once():
                    continue  # the next message of the same partner may be due at once
                due_in = self.outbox.next_due_in()  # type: ignore[attr-defined]
            except Exception:
                log.exception("outbox relay round failed; trying again shortly")
                due_in = None
            wait = self.poll_seconds if due_in is None else min(self.poll_seconds, max(0.05, due_in))
            self._wake.wait(wait)
            self._wake.clear()

    def _report(self, peer: str, reachable: bool) -> None:
        if self.report_health is not None:
            self.report_health(peer, reachable)
