"""A forward and a result delivery tried right after their save go from the case just saved,
which the desk still holds under its lock, instead of reading it back from the ledger; the
confirmation is recorded on a copy, so one that cannot be saved never leaves the desk answering
with what was not saved.
A real SQLite ledger, outbox and folder store; the partner is a fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from exchange.case import CaseStatus
from exchange.context import NodeContext
from exchange.courier import Courier, RetryPolicy
from exchange.department import DepartmentDesk
from exchange.errors import PeerUnavailable
from exchange.ledger import CaseLedger
from exchange.window import WindowDesk
from exchange.people import make_resident_id
from nodes.samples import scanned_id_card, signed_application_form
from nodes.wiring import load_catalog
from storage.eventstore import EventStoreSettings
from storage.local import LocalFolderStore
from storage.outbox import outbox_of

CLERK = {"node": "340000", "department": "", "operator": "clerk-1"}
DEPARTMENTS = {"public_security": "公安厅", "market": "市场监督管理局"}
PROVINCES = {code: {"name": code, "departments": DEPARTMENTS} for code in ("330000", "340000")}


class Partner:
    def __init__(self) -> None:
        self.forwarded: list[tuple[str, int]] = []

    def push_material(self, province: str, **_: Any) -> None:
        pass

    def forward_case(self, province: str, *, envelope: Any, message_id: str = "", carried: Any = None) -> bool:
        self.forwarded.append((envelope["case_number"], len(envelope["materials"])))
        return False


class Unreachable(Partner):
    def forward_case(self, province: str, **_: Any) -> bool:
        raise PeerUnavailable(f"{province} is down")


class CountedReads:
    """The ledger's case reads, counted while `counting` is set."""

    def __init__(self, ledger: CaseLedger) -> None:
        self.reads = 0
        self.counting = False
        read = ledger.get_case

        def counted(case_number: str):  # type: ignore[no-untyped-def]
            if self.counting:
                self.reads += 1
            return read(case_number)

        ledger.get_case = counted  # type: ignore[method-assign]


@pytest.fixture
def window(tmp_path: Path) -> Iterator[NodeContext]:
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    ctx = NodeContext(
        province_code="340000", provinces=PROVINCES, ledger=ledger, catalog=load_catalog(),
        store=LocalFolderStore(tmp_path / "objects"), peers=Partner(),  # type: ignore[arg-type]
        now=lambda: datetime(2026, 12, 6, 1, tzinfo=timezone.utc), outbox=outbox_of(ledger.recorder),
    )
    ctx.courier = Courier(ctx, policy=RetryPolicy(base_seconds=0.0))
    yield ctx
    ledger.close()


def submit(ctx: NodeContext) -> Any:
    desk = WindowDesk(ctx)
    materials = [
        desk.take_material([scanned_id_card()], kind="id_card", file_name="id.png", media_type="image/png"),
        desk.take_material([signed_application_form(applicant="王小明", id_masked="3301**********1234", matter="x")],
                           kind="application_form", file_name="form.pdf", media_type="application/pdf"),
    ]
    return desk.submit(matter_code="KS2020-044", competent_province="330000",
                       applicant={"name": "王小明", "id_number": make_resident_id("33010619850315123")}, materials=materials,
                       checklist={"id_card": True, "application_form": True}, actor=CLERK,
                       identity={"method": "id_card_reader", "verified": True})


def test_a_submitted_case_is_forwarded_from_the_case_just_saved_without_reading_it_back(window: NodeContext) -> None:
    reads = CountedReads(window.ledger)
    reads.counting = True
    case = submit(window)
    assert case.status is CaseStatus.FORWARDED
    assert window.peers.forwarded == [(case.case_number, 2)]  # type: ignore[attr-defined]
    assert reads.reads == 0
    assert window.ledger.get_case(case.case_number).version == case.version  # what it answered is what is saved


