"""监测评估 over the case index's records (MonitoredCase) gives the report that replaying the
cases gives: every figure it counts is fixed by what the case recorded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from exchange.case import Case
from exchange.monitoring import MonitoredCase, monitor

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in China
HERE = "330000"
OFFICER = {"node": HERE, "department": "market", "operator": "officer-1"}
CLERK = {"node": HERE, "department": "", "operator": "clerk-1"}
FORM = {"kind": "application_form", "file_name": "f.pdf", "media_type": "application/pdf", "size": 1,
        "sha256": "ef" * 32}


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def received(n: int, *, matter: str = "KS35-043", origin: str = "340000") -> Case:
    return Case.receive(
        case_number=f"{origin}-20261102-{n:08d}", matter_code=matter, mode="proxy", origin_province=origin,
        competent_province=HERE, competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=OFFICER, at=at(0),
    )


def accepted(n: int, *, limit_days: int, matter: str = "KS35-043", origin: str = "340000") -> Case:
    case = received(n, matter=matter, origin=origin)
    case.accept(actor=OFFICER, time_limit_days=limit_days, at=at(0))
    return case


def taken_in_here_for_anhui(n: int) -> Case:
    case = Case.submit(
        case_number=f"{HERE}-20261102-{n:08d}", matter_code="KS35-043", mode="proxy", origin_province=HERE,
        competent_province="340000", competent_department="market",
        applicant={"name": "李小红", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=CLERK, at=at(0),
    )
    case.forward(actor=CLERK, at=at(0))
    return case


def a_mix_of_cases() -> list[Case]:
    open_far_off = accepted(1, limit_days=10)
    paused = accepted(2, limit_days=3)
    paused.request_supplement(missing=["申请书"], note="未签字", actor=OFFICER, at=at(1))
    overdue = accepted(3, limit_days=1)
    due_soon = accepted(4, limit_days=3, origin="320000")
    supplemented = accepted(5, limit_days=3)
    supplemented.request_supplement(missing=["申请书"], note="", actor=OFFICER, at=at(0.5))
    supplemented.supplement(materials=[FORM], actor=OFFICER, at=at(1.5))
    not_yet_accepted = received(6)
    approved_in_time = accepted(7, limit_days=3)
    approved_in_time.approve(actor=OFFICER, at=at(1))
    approved_late = accepted(8, limit_days=1, origin="320000")
    approved_late.approve(actor=OFFICER, at=at(2))
    rejected = accepted(9, limit_days=3)
    rejected.reject(legal_basis="《条例》第二十一条", reason="不符合条件", actor=OFFICER, at=at(0.5))
    returned = received(10)
    returned.return_case(reason="非本部门事权", actor=OFFICER, at=at(0.25))
    withdrawn = accepted(11, limit_days=3)
    withdrawn.withdraw(reason="不再需要", actor=OFFICER, at=at(1))
    other_matter = accepted(12, limit_days=5, matter="KS35-013")
    other_matter.approve(actor=OFFICER, at=at(2))
    return [open_far_off, paused, overdue, due_soon, supplemented, not_yet_accepted, approved_in_time,
            approved_late, rejected, returned, withdrawn, other_matter, taken_in_here_for_anhui(13)]


ASKED = [
    {"now": T0 + timedelta(days=2, hours=12)},
    {"now": T0 + timedelta(days=2, hours=12), "due_within_days": 1},
    {"now": T0 + timedelta(days=6), "due_within_days": 0},
    {"now": T0 + timedelta(days=2, hours=12), "since": T0 + timedelta(days=0.75)},
    {"now": T0 + timedelta(days=2, hours=12), "matter_code": "KS35-043"},
    {"now": T0 + timedelta(days=2, hours=12), "partner_province": "320000"},
]


@pytest.mark.parametrize("asked", ASKED, ids=lambda a: ",".join(sorted(a)))
def test_the_report_from_monitored_cases_equals_the_report_from_the_cases(asked: dict[str, Any]) -> None:
    cases = a_mix_of_cases()
    from_cases = monitor(cases, node=HERE, **asked)
    # The index hands its records back in no particular order.
    from_records = monitor(reversed([MonitoredCase.of(c) for c in cases]), node=HERE, **asked)
    assert from_records == from_cases


def test_the_mix_counts_in_every_figure_of_the_report() -> None:
    report = monitor([MonitoredCase.of(c) for c in a_mix_of_cases()], node=HERE,
                     now=T0 + timedelta(days=2, hours=12), due_within_days=1)
    assert report.totals == {"open": 7, "overdue": 1, "due_soon": 1, "paused": 1, "decided": 4}
    rows = {(b.matter_code, b.partner_province): b for b in report.buckets}
    assert rows[("KS35-043", "340000")].overdue_cases == ("340000-20261102-00000003",)
    assert rows[("KS35-043", "320000")].due_soon == 1
    [ks35_013, ks35_043] = report.throughput
    assert (ks35_043.decided, ks35_043.approved, ks35_043.rejected_or_returned, ks35_043.within_time_limit) == \
        (3, 2, 1, 2)  # the withdrawal and the return before acceptance are no decisions here
    assert ks35_043.median_handling_hours == 24.0  # of 12, 24, 48 hours
    assert (ks35_013.decided, ks35_013.within_time_limit) == (1, 1)
