"""办结时限 in working days: holidays, 调休, 补正 waits, and how 监测评估 counts them."""

from __future__ import annotations

from datetime import datetime, timedelta

from exchange.case import Case, CaseStatus
from exchange.lookup import deadline_from_timeline
from exchange.monitoring import monitor
from exchange.workdays import CHINA_TIME, STATE_COUNCIL, add_working_days, time_limit

OFFICER = {"node": "330000", "department": "market", "operator": "officer-1"}
WINDOW = {"node": "340000", "department": "", "operator": "clerk-1"}
PASSED = {"verdict": "TOTAL_PASSED", "reason": None}
FORM = {"kind": "application_form", "file_name": "f.pdf", "media_type": "application/pdf", "size": 1, "sha256": "ef" * 32}


def cst(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=CHINA_TIME)


def accepted(*, at: datetime, limit_days: int, n: int = 1) -> Case:
    case = Case.receive(
        case_number=f"340000-20261102-{n:08d}", matter_code="KS35-043", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=OFFICER, at=at.isoformat(),
    )
    case.accept(actor=OFFICER, time_limit_days=limit_days, at=at.isoformat())
    return case


def test_a_case_accepted_the_day_before_national_day_is_due_after_the_holiday() -> None:
    # 1-7 October 2026 are off; Saturday 10 October is worked (调休).
    due = add_working_days(cst("2026-09-30"), 5)
    assert due == cst("2026-10-13")
    assert STATE_COUNCIL.is_working_day(cst("2026-10-10").date())
    assert not STATE_COUNCIL.is_working_day(cst("2026-10-07").date())


def test_the_holiday_table_names_weekend_days_as_worked_days_only() -> None:
    assert all(day.weekday() >= 5 for day in STATE_COUNCIL.working_weekends)
    assert {day.year for day in STATE_COUNCIL.holidays} == set(STATE_COUNCIL.years)
    assert STATE_COUNCIL.covers(2026) and not STATE_COUNCIL.covers(2030)


def test_a_supplement_wait_from_friday_to_monday_costs_one_working_day_not_three() -> None:
    case = accepted(at=cst("2026-11-02"), limit_days=5)  # Monday; due Monday 9 November
    assert case.due_at() == cst("2026-11-09")
    case.request_supplement(missing=["申请书"], note="未签字", actor=OFFICER, at=cst("2026-11-06", 10).isoformat())
    case.supplement(materials=[FORM], actor=OFFICER, at=cst("2026-11-09", 10).isoformat())
    assert case.due_at() == cst("2026-11-10")


def test_a_short_weekday_wait_never_puts_the_due_date_on_a_weekend() -> None:
    case = accepted(at=cst("2026-11-02"), limit_days=4)  # due Friday 6 November 09:00
    case.request_supplement(missing=["申请书"], note="", actor=OFFICER, at=cst("2026-11-03").isoformat())
    case.supplement(materials=[FORM], actor=OFFICER, at=(cst("2026-11-03") + timedelta(hours=20)).isoformat())
    due = case.due_at()
    assert due is not None and due.astimezone(CHINA_TIME).weekday() < 5
    assert due == cst("2026-11-09", 5)  # Friday's remaining 15 hours, then 5 on Monday


def test_while_a_supplement_is_awaited_the_due_date_shown_is_the_one_the_wait_began_with() -> None:
    case = accepted(at=cst("2026-11-02"), limit_days=5)
    case.request_supplement(missing=["申请书"], note="", actor=OFFICER, at=cst("2026-11-04").isoformat())
    assert case.is_paused() and case.due_at() == cst("2026-11-09")


def test_a_case_late_before_its_supplement_request_stays_late() -> None:
    late = accepted(at=cst("2026-11-02"), limit_days=1)  # due Tuesday 09:00
    late.request_supplement(missing=["申请书"], note="", actor=OFFICER, at=cst("2026-11-05").isoformat())
    waiting = accepted(at=cst("2026-11-02"), limit_days=5, n=2)
    waiting.request_supplement(missing=["申请书"], note="", actor=OFFICER, at=cst("2026-11-03").isoformat())
    assert not late.is_paused() and waiting.is_paused()
    report = monitor([late, waiting], node="330000", now=cst("2026-11-20"))
    assert (report.totals["overdue"], report.totals["paused"]) == (1, 1)
    assert report.buckets[0].overdue_cases == (late.case_number,)


def test_due_soon_counts_working_days() -> None:
    case = accepted(at=cst("2026-11-02"), limit_days=5)  # due Monday 9 November 09:00
    friday = cst("2026-11-06", 10)
    assert monitor([case], node="330000", now=friday, due_within_days=1).totals["due_soon"] == 1
    assert monitor([case], node="330000", now=friday, due_within_days=0).totals["due_soon"] == 0


def test_a_result_back_at_the_window_is_open_until_the_applicant_has_it() -> None:
    case = Case.submit(
        case_number="340000-20261102-00000009", matter_code="KS35-043", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=WINDOW, at=cst("2026-11-02").isoformat(),
    )
    case.forward(actor=WINDOW, at=cst("2026-11-02").isoformat())
    case.receive_result(sha256="cd" * 32, object_key="k", actor=WINDOW, at=cst("2026-11-04").isoformat())
    assert monitor([case], node="340000", now=cst("2026-11-04")).totals["open"] == 1
    case.record_verification(report=PASSED, actor=WINDOW, at=cst("2026-11-04").isoformat())
    assert monitor([case], node="340000", now=cst("2026-11-04")).totals["open"] == 1
    case.print_result(copies=1, spool_ref="s", report=PASSED, actor=WINDOW, at=cst("2026-11-04").isoformat())
    assert case.status is CaseStatus.PRINTED
    assert monitor([case], node="340000", now=cst("2026-11-04")).totals["open"] == 0