def test_a_forward_whose_confirmation_cannot_be_saved_answers_with_the_case_as_saved(window: NodeContext) -> None:
    saves = window.save

    def confirmation_fails(case, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("delivered"):
            raise RuntimeError("the database went away after the partner confirmed")
        return saves(case, **kwargs)

    window.save = confirmation_fails  # type: ignore[method-assign]
    reads = CountedReads(window.ledger)
    reads.counting = True
    case = submit(window)
    assert case.status is CaseStatus.SUBMITTED  # not a FORWARDED that was never saved
    assert reads.reads == 0  # nothing to read again (a read failing here would have failed the submission)
    reads.counting = False
    assert window.ledger.get_case(case.case_number).version == case.version
    assert [m.case_number for m in window.outbox.pending()] == [case.case_number]  # type: ignore[union-attr]
    window.save = saves  # type: ignore[method-assign]
    for message in window.outbox.claim(owner="relay", lease_seconds=60):  # type: ignore[union-attr]
        assert window.courier.attempt(message)
    assert window.ledger.get_case(case.case_number).status is CaseStatus.FORWARDED


def test_a_relayed_forward_still_reads_the_case_under_its_lock(window: NodeContext) -> None:
    window.peers = Unreachable()  # type: ignore[assignment]
    case = submit(window)
    assert case.status is CaseStatus.SUBMITTED
    window.outbox.peer_reachable("330000")  # type: ignore[union-attr]
    window.peers = partner = Partner()  # type: ignore[assignment]
    reads = CountedReads(window.ledger)
    reads.counting = True
    for message in window.outbox.claim(owner="relay", lease_seconds=60):  # type: ignore[union-attr]
        assert window.courier.attempt(message)
    assert reads.reads == 1 and partner.forwarded == [(case.case_number, 2)]


class Window:
    def __init__(self) -> None:
        self.delivered: list[str] = []

    def deliver_result(self, province: str, *, case_number: str, pdf: bytes, issued_sha256: str,
                       message_id: str = "") -> bool:
        self.delivered.append(case_number)
        return False


class Issuer:
    def issue(self, request: Any, **_: Any) -> bytes:
        return b"%PDF-1.7\n% sealed result of " + request.case_number.encode() + b"\n"


def competent_node(tmp_path: Path) -> NodeContext:
    """The competent node's context (330000): a real SQLite ledger, outbox and folder store; the
    window it delivers to and its sealer are fakes. Close its ledger after."""
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    ctx = NodeContext(
        province_code="330000", provinces=PROVINCES, ledger=ledger, catalog=load_catalog(),
        store=LocalFolderStore(tmp_path / "objects"), peers=Window(),  # type: ignore[arg-type]
        issuer=Issuer(),  # type: ignore[arg-type]
        now=lambda: datetime(2026, 12, 6, 1, tzinfo=timezone.utc), outbox=outbox_of(ledger.recorder),
    )
    ctx.courier = Courier(ctx, policy=RetryPolicy(base_seconds=0.0))
    return ctx


def test_an_approved_result_is_delivered_from_the_case_just_saved(tmp_path: Path) -> None:
    from tests.unit.test_lifecycle_desks import received  # a case forwarded here from 340000

    ctx = competent_node(tmp_path)
    ledger = ctx.ledger
    try:
        officer = {"node": "330000", "department": "", "operator": "officer-z"}
        case = received(ctx)
        desk = DepartmentDesk(ctx)
        desk.accept(case.case_number, actor=officer)
        reads = CountedReads(ledger)
        reads.counting = True
        approved = desk.approve(case.case_number, actor=officer)
        assert approved.status is CaseStatus.RESULT_DELIVERED and ctx.peers.delivered == [case.case_number]  # type: ignore[attr-defined]
        assert reads.reads == 1  # the desk's own read before approving; none for the delivery
        assert ledger.get_case(case.case_number).version == approved.version
    finally:
        ledger.close()
