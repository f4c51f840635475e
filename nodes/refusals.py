"""Every call a node refuses for who the caller is (UNAUTHENTICATED, PERMISSION_DENIED) or how
often it calls (RESOURCE_EXHAUSTED) is recorded in the node's append-only notes table, next to
its event log: who (province, role, operator and fingerprint from the certificate), which RPC,
the code, the reason, when, and the case number if the request named a well-formed one.
Never request contents, so never personal data. `tongban audit refusals` lists them."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone

from exchange.context import utc_now
from exchange.validation import CASE_NUMBER
from storage.chain import LogStore

log = logging.getLogger("tongban.refusals")

NOTE_KIND = "refusal"
MAX_REASON = 500


@dataclass(frozen=True)
class Refusal:
    at: str
    method: str
    code: str
    reason: str
    province: str = ""  # from the certificate; empty when there was no usable one
    role: str = ""
    operator: str = ""
    common_name: str = ""
    fingerprint_sha256: str = ""
    case_number: str = ""
    peer: str = ""  # the transport address the call came from
    suppressed: int = 0  # refusals of this caller not recorded one by one just before this one

    @classmethod
    def now(cls, *, method: str, code: str, reason: str, case_number: str = "", **who: str) -> Refusal:
        return cls(at=utc_now().isoformat(timespec="milliseconds"), method=method, code=code,
                   reason=reason[:MAX_REASON], case_number=case_number if CASE_NUMBER.fullmatch(case_number) else "",
                   **who)

    def render(self) -> str:
        who = "/".join(p for p in (self.province or "?", self.role or "?", self.operator or self.common_name) if p)
        case = f" case={self.case_number}" if self.case_number else ""
        more = f" (+{self.suppressed} more not listed)" if self.suppressed else ""
        return f"{self.at} {self.code:<18} {self.method} caller={who}{case} peer={self.peer}: {self.reason}{more}"

    @property
    def caller_key(self) -> str:
        return "/".join((self.province, self.role, self.operator or self.common_name or self.fingerprint_sha256))


_FIELDS = {f.name for f in fields(Refusal)}


class RefusalLog:
    """Appends refusals to the notes table of the node's log store and reads them back.

    A caller refused over and over (a misconfigured partner, a flood) would otherwise fill the
    store: each caller's refusals are recorded one by one up to `per_second` a second (bursts of
    `burst`), and all callers' together up to `node_per_second` (bursts of `node_burst`), so
    that many certificates at once cannot fill it either (at most ≈ 170 000 notes, ≈ 85 MB, a
    day). Beyond that they are counted and the count goes with the caller's next recorded refusal."""

    def __init__(self, *, open_store: Callable[[], LogStore], per_second: float = 20.0, burst: int = 200,
                 node_per_second: float = 2.0, node_burst: int = 600,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.open_store = open_store
        self.per_second, self.burst, self.clock = per_second, burst, clock
        self.node_per_second, self.node_burst = node_per_second, node_burst
        self._allowance: dict[str, tuple[float, float, int]] = {}  # caller -> tokens, when, suppressed
        self._node_allowance = (float(node_burst), clock())  # tokens, when
        self._lock = threading.Lock()

    def _admit(self, refusal: Refusal) -> Refusal | None:
        with self._lock:
            now = self.clock()
            tokens, then, suppressed = self._allowance.get(refusal.caller_key, (float(self.burst), now, 0))
            tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
            node_tokens, node_then = self._node_allowance
            node_tokens = min(float(self.node_burst), node_tokens + (now - node_then) * self.node_per_second)
            if tokens < 1.0 or node_tokens < 1.0:
                self._allowance[refusal.caller_key] = (tokens, now, suppressed + 1)
                self._node_allowance = (node_tokens, now)
                return None
            if len(self._allowance) > 10_000:
                self._allowance.clear()
            self._allowance[refusal.caller_key] = (tokens - 1.0, now, 0)
            self._node_allowance = (node_tokens - 1.0, now)
        return replace(refusal, suppressed=suppressed) if suppressed else refusal

    def record(self, refusal: Refusal) -> None:
        admitted = self._admit(refusal)
        if admitted is None:
            log.debug("refused (not listed) %s", refusal.render())
            return
        refusal = admitted
        log.warning("refused %s", refusal.render())
        try:
            with self.open_store() as store:
                store.add_note(kind=NOTE_KIND, subject=refusal.province or "-",
                               document=json.dumps(asdict(refusal), ensure_ascii=False, sort_keys=True))
        except Exception:  # the call stays refused; the node's log says the record is missing
            log.exception("could not record the refusal of %s", refusal.method)

    def list(self, *, province: str | None = None, since: str = "", limit: int | None = None) -> list[Refusal]:
        with self.open_store() as store:
            notes = store.notes(NOTE_KIND, province)
        found = []
        for note in notes:
            data = json.loads(note.document)
            refusal = Refusal(**{k: (int(v) if k == "suppressed" else str(v)) for k, v in data.items()
                                 if k in _FIELDS})
            if refusal.at >= since:
                found.append(refusal)
        return found[-limit:] if limit else found


def since_utc(moment: datetime | None) -> str:
    """A moment as the records store it (UTC, ISO 8601), for `list(since=...)`."""
    return "" if moment is None else moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
