"""The window's steps around a result: what a refused delivery leaves behind (nothing), what a
clerk is told when a step comes before the result or the seal check fails, and what a mailed
result must say. A real SQLite ledger, folder store and spool; the seal check and the competent
node are stood in for (real seals: tests/e2e/test_window_refusals.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from exchange.audit import timeline
from exchange.case import Case, CaseStatus
from exchange.context import NodeContext
from exchange.errors import InvalidRequest, PrintRefused, TongbanError
from exchange.ledger import CaseLedger
from exchange.people import make_resident_id
from exchange.window import WindowDesk
from nodes.interceptors import status_for
from nodes.spool import FolderSpool
from nodes.wiring import load_catalog
from storage.eventstore import EventStoreSettings
from storage.local import LocalFolderStore
from storage.outbox import outbox_of

ANHUI, ZHEJIANG = "340000", "330000"
DEPARTMENTS = {"public_security": "公安厅", "market": "市场监督管理局"}
PROVINCES = {code: {"name": code, "departments": DEPARTMENTS} for code in (ANHUI, ZHEJIANG)}
CLERK = {"node": ANHUI, "department": "", "operator": "clerk-a"}
OFFICER = {"node": ANHUI, "department": "public_security", "operator": "officer-a"}
APPLICANT = {"name": "王小明", "id_number": make_resident_id("33010619850315123")}
PDF = b"%PDF-1.7 a sealed licence"
ISSUED = hashlib.sha256(PDF).hexdigest()


@dataclass
class Outcome:
    passed: bool
    verdict: str = "TOTAL_PASSED"
    reason: str | None = None
    explanation_zh: str = ""

    def summary(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reason": self.reason}


class SealCheck:
    def __init__(self) -> None:
        self.passes = True

    def verify(self, pdf: bytes, **_: Any) -> Outcome:
        return Outcome(True) if self.passes else Outcome(False, "TOTAL_FAILED", "HASH_FAILURE", "文件被改动")


class CompetentNode:
    def issued_result_sha256(self, province: str, *, case_number: str) -> str:
        return ISSUED


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[NodeContext]:
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    yield NodeContext(
        province_code=ANHUI, provinces=PROVINCES, ledger=ledger, catalog=load_catalog(),
        store=LocalFolderStore(tmp_path / "objects"), peers=CompetentNode(),  # type: ignore[arg-type]
        verifier=SealCheck(), spool=FolderSpool(tmp_path / "spool"), outbox=outbox_of(ledger.recorder),
        now=lambda: datetime(2026, 11, 2, 1, tzinfo=timezone.utc),
    )
    ledger.close()


def forwarded(ctx: NodeContext) -> Case:
    case = Case.submit(case_number=f"{ANHUI}-20261102-00000001", matter_code="KS35-043", mode="proxy",
                       origin_province=ANHUI, competent_province=ZHEJIANG, competent_department="market",
                       applicant=dict(APPLICANT), materials=[], checklist={}, actor=CLERK, at=ctx.stamp())
    case.forward(actor=CLERK, at=ctx.stamp())
    ctx.save(case)
    return case


def delivered(ctx: NodeContext) -> Case:
    case = forwarded(ctx)
    return WindowDesk(ctx).receive_result(case_number=case.case_number, from_province=ZHEJIANG, pdf=PDF,
                                          issued_sha256=ISSUED, actor=CLERK)


def issued_here(ctx: NodeContext) -> Case:
    """多地联办 taken in at this province's own window and decided here: RESULT_ISSUED."""
    case = Case.submit_joint(case_number=f"{ANHUI}-20261102-0000000B", matter_code="KS35-061", mode="joint",
                             origin_province=ANHUI, competent_province=ANHUI, competent_department="public_security",
                             applicant=dict(APPLICANT), materials=[], checklist={}, partners=[],
                             actor=CLERK, at=ctx.stamp())
    case.accept(actor=OFFICER, time_limit_days=5, at=ctx.stamp())
    case.approve(actor=OFFICER, at=ctx.stamp())
    stored = ctx.store.put_bytes(PDF, media_type="application/pdf", metadata={})
    case.issue_result(sha256=stored.sha256, object_key=stored.key, verification_code="X", actor=OFFICER, at=ctx.stamp())
    ctx.save(case)
    return case


def steps(desk: WindowDesk, number: str) -> dict[str, Callable[[], Any]]:
    return {
        "print": lambda: desk.print_result(number, copies=1, actor=CLERK),
        "mail": lambda: desk.mail_result(number, carrier="EMS", tracking_number="1", address="合肥市", actor=CLERK),
        "deliver online": lambda: desk.deliver_online(number, channel="网上办事大厅", actor=CLERK),
    }


