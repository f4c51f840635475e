"""The desks keep a case whole when a partner node cannot be reached (what it must hear of waits
in the outbox), and take repeated notices once. A real SQLite ledger, outbox and local folder
store; the partner nodes are fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from exchange.case import Case, CaseStatus
from exchange.context import NodeContext
from exchange.courier import Courier, RetryPolicy
from exchange.department import DepartmentDesk
from exchange.errors import PeerRefused, PeerUnavailable
from exchange.outbox import FORWARD_CASE, new_message
from exchange.ledger import CaseLedger
from exchange.window import WindowDesk
from nodes.wiring import load_catalog
from storage.eventstore import EventStoreSettings
from storage.local import LocalFolderStore
from storage.outbox import outbox_of

OFFICER = {"node": "330000", "department": "", "operator": "officer-z"}
DEPARTMENTS = {"public_security": "公安厅", "market": "市场监督管理局"}
PROVINCES = {code: {"name": code, "departments": DEPARTMENTS} for code in ("330000", "340000", "320000")}


class FakeCoordination:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.down: set[str] = set()
        self.unknown_cases: set[str] = set()

    def _record(self, province: str, what: str) -> None:
        if province in self.down:
            raise PeerUnavailable(f"{province} is down")
        self.calls.append((province, what))

    def assign_task(self, province: str, *, envelope: Any, department: str, task: str, message_id: str = "") -> bool:
        self._record(province, "assign")
        return False

    def report_task(self, province: str, *, case_number: str, outcome: str, note: str, message_id: str = "") -> bool:
        self._record(province, "report")
        return False

    def notify_progress(self, province: str, *, case_number: str, step: str, detail: Any, message_id: str = "") -> bool:
        if case_number in self.unknown_cases:
            raise PeerRefused(f"{province} has no case {case_number}", code="NOT_FOUND")
        self._record(province, step)
        return False


class FakePeers:
    def __init__(self) -> None:
        self.forwarded: list[str] = []
        self.down: set[str] = set()

    def push_material(self, province: str, **_: Any) -> None:
        if province in self.down:
            raise PeerUnavailable(f"{province} is down")

    def forward_case(self, province: str, *, envelope: Any, message_id: str = "", carried: Any = None) -> bool:
        if province in self.down:
            raise PeerUnavailable(f"{province} is down")
        self.forwarded.append(envelope["case_number"])
        return False


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[NodeContext]:
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    context = NodeContext(
        province_code="330000", provinces=PROVINCES, ledger=ledger, catalog=load_catalog(),
        store=LocalFolderStore(tmp_path / "objects"), peers=None,  # type: ignore[arg-type]
        coordination=FakeCoordination(), now=lambda: datetime(2026, 11, 2, 1, tzinfo=timezone.utc),
        outbox=outbox_of(ledger.recorder),
    )
    context.courier = Courier(context, policy=RetryPolicy(base_seconds=0.0))  # retry at once when asked
    yield context
    ledger.close()


def received(ctx: NodeContext, *, mode: str = "proxy", partners: list[str] | None = None) -> Case:
    fields: dict[str, Any] = dict(
        case_number="340000-20261102-00000001", matter_code="KS35-061", mode=mode, origin_province="340000",
        competent_province="330000", competent_department="public_security",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=OFFICER, at=ctx.stamp(),
    )
    if mode == "joint":
        fields.update(origin_province="330000", case_number="330000-20261102-00000001")
        case = Case.submit_joint(**fields, partners=partners or [])
    else:
        case = Case.receive(**fields)
    ctx.save(case)
    return case


def drain(ctx: NodeContext) -> None:
    """What the node's relay does in the background: send whatever is due."""
    for message in ctx.outbox.claim(owner="test", lease_seconds=30):  # type: ignore[union-attr]
        ctx.courier.attempt(message)


