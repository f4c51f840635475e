"""No paper leaves the window without its record: a print job is prepared, the print recorded,
and only then is the job released to the printer. A print whose record cannot be saved is
dropped; a job a stopped run left behind is released at the next start if its print was
recorded, dropped if not. A real SQLite ledger and spool folder; the seal check is stood in for
(it is tested with real seals in tests/e2e/test_window_refusals.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from exchange.case import Case, CaseStatus
from exchange.context import NodeContext
from exchange.errors import InvalidRequest, NotAuthorised
from exchange.ledger import CaseLedger
from exchange.window import WindowDesk
from nodes.spool import FolderSpool
from nodes.wiring import load_catalog
from storage.eventstore import EventStoreSettings
from storage.local import LocalFolderStore

CLERK = {"node": "340000", "department": "", "operator": "clerk-hefei-001"}
PASSED = {"verdict": "TOTAL_PASSED", "reason": None}
PDF = b"%PDF-1.7 a sealed licence"


class Passed:
    def summary(self) -> dict[str, Any]:
        return PASSED


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[NodeContext]:
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    yield NodeContext(
        province_code="340000", provinces={}, ledger=ledger, catalog=load_catalog(),
        store=LocalFolderStore(tmp_path / "objects"), peers=None,  # type: ignore[arg-type]
        now=lambda: datetime(2026, 11, 2, 1, tzinfo=timezone.utc), spool=FolderSpool(tmp_path / "spool"),
    )
    ledger.close()


@pytest.fixture
def desk(ctx: NodeContext, monkeypatch: pytest.MonkeyPatch) -> WindowDesk:
    desk = WindowDesk(ctx)
    monkeypatch.setattr(desk, "_verified_or_refused",
                        lambda case_number, *, actor, case=None: (case, Passed(), PDF))
    return desk


def verified(ctx: NodeContext, number: str = "340000-20261102-00000001") -> Case:
    case = Case.submit(
        case_number=number, matter_code="KS35-043", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=CLERK, at=ctx.stamp(),
    )
    case.forward(actor=CLERK, at=ctx.stamp())
    case.receive_result(sha256="cd" * 32, object_key="k", actor=CLERK, at=ctx.stamp())
    case.record_verification(report=PASSED, actor=CLERK, at=ctx.stamp())
    ctx.save(case)
    return case


def jobs(ctx: NodeContext) -> list[str]:
    return sorted(p.name for p in ctx.spool.directory.iterdir())  # type: ignore[union-attr]


def test_a_recorded_print_is_released_to_the_printer(ctx: NodeContext, desk: WindowDesk) -> None:
    case = verified(ctx)
    printed, _, ref = desk.print_result(case.case_number, copies=1, actor=CLERK)
    assert printed.status is CaseStatus.PRINTED and printed.prints[-1]["spool_ref"] == ref
    assert jobs(ctx) == [f"{case.case_number}-1.pdf"] and Path(ref).read_bytes() == PDF


def test_a_print_whose_record_cannot_be_saved_sends_nothing_to_the_printer(
    ctx: NodeContext, desk: WindowDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = verified(ctx)

    def unreachable(case: Case, **_: Any) -> None:
        raise ConnectionError("the event store is unreachable")

    monkeypatch.setattr(ctx, "save", unreachable)
    with pytest.raises(ConnectionError):
        desk.print_result(case.case_number, copies=1, actor=CLERK)
    assert jobs(ctx) == []
    assert ctx.ledger.get_case(case.case_number).status is CaseStatus.VERIFIED


def test_a_job_left_by_a_stopped_run_is_released_if_its_print_was_recorded_and_dropped_if_not(
    ctx: NodeContext, desk: WindowDesk
) -> None:
    spool = ctx.spool
    recorded, unrecorded = verified(ctx), verified(ctx, "340000-20261102-00000002")
    # The run stopped after the save of the first print, and before the save of the second.
    ref = spool.prepare(case_number=recorded.case_number, pdf=PDF, copies=1)  # type: ignore[union-attr]
    recorded.print_result(copies=1, spool_ref=ref, report=PASSED, actor=CLERK, at=ctx.stamp())
    ctx.save(recorded)
    spool.prepare(case_number=unrecorded.case_number, pdf=PDF, copies=1)  # type: ignore[union-attr]
    assert jobs(ctx) == [f"{recorded.case_number}-1.part", f"{unrecorded.case_number}-1.part"]

    assert desk.settle_print_jobs() == (1, 1)
    assert jobs(ctx) == [f"{recorded.case_number}-1.pdf"]


def test_a_reprint_gets_the_next_job_number(ctx: NodeContext, desk: WindowDesk) -> None:
    case = verified(ctx)
    desk.print_result(case.case_number, copies=1, actor=CLERK)
    _, _, again = desk.print_result(case.case_number, copies=1, actor=CLERK, reprint_reason="原件污损")
    assert Path(again).name == f"{case.case_number}-2.pdf"
    assert jobs(ctx) == [f"{case.case_number}-1.pdf", f"{case.case_number}-2.pdf"]


def test_only_the_window_of_origin_learns_that_a_copy_count_is_wrong(ctx: NodeContext, desk: WindowDesk) -> None:
    taken_in_elsewhere = Case.submit(
        case_number="330000-20261102-00000009", matter_code="KS35-043", mode="proxy", origin_province="330000",
        competent_province="340000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=CLERK, at=ctx.stamp(),
    )
    ctx.save(taken_in_elsewhere)
    with pytest.raises(NotAuthorised, match="only its window may print its result"):
        desk.print_result(taken_in_elsewhere.case_number, copies=0, actor=CLERK)
    with pytest.raises(InvalidRequest, match="between 1 and 10"):
        desk.print_result(verified(ctx).case_number, copies=11, actor=CLERK)
    assert jobs(ctx) == []
