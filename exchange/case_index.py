"""What a window's case list filters and sorts on, and what 监测评估 counts, for every case of
the node, kept up to date from the notification log: each look reads only the events recorded
since the one before (the whole log once, at the first). Listing and monitoring used to replay
every case at every call, 0.37 s per 1 000 cases; the index keeps a call's cost to what changed
since, plus a scan of small records. Every replica keeps its own and catches up from the shared
log, so what any replica saved is listed and counted by all of them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from exchange.case import Case, CaseStatus
from exchange.monitoring import MonitoredCase

log = logging.getLogger("tongban.case_index")


class CaseLog(Protocol):
    """The ledger as the index reads it (exchange.ledger.CaseLedger)."""

    def case_changes(self, *, after: int) -> Iterator[tuple[int, UUID | None]]: ...

    def case_by_id(self, originator_id: UUID) -> Case | None: ...


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A case as the list needs it; the same attribute names as Case, so one filter serves both."""

    case_number: str
    origin_province: str
    status: CaseStatus
    mode: str
    modified_on: datetime
    applicant: Mapping[str, Any]
    agent: Mapping[str, Any] | None

    @classmethod
    def of(cls, case: Case) -> CaseSummary:
        return cls(case_number=case.case_number, origin_province=case.origin_province, status=case.status,
                   mode=case.mode, modified_on=case.modified_on,
                   applicant={"id_number": (case.applicant or {}).get("id_number", "")},
                   agent={"id_number": case.agent.get("id_number", "")} if case.agent else None)


class CaseIndex:
    def __init__(self, log: CaseLog) -> None:
        self._log = log
        self._position = 0  # the last notification read
        self._cases: dict[UUID, tuple[CaseSummary, MonitoredCase]] = {}
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """Cases the index holds, as of its last look (this does not look)."""
        return len(self._cases)

    def catch_up(self) -> int:
        """Read what changed since the last look; returns the cases held. A node does this
        once at start, so a clerk's first look does not wait for the whole log."""
        with self._lock:
            self._catch_up()
            return len(self._cases)

    def summaries(self) -> list[CaseSummary]:
        """Every case as the list needs it, as of now."""
        with self._lock:
            self._catch_up()
            return [summary for summary, _ in self._cases.values()]

    def monitored(self) -> list[MonitoredCase]:
        """Every case as 监测评估 counts it, as of now."""
        with self._lock:
            self._catch_up()
            return [monitored for _, monitored in self._cases.values()]

    def _catch_up(self) -> None:
        read_to = self._position
        changed: set[UUID] = set()
        for read_to, originator_id in self._log.case_changes(after=self._position):
            if originator_id is not None:
                changed.add(originator_id)
        for originator_id in changed:
            case = self._log.case_by_id(originator_id)
            if case is None:
                self._cases.pop(originator_id, None)
                continue
            try:
                self._cases[originator_id] = (CaseSummary.of(case), MonitoredCase.of(case))
            except (ValueError, OverflowError) as exc:
                # One case whose figures cannot be worked out (a clock stamped in year 9999) must
                # not keep every other case from the list and the monitor.
                self._cases.pop(originator_id, None)
                log.error("case %s left out of the case list and monitoring: %s", case.case_number, exc)
        # Only once every changed case is read back: a look that fails part way (the store
        # unreachable) leaves the position where it was, so the next look reads those cases again.
        self._position = read_to
