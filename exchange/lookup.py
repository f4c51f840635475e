"""What a window looks up for the people at its counter: the cases waiting for their result to
be printed, an applicant's cases, and when a case is due as the competent province counts it.

The window's own record of a forwarded case has no clock (the competent department accepts it,
so the clock runs there); the due date is read from the competent node's side of the timeline."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from exchange.case import CaseStatus, parse_at
from exchange.errors import InvalidRequest
from exchange.people import check_resident_id
from exchange.workdays import MAX_LIMIT_DAYS, time_limit

# Results that came back and are not yet in the applicant's hands on paper.
AWAITING_PRINT = (CaseStatus.RESULT_RECEIVED, CaseStatus.VERIFIED)
_STOPPING = {"Approved", "Rejected", "Returned", "Withdrawn", "PartCompleted"}
MAX_LISTED = 200


def statuses_from(names: Iterable[str]) -> frozenset[CaseStatus]:
    known = {s.value: s for s in CaseStatus}
    wanted = set()
    for name in names:
        if name not in known:
            raise InvalidRequest("statuses", f"unknown status {name!r}; use one of {', '.join(known)}")
        wanted.add(known[name])
    return frozenset(wanted)


class Listed(Protocol):
    """What the case list filters and sorts on: a Case, or its summary in the case index."""

    @property
    def status(self) -> CaseStatus: ...

    @property
    def mode(self) -> str: ...

    @property
    def modified_on(self) -> datetime: ...

    @property
    def applicant(self) -> Mapping[str, Any]: ...

    @property
    def agent(self) -> Mapping[str, Any] | None: ...


L = TypeVar("L", bound=Listed)


def awaiting_print(case: Listed) -> bool:
    """A result at this window not yet printed: one that came back from the competent province,
    or one this province issued itself for a 多地联办 case it took in (全程网办 results go online)."""
    return case.status in AWAITING_PRINT or (case.status is CaseStatus.RESULT_ISSUED and case.mode == "joint")


def find_cases(
    cases: Iterable[L], *, statuses: frozenset[CaseStatus] = frozenset(), applicant_id_number: str = "",
    only_awaiting_print: bool = False, limit: int = 50,
) -> list[L]:
    """The cases matching every filter given, most recently changed first."""
    if not 1 <= limit <= MAX_LISTED:
        raise InvalidRequest("limit", f"ask for 1 to {MAX_LISTED} cases")
    person = check_resident_id(applicant_id_number, field="applicant_id_number") if applicant_id_number else ""
    found = [c for c in cases if (not statuses or c.status in statuses) and (not person or _concerns(c, person))
             and (not only_awaiting_print or awaiting_print(c))]
    found.sort(key=lambda c: c.modified_on, reverse=True)
    return found[:limit]


def _concerns(case: Listed, id_number: str) -> bool:
    people = [case.applicant, case.agent or {}]
    return any((p.get("id_number") or "").upper() == id_number for p in people)


class TimelineStep(Protocol):
    node: str
    version: int
    event: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Deadline:
    """办结时限 as the competent province counts it (exchange.workdays): working days from
    acceptance, the clock stopped while 补正 is awaited."""

    due_at: datetime | None = None
    paused: bool = False
    stopped: bool = False


def deadline_from_timeline(steps: Sequence[TimelineStep], *, competent_province: str) -> Deadline:
    """The partner's side is read in its own order (versions, not clock times, which replicas'
    clocks may disorder); a side whose times or limit cannot be read gives no due date, not an
    error for the clerk who asked."""
    try:
        return _deadline(sorted(_at(steps, competent_province), key=lambda s: s.version))
    except (InvalidRequest, ValueError, OverflowError):
        return Deadline()


def _deadline(steps: Sequence[TimelineStep]) -> Deadline:
    accepted_at, limit = None, 0
    pauses: list[tuple[datetime, datetime | None]] = []
    stopped = False
    for step in steps:
        at = _moment(step.detail)
        if stopped or at is None:
            stopped = stopped or step.event in _STOPPING
            continue
        if step.event == "Accepted":
            accepted_at, limit = at, int(step.detail.get("time_limit_days") or 0)
            if not 0 <= limit <= MAX_LIMIT_DAYS:
                raise ValueError(f"time limit of {limit} days")
        elif step.event == "SupplementRequested" and accepted_at is not None:
            pauses.append((at, None))
        elif step.event == "Supplemented" and pauses and pauses[-1][1] is None:
            pauses[-1] = (pauses[-1][0], at)
        if step.event in _STOPPING:
            stopped = True
            if pauses and pauses[-1][1] is None:
                pauses[-1] = (pauses[-1][0], at)  # a decision or withdrawal ends the wait
    if accepted_at is None:
        return Deadline(stopped=stopped)
    limit_now = time_limit(accepted_at=accepted_at, limit_days=limit, pauses=pauses)
    return Deadline(due_at=limit_now.due_at, paused=limit_now.paused and not stopped, stopped=stopped)


def _at(steps: Sequence[TimelineStep], province: str) -> Iterator[TimelineStep]:
    return (s for s in steps if s.node == province)


def _moment(detail: Mapping[str, Any]) -> datetime | None:
    at = detail.get("at")
    return parse_at(str(at)) if at else None