def test_a_supplement_request_the_window_cannot_hear_of_is_recorded_and_its_notice_waits(ctx: NodeContext) -> None:
    case = received(ctx)
    desk = DepartmentDesk(ctx)
    desk.accept(case.case_number, actor=OFFICER)
    ctx.coordination.down.add("340000")  # type: ignore[union-attr]
    assert desk.request_supplement(case.case_number, missing=["户口簿"], note="", actor=OFFICER).status \
        is CaseStatus.SUPPLEMENT_REQUESTED
    [waiting] = ctx.outbox.backlog()  # type: ignore[union-attr]
    assert (waiting.peer, waiting.pending, waiting.oldest_case_number) == ("340000", 1, case.case_number)
    assert "340000 is down" in waiting.last_error
    ctx.coordination.down.clear()  # type: ignore[union-attr]
    drain(ctx)
    assert ctx.coordination.calls[-1] == ("340000", "supplement_requested")  # type: ignore[union-attr]
    assert ctx.outbox.backlog() == []  # type: ignore[union-attr]


def test_a_joint_acceptance_is_saved_at_once_and_a_partner_down_gets_its_task_later(ctx: NodeContext) -> None:
    case = received(ctx, mode="joint", partners=["320000", "340000"])
    desk = DepartmentDesk(ctx)
    ctx.coordination.down.add("340000")  # type: ignore[union-attr]
    accepted = desk.accept(case.case_number, actor=OFFICER)
    assert set(accepted.tasks) == {"320000", "340000"} and accepted.due_at() is not None
    assert ctx.coordination.calls == [("320000", "assign")]  # type: ignore[union-attr]
    ctx.coordination.down.clear()  # type: ignore[union-attr]
    drain(ctx)
    assert ctx.coordination.calls == [("320000", "assign"), ("340000", "assign")]  # type: ignore[union-attr]


def test_a_repeated_message_id_is_applied_once(ctx: NodeContext) -> None:
    case = received(ctx)
    desk = DepartmentDesk(ctx)
    for _ in range(2):
        desk.record_applicant_step(case_number=case.case_number, from_province="340000", step="withdrawn",
                                   detail={"reason": "申请人撤回"}, actor=OFFICER, message_id="m-1")
    assert ctx.already_applied("m-1", case_number=case.case_number) and ctx.ledger.get_case(case.case_number).version == 2


def test_a_repeated_progress_notice_is_recorded_once(ctx: NodeContext) -> None:
    case = Case.submit(
        case_number="330000-20261102-00000009", matter_code="KS35-043", mode="proxy", origin_province="330000",
        competent_province="340000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=OFFICER, at=ctx.stamp(),
    )
    case.forward(actor=OFFICER, at=ctx.stamp())
    ctx.save(case)
    window = WindowDesk(ctx)
    for _ in range(2):
        seen = window.record_progress(case_number=case.case_number, from_province="340000", step="rejected",
                                      detail={"legal_basis": "第二十一条", "reason": "不符合条件"}, actor=OFFICER)
    assert seen.status is CaseStatus.REJECTED and seen.version == 3


def test_a_joint_rejection_calls_off_the_partners_parts(ctx: NodeContext) -> None:
    case = received(ctx, mode="joint", partners=["320000", "340000"])
    desk = DepartmentDesk(ctx)
    desk.accept(case.case_number, actor=OFFICER)
    ctx.coordination.calls.clear()  # type: ignore[union-attr]
    rejected = desk.reject(case.case_number, legal_basis="《户口登记条例》第十条", reason="不符合迁入条件", actor=OFFICER)
    assert rejected.status is CaseStatus.REJECTED
    assert ctx.coordination.calls == [("320000", "withdrawn"), ("340000", "withdrawn")]  # type: ignore[union-attr]


def test_a_partner_takes_a_withdrawal_from_the_accepting_province(ctx: NodeContext) -> None:
    part = Case.receive_task(
        case_number="320000-20261102-00000001", matter_code="KS35-061", mode="joint", origin_province="320000",
        competent_province="330000", competent_department="public_security",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        part={"coordinator": "320000", "task": "迁出地办理迁出"}, actor=OFFICER, at=ctx.stamp(),
    )
    ctx.save(part)
    desk = DepartmentDesk(ctx)
    for _ in range(2):
        done = desk.record_applicant_step(case_number=part.case_number, from_province="320000", step="withdrawn",
                                          detail={"reason": "申请人撤回"}, actor=OFFICER)
    assert done.status is CaseStatus.WITHDRAWN and done.version == 2


