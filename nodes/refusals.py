"""Every call a node refuses for who the caller is (UNAUTHENTICATED, PERMISSION_DENIED) or how
often it calls (RESOURCE_EXHAUSTED) is recorded in the node's append-only notes table, next to
its event log: who (province, role, operator and fingerprint from the certificate), which RPC,
the code, the reason, when, and the case number if the request named a well-formed one.
Never request contents, so never personal data. `tongban audit refusals` lists them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

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

    @classmethod
    def now(cls, *, method: str, code: str, reason: str, case_number: str = "", **who: str) -> Refusal:
        return cls(at=utc_now().isoformat(timespec="milliseconds"), method=method, code=code,
                   reason=reason[:MAX_REASON], case_number=case_number if CASE_NUMBER.fullmatch(case_number) else "",
                   **who)

    def render(self) -> str:
        who = "/".join(p for p in (self.province or "?", self.role or "?", self.operator or self.common_name) if p)
        case = f" case={self.case_number}" if self.case_number else ""
        return f"{self.at} {self.code:<18} {self.method} caller={who}{case} peer={self.peer}: {self.reason}"


_FIELDS = {f.name for f in fields(Refusal)}


class RefusalLog:
    """Appends refusals to the notes table of the node's log store and reads them back."""

    def __init__(self, *, open_store: Callable[[], LogStore]) -> None:
        self.open_store = open_store

    def record(self, refusal: Refusal) -> None:
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
            refusal = Refusal(**{k: str(v) for k, v in data.items() if k in _FIELDS})
            if refusal.at >= since:
                found.append(refusal)
        return found[-limit:] if limit else found
