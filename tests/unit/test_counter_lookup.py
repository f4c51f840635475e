"""What the window looks up for its counter, and reprints that must say why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from exchange.case import Case, CaseStatus
from exchange.errors import InvalidRequest
from exchange.lookup import AWAITING_PRINT, deadline_from_timeline, find_cases, statuses_from
from exchange.people import make_resident_id

CLERK = {"node": "340000", "department": "", "operator": "clerk-1"}
PASSED = {"verdict": "TOTAL_PASSED"}
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in China


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def submitted(number: str, *, id_number: str, agent_id: str = "") -> Case:
    return Case.submit(
        case_number=number, matter_code="KS35-043", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": id_number}, materials=[], checklist={}, actor=CLERK,
        agent={"name": "李四", "id_number": agent_id, "relationship": "授权代理"} if agent_id else None, at=at(0),
    )


def printed_once() -> Case:
    case = submitted("340000-20261102-00000001", id_number=make_resident_id("34010219900101001"))
    case.forward(actor=CLERK, at=at(0))
    case.receive_result(sha256="cd" * 32, object_key="k", actor=CLERK, at=at(1))
    case.record_verification(report=PASSED, actor=CLERK, at=at(1))
    case.print_result(copies=2, spool_ref="s1", report=PASSED, actor=CLERK, at=at(1))
    return case


def test_a_reprint_without_a_reason_is_refused_and_records_nothing() -> None:
    case = printed_once()
    case.collect_events()
    with pytest.raises(InvalidRequest, match="reprint_reason"):
        case.print_result(copies=1, spool_ref="s2", report=PASSED, actor=CLERK, at=at(2), reprint_reason="  ")
    assert case.collect_events() == []


def test_a_reprint_records_its_reason_and_the_clerk() -> None:
    case = printed_once()
    case.print_result(copies=1, spool_ref="s2", report=PASSED, actor=CLERK, at=at(2), reprint_reason="原件污损")
    assert case.prints[-1] == {"copies": 1, "spool_ref": "s2", "reprint_reason": "原件污损", "operator": "clerk-1",
                               "at": at(2)}
    assert case.collect_events()[-1].reprint_reason == "原件污损"


def test_a_first_print_does_not_take_a_reprint_reason() -> None:
    case = printed_once()
    fresh = submitted("340000-20261102-00000002", id_number=case.applicant["id_number"])
    with pytest.raises(InvalidRequest, match="first print"):
        fresh.check_reprint_reason("原件污损")


def test_cases_are_found_by_status_and_by_the_applicants_or_agents_id_number() -> None:
    applicant, agent = make_resident_id("34010219900101001"), make_resident_id("34010219800101002")
    waiting = printed_once()
    waiting.collect_events()
    other = submitted("340000-20261102-00000003", id_number=make_resident_id("34010219700101003"), agent_id=agent)
    cases = [waiting, other]
    assert find_cases(cases, statuses=frozenset(AWAITING_PRINT)) == []  # printed, no longer waiting
    assert find_cases(cases, statuses=statuses_from(["printed"])) == [waiting]
    assert find_cases(cases, applicant_id_number=applicant.lower()) == [waiting]
    assert find_cases(cases, applicant_id_number=agent) == [other]
    with pytest.raises(InvalidRequest, match="applicant_id_number"):
        find_cases(cases, applicant_id_number="12345")
    with pytest.raises(InvalidRequest, match="statuses"):
        statuses_from(["lost"])
    assert CaseStatus.VERIFIED in AWAITING_PRINT


def test_a_joint_result_issued_here_waits_for_printing_but_an_online_one_does_not() -> None:
    def issued(mode: str) -> Case:
        case = Case.submit_joint(
            case_number=f"340000-20261102-0000000{len(mode)}", matter_code="KS35-043", mode=mode,
            origin_province="340000", competent_province="340000", competent_department="market",
            applicant={"name": "王小明", "id_number": make_resident_id("34010219900101001")}, materials=[],
            checklist={}, actor=CLERK, at=at(0), partners=["330000"] if mode == "joint" else [])
        case.accept(actor=CLERK, time_limit_days=5, at=at(0))
        case.approve(actor=CLERK, at=at(1))
        case.issue_result(sha256="cd" * 32, object_key="k", verification_code="V", actor=CLERK, at=at(1))
        return case

    joint, online = issued("joint"), issued("online")
    assert find_cases([joint, online], only_awaiting_print=True) == [joint]


@dataclass
class Step:
    node: str
    event: str
    detail: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # equal versions keep the order given


def test_the_due_date_runs_from_acceptance_in_working_days_and_stops_during_a_supplement_request() -> None:
    accepted = Step("330000", "Accepted", {"time_limit_days": 3, "at": at(0)})
    assert deadline_from_timeline([accepted], competent_province="330000").due_at == T0 + timedelta(days=3)
    waiting = [accepted, Step("330000", "SupplementRequested", {"at": at(24)})]
    assert deadline_from_timeline(waiting, competent_province="330000").paused
    resumed = waiting + [Step("330000", "Supplemented", {"at": at(48)})]
    deadline = deadline_from_timeline(resumed, competent_province="330000")
    assert deadline.due_at == T0 + timedelta(days=4) and not deadline.paused


def test_the_window_copy_of_a_step_and_a_case_not_yet_accepted_do_not_start_the_clock() -> None:
    window_copy = Step("340000", "Accepted", {"time_limit_days": 3, "at": at(0)})
    assert deadline_from_timeline([window_copy], competent_province="330000").due_at is None
    decided = [Step("330000", "Accepted", {"time_limit_days": 3, "at": at(0)}), Step("330000", "Approved", {"at": at(5)})]
    assert deadline_from_timeline(decided, competent_province="330000").stopped