def test_a_case_withdrawn_before_its_forward_left_is_never_forwarded(ctx: NodeContext) -> None:
    ctx.peers = peers = FakePeers()  # type: ignore[assignment]
    peers.down.add("340000")
    case = Case.submit(
        case_number="330000-20261102-00000007", matter_code="KS35-043", mode="proxy", origin_province="330000",
        competent_province="340000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=OFFICER, at=ctx.stamp(),
    )
    forward = new_message(peer="340000", kind=FORWARD_CASE, case_number=case.case_number,
                          payload={"actor": OFFICER}, at=ctx.stamp())
    ctx.save(case, outbox=[forward])
    ctx.send_now([forward])
    assert ctx.ledger.get_case(case.case_number).status is CaseStatus.SUBMITTED  # waiting in the outbox
    ctx.coordination.unknown_cases.add(case.case_number)  # type: ignore[union-attr]  # it never arrived there
    assert WindowDesk(ctx).withdraw(case.case_number, reason="不办了", actor=OFFICER).status is CaseStatus.WITHDRAWN
    peers.down.clear()
    drain(ctx)
    assert peers.forwarded == [] and ctx.outbox.pending() == []  # type: ignore[union-attr]


def test_a_repeated_submission_returns_the_first_case_and_a_reused_id_for_another_applicant_is_refused(
    ctx: NodeContext,
) -> None:
    from exchange.errors import InvalidRequest
    from exchange.people import make_resident_id
    from nodes.samples import scanned_id_card, signed_application_form

    ctx.peers = peers = FakePeers()  # type: ignore[assignment]
    window = WindowDesk(ctx)
    clerk = {"node": "330000", "department": "", "operator": "clerk-1"}
    materials = [
        window.take_material([scanned_id_card()], kind="id_card", file_name="id.png", media_type="image/png"),
        window.take_material([signed_application_form(applicant="王小明", id_masked="3301**********1234", matter="x")],
                             kind="application_form", file_name="form.pdf", media_type="application/pdf"),
    ]

    def submit(id_number: str, request_id: str = "r-1", actor: dict[str, str] = clerk,
               competent_province: str = "340000") -> Case:
        return window.submit(
            matter_code="KS2020-044", competent_province=competent_province,
            applicant={"name": "王小明", "id_number": id_number},
            materials=materials, checklist={"id_card": True, "application_form": True}, actor=actor,
            identity={"method": "id_card_reader", "verified": True}, request_id=request_id)

    applicant, another = make_resident_id("33010619850315123"), make_resident_id("34010219600101001")
    first = submit(applicant)
    assert submit(applicant).case_number == first.case_number
    assert peers.forwarded == [first.case_number] and first.status is CaseStatus.FORWARDED
    with pytest.raises(InvalidRequest, match="request_id"):
        submit(another)
    with pytest.raises(InvalidRequest, match="request_id"):  # the same applicant, another province's matter
        submit(applicant, competent_province="320000")  # before: the first case came back, as if sent there
    other_clerk = {**clerk, "operator": "clerk-2"}
    assert submit(applicant, actor=other_clerk).case_number != first.case_number


def test_a_forward_goes_at_once_while_another_case_to_the_same_partner_is_still_in_flight(ctx: NodeContext) -> None:
    ctx.peers = peers = FakePeers()  # type: ignore[assignment]

    def queued(number: str):  # type: ignore[no-untyped-def]
        case = Case.submit(
            case_number=number, matter_code="KS35-043", mode="proxy", origin_province="330000",
            competent_province="340000", competent_department="market",
            applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
            actor=OFFICER, at=ctx.stamp(),
        )
        message = new_message(peer="340000", kind=FORWARD_CASE, case_number=number, payload={"actor": OFFICER},
                              at=ctx.stamp())
        ctx.save(case, outbox=[message])
        return message

    queued("330000-20261102-00000001")
    ctx.outbox.claim(owner="another-request", lease_seconds=60)  # type: ignore[union-attr]  # being sent
    second = queued("330000-20261102-00000002")
    ctx.send_now([second])
    assert peers.forwarded == ["330000-20261102-00000002"]
    assert ctx.ledger.get_case("330000-20261102-00000002").status is CaseStatus.FORWARDED