class Step:
    def __init__(self, version: int, event: str, at: datetime, **detail: object) -> None:
        self.node, self.version, self.event = "330000", version, event
        self.detail = {"at": at.isoformat(), **detail}


def test_the_window_reads_the_same_due_date_from_the_competent_timeline() -> None:
    steps = [
        Step(1, "Received", cst("2026-11-02")),
        Step(2, "Accepted", cst("2026-11-02"), time_limit_days=5),
        Step(3, "SupplementRequested", cst("2026-11-06", 10)),
        Step(4, "Supplemented", cst("2026-11-09", 10)),
    ]
    deadline = deadline_from_timeline(steps, competent_province="330000")
    assert deadline.due_at == cst("2026-11-10") and not deadline.paused
    waiting = deadline_from_timeline(steps[:3], competent_province="330000")
    assert waiting.due_at == cst("2026-11-09") and waiting.paused


def test_a_wait_begun_before_acceptance_stops_no_clock() -> None:
    limit = time_limit(accepted_at=cst("2026-11-02"), limit_days=1,
                       pauses=[(cst("2026-10-30"), cst("2026-11-02"))])
    assert limit.due_at == cst("2026-11-03") and not limit.paused


def test_a_case_decided_in_time_whose_result_waits_at_its_own_window_is_open_not_late() -> None:
    case = accepted(at=cst("2026-11-02"), limit_days=5)  # due 9 November
    case.approve(actor=OFFICER, at=cst("2026-11-04").isoformat())
    case.issue_result(sha256="cd" * 32, object_key="k", verification_code="V", actor=OFFICER,
                      at=cst("2026-11-04").isoformat())
    report = monitor([case], node="330000", now=cst("2026-11-12"))
    assert (report.totals["open"], report.totals["overdue"]) == (1, 0)
    case.record_verification(report=PASSED, actor=OFFICER, at=cst("2026-11-10").isoformat())
    report = monitor([case], node="330000", now=cst("2026-11-12"))
    assert (report.totals["open"], report.totals["overdue"]) == (1, 0), "before: open and overdue at once"
    assert report.throughput[0].within_time_limit == 1


def test_a_year_without_its_notice_still_keeps_the_holidays_fixed_by_date() -> None:
    assert not STATE_COUNCIL.covers(2027)
    assert not STATE_COUNCIL.is_working_day(cst("2027-01-01").date())
    assert add_working_days(cst("2026-12-28"), 5) == cst("2027-01-05")


def test_a_time_limit_longer_than_any_matter_s_is_refused() -> None:
    import pytest

    from exchange.catalog import Matter
    from exchange.errors import InvalidRequest

    case = Case.receive(
        case_number="340000-20261102-00000077", matter_code="KS35-043", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=OFFICER, at=cst("2026-11-02").isoformat(),
    )
    with pytest.raises(InvalidRequest, match="time_limit_days"):
        case.accept(actor=OFFICER, time_limit_days=5000, at=cst("2026-11-02").isoformat())
    record = {"code": "X1", "name": "x", "lead_department": "market", "modes": ["proxy"], "required_materials": [],
              "time_limit_days": 5, "result_kind": "certificate", "time_limit_overrides": {"330000": 5000}}
    with pytest.raises(ValueError, match="outside 0..365"):
        Matter.from_record(record)


def test_the_window_reads_the_partner_s_steps_in_their_recorded_order_not_by_clock() -> None:
    steps = [
        Step(2, "Accepted", cst("2026-11-02"), time_limit_days=5),
        Step(4, "Supplemented", cst("2026-11-04", 9)),  # a replica whose clock ran behind
        Step(3, "SupplementRequested", cst("2026-11-04", 10)),
    ]
    deadline = deadline_from_timeline(steps, competent_province="330000")
    assert not deadline.paused, "before: read by clock time, the case looked paused for ever"


def test_a_partner_timeline_that_cannot_be_read_gives_no_due_date_rather_than_an_error() -> None:
    bad_limit = [Step(1, "Accepted", cst("2026-11-02"), time_limit_days=10**9)]
    assert deadline_from_timeline(bad_limit, competent_province="330000").due_at is None
    no_offset = [Step(1, "Accepted", cst("2026-11-02"), time_limit_days=5)]
    no_offset[0].detail["at"] = "2026-11-02T09:00:00"
    assert deadline_from_timeline(no_offset, competent_province="330000").due_at is None


def test_a_node_says_at_start_when_the_holiday_notice_its_due_dates_need_is_missing(caplog) -> None:  # type: ignore[no-untyped-def]
    from nodes.server import _warn_of_missing_holidays

    with caplog.at_level("WARNING", logger="tongban.node"):
        _warn_of_missing_holidays(cst("2026-12-05"))
    assert "no State Council holiday notice for 2027" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tongban.node"):
        _warn_of_missing_holidays(cst("2026-06-01"))
    assert caplog.text == ""
