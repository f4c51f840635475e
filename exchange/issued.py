"""What a competent node's process has itself issued, kept to answer the window's question at
print time (what was issued for this case?) without reading the case again.

A result, once issued, never changes (Case.issue_result happens once, on approval), so a
remembered answer cannot go stale; a case this process did not issue (another replica did, or
the node restarted) is simply not known here and is read as before."""

from __future__ import annotations

import threading
from collections import OrderedDict

from exchange.case import Case


class IssuedResults:
    SIZE = 4096  # about the results of a busy province's last few minutes

    def __init__(self, *, size: int = SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._known: OrderedDict[str, tuple[str, str]] = OrderedDict()  # case → (sha256, origin)

    def remember(self, case: Case) -> None:
        """Call once the case with its issued result is saved."""
        if case.result is None:
            return
        with self._lock:
            self._known[case.case_number] = (str(case.result["sha256"]), case.origin_province)
            self._known.move_to_end(case.case_number)
            while len(self._known) > self._size:
                self._known.popitem(last=False)

    def for_origin(self, case_number: str, origin_province: str) -> str | None:
        """The SHA-256 issued for the case if this process issued it and `origin_province` took
        the case in; None otherwise (then read the case: it decides who may ask)."""
        with self._lock:
            known = self._known.get(case_number)
        return known[0] if known is not None and known[1] == origin_province else None
