"""Keeps a sender's outbox leases alive while its sends take long.

A claim is a lease (120 s by default) so that a message whose sender died is taken over. A
forward carrying hundreds of MB over a slow link can outlast it, and then the relay, or
another replica, would claim the message again and send it a second time beside the first;
the partner refuses the second stream as busy and the message is marked for a retry while it
is still on its way. One thread renews the leases of every message being sent, every quarter
lease, while there is any; it stops when the last send ends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

log = logging.getLogger("tongban.outbox")


class LeaseKeeper:
    def __init__(self, *, renew: Callable[[Sequence[str]], Sequence[str]], lease_seconds: float) -> None:
        """`renew(ids)` extends this sender's leases of `ids` and returns those it still held."""
        self._renew = renew
        self._every = lease_seconds / 4
        self._sending: dict[str, int] = {}  # message id -> sends in progress (a resend may overlap)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    @contextmanager
    def sending(self, message_id: str) -> Iterator[None]:
        self.keep(message_id)
        try:
            yield
        finally:
            self.let_go(message_id)

    def keep(self, message_id: str) -> None:
        """Renew this message's lease until `let_go`: while it is sent, or while it waits in a
        claimed batch behind a long send to the same partner (else another sender takes it)."""
        with self._lock:
            self._sending[message_id] = self._sending.get(message_id, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-leases", daemon=True)
                self._thread.start()

    def let_go(self, message_id: str) -> None:
        with self._lock:
            left = self._sending[message_id] - 1
            if left:
                self._sending[message_id] = left
            else:
                del self._sending[message_id]
                if not self._sending:
                    self._wake.notify()

    def _renew_all(self) -> None:
        with self._lock:
            ids = sorted(self._sending)
        if not ids:
            return
        try:
            kept = set(self._renew(ids))
        except Exception:  # the database was briefly unreachable: the next round tries again
            log.exception("could not renew the leases of %d messages being sent", len(ids))
            return
        for lost in sorted(set(ids) - kept):
            # Already delivered, or taken over after this sender stalled past its lease: the
            # partner's inbox applies the message once either way.
            log.info("message %s is no longer leased to this sender", lost)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._wake.wait_for(lambda: not self._sending, timeout=self._every)
                if not self._sending:
                    self._thread = None
                    return
            self._renew_all()
