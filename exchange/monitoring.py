"""监测评估: what a node owes and how fast it decides, by matter and partner province.

Works on the cases a node recorded itself; it never asks a partner. A case counts where it is
decided (its due date runs from acceptance, paused during 补正) and, at the window that took it
in, as open until the applicant has an answer.

A report reads each case as a MonitoredCase: the few figures it counts, all fixed by what the
case recorded (none depends on the time of asking), so the node's case index can keep them
between calls instead of every call replaying every case."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from exchange.case import OPEN, Case, CaseStatus
from exchange.errors import InvalidRequest
from exchange.workdays import add_working_days


@dataclass(frozen=True)
class Bucket:
    """Open cases of one matter with one partner province."""

    matter_code: str
    partner_province: str  # the other side; the node's own code for 全程网办 cases
    open: int = 0
    overdue: int = 0
    due_soon: int = 0  # due within the asked number of working days, not yet overdue
    paused: int = 0  # waiting for 补正: the clock is stopped
    overdue_cases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Throughput:
    """Cases of one matter decided in the period, and how long they took after acceptance
    (补正 waits not counted)."""

    matter_code: str
    decided: int
    approved: int
    rejected_or_returned: int
    median_handling_hours: float | None
    within_time_limit: int


@dataclass(frozen=True)
class Report:
    node: str
    at: datetime
    due_within_days: int
    buckets: tuple[Bucket, ...] = ()
    throughput: tuple[Throughput, ...] = ()
    totals: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MonitoredCase:
    """A case as 监测评估 counts it."""

    case_number: str
    matter_code: str
    origin_province: str
    competent_province: str
    status: CaseStatus
    due_at: datetime | None  # None until accepted
    paused: bool  # waiting for 补正 with time left (a case late before it is counted late)
    stopped_at: datetime | None  # when the decision (or the withdrawal) stopped the clock
    outcome: str | None  # approved, rejected, returned, withdrawn; None before a decision
    handling_seconds: float | None

    @classmethod
    def of(cls, case: Case) -> MonitoredCase:
        stopped_at = case.clock.get("stopped_at") if case.clock else None
        limit = case.time_limit()
        return cls(
            case_number=case.case_number, matter_code=case.matter_code, origin_province=case.origin_province,
            competent_province=case.competent_province, status=case.status, due_at=limit.due_at if limit else None,
            paused=bool(limit and limit.paused),
            stopped_at=datetime.fromisoformat(stopped_at) if stopped_at else None,
            outcome=case.decision["outcome"] if case.decision else None, handling_seconds=case.handling_seconds(),
        )


def partner_of(case: Case | MonitoredCase, node: str) -> str:
    if case.competent_province == node:
        return case.origin_province
    return case.competent_province


def monitor(
    cases: Iterable[Case | MonitoredCase],
    *,
    node: str,
    now: datetime,
    due_within_days: int = 3,
    since: datetime | None = None,
    matter_code: str = "",
    partner_province: str = "",
) -> Report:
    if due_within_days < 0:
        raise InvalidRequest("due_within_days", "give zero or more days")
    soon = add_working_days(now, due_within_days)
    open_: dict[tuple[str, str], dict[str, list[str] | int]] = {}
    decided: dict[str, list[MonitoredCase]] = {}
    for given in cases:
        case = given if isinstance(given, MonitoredCase) else MonitoredCase.of(given)
        partner = partner_of(case, node)
        if (matter_code and case.matter_code != matter_code) or (partner_province and partner != partner_province):
            continue
        if case.status in OPEN:
            row = open_.setdefault((case.matter_code, partner), {"open": 0, "overdue": [], "due_soon": 0, "paused": 0})
            row["open"] += 1  # type: ignore[operator]
            # A case decided here whose result waits at this node's own window is open, not late.
            due = case.due_at if case.stopped_at is None else None
            if case.paused:
                row["paused"] += 1  # type: ignore[operator]
            elif due is not None and due < now:
                row["overdue"].append(case.case_number)  # type: ignore[union-attr]
            elif due is not None and due <= soon:
                row["due_soon"] += 1  # type: ignore[operator]
        stopped = case.stopped_at
        # A withdrawal stops the clock too, but nothing was decided.
        if stopped is not None and case.outcome not in (None, "withdrawn") and (since is None or stopped >= since):
            decided.setdefault(case.matter_code, []).append(case)
    buckets = tuple(
        Bucket(matter_code=m, partner_province=p, open=int(r["open"]), overdue=len(r["overdue"]),  # type: ignore[arg-type]
               due_soon=int(r["due_soon"]), paused=int(r["paused"]),  # type: ignore[arg-type]
               overdue_cases=tuple(sorted(r["overdue"])))  # type: ignore[arg-type]
        for (m, p), r in sorted(open_.items())
    )
    throughput = tuple(_throughput(m, cs) for m, cs in sorted(decided.items()))
    totals = {
        "open": sum(b.open for b in buckets), "overdue": sum(b.overdue for b in buckets),
        "due_soon": sum(b.due_soon for b in buckets), "paused": sum(b.paused for b in buckets),
        "decided": sum(t.decided for t in throughput),
    }
    return Report(node=node, at=now, due_within_days=due_within_days, buckets=buckets,
                  throughput=throughput, totals=totals)


def _throughput(matter_code: str, cases: list[MonitoredCase]) -> Throughput:
    hours = [c.handling_seconds / 3600 for c in cases if c.handling_seconds is not None]
    within = sum(1 for c in cases if c.due_at is not None and c.stopped_at is not None and c.stopped_at <= c.due_at)
    approved = sum(1 for c in cases if c.outcome == "approved")
    return Throughput(
        matter_code=matter_code, decided=len(cases), approved=approved,
        rejected_or_returned=len(cases) - approved,
        median_handling_hours=round(statistics.median(hours), 2) if hours else None,
        within_time_limit=within,
    )