def events(ctx: NodeContext, number: str) -> list[str]:
    return [e.event for e in timeline(ctx.ledger, number)]


def test_a_delivered_result_that_does_not_hash_to_what_was_issued_is_not_stored(ctx: NodeContext) -> None:
    case = forwarded(ctx)
    other = b"%PDF-1.7 not what was issued"
    with pytest.raises(InvalidRequest, match="do not hash to the declared SHA-256"):
        WindowDesk(ctx).receive_result(case_number=case.case_number, from_province=ZHEJIANG, pdf=other,
                                       issued_sha256=ISSUED, actor=CLERK)
    assert ctx.store.stat(hashlib.sha256(other).hexdigest()) is None
    assert ctx.ledger.get_case(case.case_number).status is CaseStatus.FORWARDED


def test_a_second_different_result_is_refused_before_it_is_stored_or_retained(ctx: NodeContext) -> None:
    case = delivered(ctx)
    second = b"%PDF-1.7 a different document"
    with pytest.raises(TongbanError) as refused:
        WindowDesk(ctx).receive_result(case_number=case.case_number, from_province=ZHEJIANG, pdf=second,
                                       issued_sha256=hashlib.sha256(second).hexdigest(), actor=CLERK)
    assert status_for(refused.value).name == "FAILED_PRECONDITION"
    assert ctx.store.stat(hashlib.sha256(second).hexdigest()) is None
    assert ctx.store.retention(hashlib.sha256(second).hexdigest()) is None


@pytest.mark.parametrize("step", ["print", "mail", "deliver online", "verify"])
def test_a_step_that_needs_the_result_before_it_arrived_is_a_wrong_step_not_a_wrong_number(
    ctx: NodeContext, step: str
) -> None:
    desk = WindowDesk(ctx)
    number = forwarded(ctx).case_number
    call = {**steps(desk, number), "verify": lambda: desk.record_verification(number, actor=CLERK)}[step]
    with pytest.raises(TongbanError) as refused:
        call()
    assert status_for(refused.value).name == "FAILED_PRECONDITION"
    assert str(refused.value).startswith(f"case {number} is forwarded and has no result")


@pytest.mark.parametrize(("step", "says"), [
    ("print", "printing refused"), ("mail", "mailing refused"), ("deliver online", "online delivery refused"),
])
def test_a_failed_seal_on_a_result_issued_here_is_refused_and_the_refusal_recorded(
    ctx: NodeContext, step: str, says: str
) -> None:
    number = issued_here(ctx).case_number
    ctx.verifier.passes = False  # type: ignore[union-attr]
    with pytest.raises(PrintRefused, match=f"{says} \\(HASH_FAILURE\\): 文件被改动"):
        steps(WindowDesk(ctx), number)[step]()
    assert events(ctx, number)[-1] == "PrintRefused"
    assert ctx.ledger.get_case(number).status is CaseStatus.RESULT_ISSUED


def test_a_mailed_result_names_its_carrier(ctx: NodeContext) -> None:
    number = delivered(ctx).case_number
    with pytest.raises(InvalidRequest, match="carrier"):
        WindowDesk(ctx).mail_result(number, carrier=" ", tracking_number="SF123", address="合肥市", actor=CLERK)
    mailed = WindowDesk(ctx).mail_result(number, carrier=" 顺丰 ", tracking_number="SF123", address="合肥市", actor=CLERK)
    assert mailed.status is CaseStatus.MAILED and mailed.delivery["carrier"] == "顺丰"


def test_a_supplement_is_recorded_and_sent_as_the_store_holds_it_not_as_the_client_says(ctx: NodeContext) -> None:
    case = forwarded(ctx)
    case.request_supplement(missing=["营业执照"], note="", actor=CLERK, at=ctx.stamp())
    ctx.save(case)
    stored = ctx.store.put_bytes(b"%PDF-1.7 the licence", media_type="application/pdf", metadata={})
    claimed = {"kind": "business_license", "file_name": "执照.pdf", "media_type": "image/png",
               "size": stored.size + 1000, "sha256": stored.sha256}
    supplemented = WindowDesk(ctx).supplement(case.case_number, materials=[claimed], actor=CLERK)
    recorded = next(m for m in supplemented.materials if m["sha256"] == stored.sha256)
    assert (recorded["size"], recorded["media_type"]) == (stored.size, "application/pdf")  # before: as claimed
    sent = ctx.outbox.pending()[0].payload  # type: ignore[union-attr]
    assert sent["detail"]["materials"][0]["media_type"] == "application/pdf"
