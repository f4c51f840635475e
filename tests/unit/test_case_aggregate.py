from __future__ import annotations

import pytest
from eventsourcing.application import Application

from exchange.case import Case, CaseStatus, case_id
from exchange.errors import IllegalTransition
from exchange.ledger import CaseLedger

ACTOR = {"node": "330000", "department": "market", "operator": "officer-1"}
FIELDS = dict(
    case_number="340000-20261123-0A1B2C3D", matter_code="KS2020-044", mode="proxy",
    origin_province="340000", competent_province="330000", competent_department="market",
    applicant={"name": "王小明", "id_number": "330106198503151234"},
    materials=[{"kind": "id_card", "file_name": "id.png", "media_type": "image/png", "size": 10, "sha256": "ab" * 32}],
    checklist={"id_card": True},
)


def received() -> Case:
    return Case.receive(**FIELDS, actor=ACTOR)


def test_both_nodes_derive_the_same_case_id_from_the_case_number() -> None:
    assert Case.submit(**FIELDS, actor=ACTOR).id == received().id == case_id(FIELDS["case_number"])


def test_a_submitted_case_starts_at_the_window_and_a_received_one_at_the_department() -> None:
    assert Case.submit(**FIELDS, actor=ACTOR).status is CaseStatus.SUBMITTED
    assert received().status is CaseStatus.RECEIVED


def test_the_department_side_goes_from_received_to_delivered() -> None:
    case = received()
    case.accept(actor=ACTOR)
    case.approve(actor=ACTOR)
    case.issue_result(sha256="cd" * 32, object_key="sha256/cd/x", verification_code="ABC", actor=ACTOR)
    case.deliver_result(to_province="340000", actor=ACTOR)
    assert case.status is CaseStatus.RESULT_DELIVERED
    names = [type(e).__name__ for e in case.collect_events()]
    assert names == ["Received", "Accepted", "Approved", "ResultIssued", "ResultDelivered"]


def test_approving_a_case_that_was_not_accepted_is_an_illegal_transition() -> None:
    case = received()
    with pytest.raises(IllegalTransition, match="to approve it must be accepted"):
        case.approve(actor=ACTOR)
    assert [type(e).__name__ for e in case.collect_events()] == ["Received"]


def test_the_window_cannot_print_before_a_result_arrived() -> None:
    case = Case.submit(**FIELDS, actor=ACTOR)
    case.forward(actor=ACTOR)
    with pytest.raises(IllegalTransition):
        case.print_result(copies=1, spool_ref="x", report={}, actor=ACTOR)


def test_events_carry_hashes_and_keys_never_file_bytes() -> None:
    case = received()
    for event in case.collect_events():
        assert not any(isinstance(v, bytes | bytearray) for v in vars(event).values())


def test_a_saved_case_replays_to_the_same_state(tmp_path) -> None:
    ledger = CaseLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.db")})
    case = received()
    case.accept(actor=ACTOR)
    ledger.save(case)
    again = CaseLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.db")})
    copy = again.get_case(FIELDS["case_number"])
    assert (copy.status, copy.version, copy.applicant) == (CaseStatus.ACCEPTED, 2, FIELDS["applicant"])
    assert isinstance(again, Application)
