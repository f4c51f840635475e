"""Every transition of the case lifecycle, and every illegal one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from exchange.case import Case, CaseStatus
from exchange.errors import IllegalTransition, InvalidRequest

S = CaseStatus
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
WINDOW = {"node": "340000", "department": "", "operator": "clerk-1"}
OFFICER = {"node": "330000", "department": "market", "operator": "officer-1"}
APPLICANT = {"node": "340000", "department": "", "operator": "applicant"}
FIELDS = dict(
    case_number="340000-20261102-00000001", matter_code="KS35-043", mode="proxy",
    origin_province="340000", competent_province="330000", competent_department="market",
    applicant={"name": "王小明", "id_number": "330106198503151234"},
    materials=[{"kind": "id_card", "file_name": "id.png", "media_type": "image/png", "size": 10, "sha256": "ab" * 32}],
    checklist={"id_card": True}, identity={"method": "id_card_reader", "verified": True},
)
PASSED = {"verdict": "TOTAL_PASSED", "reason": None}


def at(days: float = 0) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def submitted() -> Case:
    return Case.submit(**FIELDS, actor=WINDOW, at=at())


def received(mode: str = "proxy") -> Case:
    if mode == "joint":
        return Case.submit_joint(**{**FIELDS, "mode": mode, "origin_province": "330000"}, partners=["320000"], actor=OFFICER, at=at())
    return Case.receive(**{**FIELDS, "mode": mode}, actor=OFFICER, at=at())


# How to bring a case into each status, as one side or the other would.
STEPS: dict[CaseStatus, tuple[CaseStatus | None, Callable[[Case], None]]] = {
    S.FORWARDED: (S.SUBMITTED, lambda c: c.forward(actor=WINDOW, at=at())),
    S.RESULT_RECEIVED: (S.FORWARDED, lambda c: c.receive_result(sha256="cd" * 32, object_key="k", actor=WINDOW, at=at(2))),
    S.VERIFIED: (S.RESULT_RECEIVED, lambda c: c.record_verification(report=PASSED, actor=WINDOW, at=at(2))),
    S.PRINTED: (S.VERIFIED, lambda c: c.print_result(copies=1, spool_ref="s", report=PASSED, actor=WINDOW, at=at(2))),
    S.MAILED: (S.VERIFIED, lambda c: c.mail_result(carrier="EMS", tracking_number="1180000000001", address="合肥市", actor=WINDOW, at=at(2))),
    S.DELIVERED_ONLINE: (S.VERIFIED, lambda c: c.deliver_online(channel="皖事通", actor=WINDOW, at=at(2))),
    S.ACCEPTED: (S.RECEIVED, lambda c: c.accept(actor=OFFICER, time_limit_days=5, at=at())),
    S.SUPPLEMENT_REQUESTED: (S.ACCEPTED, lambda c: c.request_supplement(missing=["营业执照补领申请书"], note="未签字", actor=OFFICER, at=at(1))),
    S.APPROVED: (S.ACCEPTED, lambda c: c.approve(actor=OFFICER, at=at(1))),
    S.REJECTED: (S.ACCEPTED, lambda c: c.reject(legal_basis="《市场主体登记管理条例》第二十一条", reason="不符合条件", actor=OFFICER, at=at(1))),
    S.RETURNED: (S.RECEIVED, lambda c: c.return_case(reason="不属于本部门事权", actor=OFFICER, at=at(1))),
    S.WITHDRAWN: (S.RECEIVED, lambda c: c.withdraw(reason="不再需要", actor=APPLICANT, at=at(1))),
    S.RESULT_ISSUED: (S.APPROVED, lambda c: c.issue_result(sha256="cd" * 32, object_key="k", verification_code="V", actor=OFFICER, at=at(1))),
    S.RESULT_DELIVERED: (S.RESULT_ISSUED, lambda c: c.deliver_result(to_province="340000", actor=OFFICER, at=at(1))),
    S.CLOSED: (S.PRINTED, lambda c: (c.evaluate(rating="满意", comment="", actor=APPLICANT, at=at(3)),
                                      c.close(actor=WINDOW, at=at(3))) and None),
    S.SUBMITTED: (None, lambda c: None),
    S.RECEIVED: (None, lambda c: None),
}


def case_in(status: CaseStatus) -> Case:
    before, step = STEPS[status]
    if before is None:
        return submitted() if status is S.SUBMITTED else received()
    case = case_in(before)
    step(case)
    assert case.status is status
    return case


# Each action and the statuses it may start from.
ACTIONS: dict[str, tuple[Callable[[Case], None], set[CaseStatus]]] = {
    "forward": (STEPS[S.FORWARDED][1], {S.SUBMITTED}),
    "receive_result": (STEPS[S.RESULT_RECEIVED][1], {S.FORWARDED}),
    "verify": (STEPS[S.VERIFIED][1], {S.RESULT_RECEIVED, S.RESULT_ISSUED, S.VERIFIED}),
    "print": (lambda c: c.print_result(copies=1, spool_ref="s", report=PASSED, actor=WINDOW, at=at(2),
                                       reprint_reason="原件污损" if c.prints else ""), {S.VERIFIED, S.PRINTED}),
    "mail": (STEPS[S.MAILED][1], {S.VERIFIED, S.PRINTED}),
    "deliver_online": (STEPS[S.DELIVERED_ONLINE][1], {S.VERIFIED, S.RESULT_ISSUED}),
    "accept": (STEPS[S.ACCEPTED][1], {S.RECEIVED}),
    "request_supplement": (STEPS[S.SUPPLEMENT_REQUESTED][1], {S.RECEIVED, S.ACCEPTED, S.FORWARDED}),
    "supplement": (lambda c: c.supplement(materials=[{"kind": "application_form", "file_name": "f.pdf", "media_type": "application/pdf", "size": 3, "sha256": "ef" * 32}], actor=WINDOW, at=at(2)), {S.SUPPLEMENT_REQUESTED}),
    "approve": (STEPS[S.APPROVED][1], {S.ACCEPTED}),
    "reject": (STEPS[S.REJECTED][1], {S.ACCEPTED, S.FORWARDED}),
    "return": (STEPS[S.RETURNED][1], {S.RECEIVED, S.ACCEPTED, S.SUPPLEMENT_REQUESTED, S.FORWARDED}),
    "withdraw": (STEPS[S.WITHDRAWN][1], {S.SUBMITTED, S.FORWARDED, S.RECEIVED, S.SUPPLEMENT_REQUESTED, S.ACCEPTED}),
    "issue": (STEPS[S.RESULT_ISSUED][1], {S.APPROVED}),
    "deliver": (STEPS[S.RESULT_DELIVERED][1], {S.RESULT_ISSUED}),
    "evaluate": (lambda c: c.evaluate(rating="满意", comment="", actor=APPLICANT, at=at(3)), {S.PRINTED, S.MAILED, S.DELIVERED_ONLINE, S.REJECTED, S.RETURNED, S.WITHDRAWN}),
    "close": (lambda c: c.close(actor=WINDOW, at=at(3)), {S.PRINTED, S.MAILED, S.DELIVERED_ONLINE, S.REJECTED, S.RETURNED, S.WITHDRAWN, S.RESULT_DELIVERED}),
}
CASES = [(name, status, status in allowed) for name, (_, allowed) in ACTIONS.items() for status in CaseStatus]


@pytest.mark.parametrize(("action", "status", "legal"), CASES, ids=[f"{a}-from-{s.value}" for a, s, _ in CASES])
def test_each_action_is_legal_exactly_from_its_statuses_and_an_illegal_one_records_nothing(
    action: str, status: CaseStatus, legal: bool,
) -> None:
    case = case_in(status)
    case.collect_events()
    version = case.version
    do, _ = ACTIONS[action]
    if legal:
        do(case)
        events = case.collect_events()
        assert len(events) == 1 and events[0].actor and events[0].at  # who and when, always
    else:
        with pytest.raises(IllegalTransition, match=f"case {case.case_number} (is|was)"):
            do(case)
        assert case.collect_events() == [] and case.version == version and case.status is status


def test_the_whole_proxy_path_on_both_sides_records_who_when_and_why() -> None:
    window = case_in(S.CLOSED)
    names = [type(e).__name__ for e in window.collect_events()]
    assert names == ["Submitted", "Forwarded", "ResultReceived", "Verified", "Printed", "Evaluated", "Closed"]
    department = case_in(S.RESULT_DELIVERED)
    names = [type(e).__name__ for e in department.collect_events()]
    assert names == ["Received", "Accepted", "Approved", "ResultIssued", "ResultDelivered"]


def test_a_supplement_stops_the_clock_and_resumes_where_it_was() -> None:
    case = case_in(S.SUPPLEMENT_REQUESTED)  # accepted at day 0 with 5 days, 补正 asked at day 1
    assert case.is_paused() and case.supplements[-1]["missing"] == ["营业执照补领申请书"]
    ACTIONS["supplement"][0](case)  # supplied at day 2
    assert case.status is S.ACCEPTED and not case.is_paused()
    # Accepted Monday 09:00: five working days is next Monday, plus the day spent waiting.
    assert case.due_at() == T0 + timedelta(days=8)
    assert {m["kind"] for m in case.materials} == {"id_card", "application_form"}
    case.approve(actor=OFFICER, at=at(4))
    assert case.handling_seconds() == timedelta(days=3).total_seconds()


def test_a_supplement_before_acceptance_returns_to_received_and_starts_no_clock() -> None:
    case = received()
    case.request_supplement(missing=["身份证明"], note="", actor=OFFICER, at=at(0))
    ACTIONS["supplement"][0](case)
    assert case.status is S.RECEIVED and case.due_at() is None


def test_the_origin_window_mirrors_a_supplement_round_and_resumes_forwarded() -> None:
    case = case_in(S.FORWARDED)
    case.request_supplement(missing=["申请书"], note="", actor=WINDOW, at=at(1))
    ACTIONS["supplement"][0](case)
    assert case.status is S.FORWARDED and case.due_at() is None


def test_a_supplement_request_must_list_what_is_missing() -> None:
    with pytest.raises(InvalidRequest, match="missing"):
        received().request_supplement(missing=[" "], note="", actor=OFFICER, at=at())


def test_a_rejection_must_cite_its_legal_basis() -> None:
    case = case_in(S.ACCEPTED)
    with pytest.raises(InvalidRequest, match="legal_basis"):
        case.reject(legal_basis="", reason="不符合条件", actor=OFFICER, at=at())
    assert case.status is S.ACCEPTED


def test_a_mailed_result_needs_a_tracking_number() -> None:
    case = case_in(S.VERIFIED)
    with pytest.raises(InvalidRequest, match="tracking_number"):
        case.mail_result(carrier="EMS", tracking_number="", address="合肥市", actor=WINDOW, at=at())
    case.mail_result(carrier="EMS", tracking_number="1180000000001", address="合肥市", actor=WINDOW, at=at())
    assert case.delivery["tracking_number"] == "1180000000001"


def test_a_case_is_rated_once() -> None:
    case = case_in(S.PRINTED)
    case.evaluate(rating="满意", comment="", actor=APPLICANT, at=at(3))
    with pytest.raises(IllegalTransition, match="one rating per case"):
        case.evaluate(rating="不满意", comment="", actor=APPLICANT, at=at())
    with pytest.raises(InvalidRequest, match="rating"):
        case_in(S.PRINTED).evaluate(rating="5 stars", comment="", actor=APPLICANT, at=at())


def test_a_rating_after_the_first_print_leaves_a_reprint_and_a_mailing_possible() -> None:
    case = case_in(S.PRINTED)
    case.evaluate(rating="满意", comment="窗口很快", actor=APPLICANT, at=at(3))
    assert case.status is S.PRINTED and case.evaluation["rating"] == "满意"
    case.print_result(copies=1, spool_ref="s2", report=PASSED, actor=WINDOW, at=at(4), reprint_reason="原件污损")
    case.mail_result(carrier="EMS", tracking_number="1180000000001", address="合肥市", actor=WINDOW, at=at(4))
    assert case.status is S.MAILED and len(case.prints) == 2 and case.evaluation["rating"] == "满意"


def test_a_failed_verification_is_not_recorded_as_verified() -> None:
    case = case_in(S.RESULT_RECEIVED)
    with pytest.raises(IllegalTransition, match="passed verification"):
        case.record_verification(report={"verdict": "TOTAL_FAILED"}, actor=WINDOW, at=at())


def test_a_joint_case_is_approved_only_when_every_task_is_done() -> None:
    case = received(mode="joint")
    case.accept(actor=OFFICER, time_limit_days=15, at=at())
    case.assign_task(province="320000", department="public_security", task="迁出", actor=OFFICER, at=at())
    with pytest.raises(IllegalTransition, match="already has its part"):
        case.assign_task(province="320000", department="public_security", task="迁出", actor=OFFICER, at=at())
    with pytest.raises(IllegalTransition, match="no part for 310000"):
        case.assign_task(province="310000", department="public_security", task="迁出", actor=OFFICER, at=at())
    with pytest.raises(IllegalTransition, match="waits for its tasks at 320000"):
        case.approve(actor=OFFICER, at=at(1))
    case.complete_task(province="320000", outcome="completed", note="已迁出", actor=OFFICER, at=at(1))
    with pytest.raises(IllegalTransition, match="already completed"):
        case.complete_task(province="320000", outcome="completed", note="", actor=OFFICER, at=at(1))
    case.approve(actor=OFFICER, at=at(2))
    assert case.status is S.APPROVED


def test_only_a_joint_case_has_tasks_elsewhere() -> None:
    case = case_in(S.ACCEPTED)
    with pytest.raises(IllegalTransition, match="only a joint case"):
        case.assign_task(province="320000", department="hrss", task="转出", actor=OFFICER, at=at())


def test_a_partner_province_records_its_own_part_and_closes_it() -> None:
    part = Case.receive_task(**{**FIELDS, "mode": "joint", "origin_province": "330000", "competent_province": "320000",
                                "competent_department": "public_security"},
                             part={"coordinator": "330000", "task": "迁出"}, actor=OFFICER, at=at())
    with pytest.raises(IllegalTransition, match="must be accepted"):
        part.complete_part(outcome="已迁出", note="", actor=OFFICER, at=at())
    part.accept(actor=OFFICER, time_limit_days=15, at=at())
    part.complete_part(outcome="已迁出", note="户口已注销迁出", actor=OFFICER, at=at(1))
    assert part.status is S.CLOSED and part.handling_seconds() == 86400
    with pytest.raises(IllegalTransition, match="decided here"):
        case_in(S.ACCEPTED).complete_part(outcome="x", note="", actor=OFFICER, at=at())


def test_auditors_see_the_agent_of_a_代办_case_masked_like_the_applicant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from exchange.audit import timeline
    from exchange.ledger import CaseLedger
    from storage.eventstore import EventStoreSettings

    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    try:
        case = Case.submit(**FIELDS, agent={"name": "王大明", "id_number": "340102196001010019", "relationship": "父亲"},
                           actor=WINDOW, at=at())
        ledger.save(case)
        [entry] = timeline(ledger, case.case_number)
        assert entry.detail["agent"]["id_number"] == "3401**********0019"
        assert entry.detail["applicant"]["id_number"] == "3301**********1234"
        assert entry.detail["identity"] == {"method": "id_card_reader", "verified": True}
    finally:
        ledger.close()


def test_time_limits_count_working_days_in_china_time() -> None:
    from exchange.workdays import add_working_days

    friday_evening = datetime(2026, 11, 6, 10, 0, tzinfo=timezone.utc)  # 18:00 in Beijing
    assert add_working_days(friday_evening, 1) == friday_evening + timedelta(days=3)
    assert add_working_days(T0, 5) == T0 + timedelta(days=7)
    assert add_working_days(T0, 0) == T0


def test_cases_recorded_by_the_walking_skeleton_still_replay(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from exchange.ledger import CaseLedger
    from storage.eventstore import EventStoreSettings

    old = {k: v for k, v in FIELDS.items() if k != "identity"}  # the skeleton's fields, no `at`
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    try:
        case = Case.submit(**old, actor=WINDOW)
        case._forwarded(to_province="330000", actor=WINDOW, at="")
        for event in case.pending_events:  # strip what the skeleton's events did not have
            for name in ("identity", "agent", "at", "partners", "part"):
                if name in event.__dict__:
                    object.__delattr__(event, name)
        ledger.save(case)
        again = ledger.get_case(old["case_number"])
        assert again.status is S.FORWARDED and again.identity == {} and again.partners == [] and again.due_at() is None
    finally:
        ledger.close()


def test_the_competent_side_records_the_windows_identity_check_once_while_received() -> None:
    case = Case.receive(**{**FIELDS, "identity": {}}, actor=OFFICER, at=at())
    with pytest.raises(InvalidRequest, match="identity.verified"):
        case.record_identity(identity={"method": "face_match", "verified": False}, agent=None, actor=OFFICER, at=at())
    case.record_identity(identity={"method": "id_card_reader", "verified": True},
                         agent={"name": "王大明", "id_number": "340102196001010019", "relationship": "父亲"},
                         actor=OFFICER, at=at())
    assert case.agent["relationship"] == "父亲"
    with pytest.raises(IllegalTransition, match="already has its identity check"):
        case.record_identity(identity={"method": "id_card_reader", "verified": True}, agent=None, actor=OFFICER, at=at())
    with pytest.raises(IllegalTransition, match="to record the identity check of it must be received"):
        case_in(S.ACCEPTED).record_identity(identity={"method": "x", "verified": True}, agent=None, actor=OFFICER, at=at())
