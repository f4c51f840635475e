"""多地联办 and the competent node's decisions: only the accepting province decides a joint case,
a partner reports on its part; a decision tells only the partners still working; a forward that
is refused locks no material. Real SQLite ledgers and outboxes; node-to-node calls reach the
partner's real CoordinationServicer in process, mapped to status codes as the node's
ErrorMappingInterceptor maps them (over real gRPC: tests/e2e/test_modes.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest

from exchange.case import Case, CaseStatus
from exchange.context import NodeContext
from exchange.courier import Courier, RetryPolicy
from exchange.department import DepartmentDesk
from exchange.errors import IllegalTransition, InvalidRequest
from exchange.ledger import CaseLedger
from exchange.people import make_resident_id
from nodes.interceptors import caller, status_for
from nodes.joint import CoordinationServicer, GrpcCoordinationGateway
from nodes.wiring import load_catalog
from signing.identity import CertIdentity
from storage.eventstore import EventStoreSettings
from storage.local import LocalFolderStore
from storage.outbox import outbox_of
from tests.fixtures.rpc import RpcRefusal

ANHUI, ZHEJIANG, JIANGSU = "340000", "330000", "320000"
DEPARTMENTS = {"public_security": "公安厅", "market": "市场监督管理局"}
PROVINCES = {code: {"name": code, "departments": DEPARTMENTS} for code in (ANHUI, ZHEJIANG, JIANGSU)}
APPLICANT = {"name": "王小明", "id_number": make_resident_id("33010619850315123")}
NOW = datetime(2026, 11, 2, 1, tzinfo=timezone.utc)


def officer(province: str) -> dict[str, str]:
    return {"node": province, "department": "", "operator": f"officer-{province}"}


class _Aborting:
    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise RpcRefusal(code, details)


class InProcessStub:
    def __init__(self, servicer: CoordinationServicer, sender: str) -> None:
        self.servicer, self.sender = servicer, sender

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(request: Any, timeout: float | None = None) -> Any:
            token = caller.set(CertIdentity(province_code=self.sender, role="node", common_name=f"node-{self.sender}"))
            try:
                return getattr(self.servicer, method)(request, _Aborting())
            except RpcRefusal:
                raise
            except Exception as exc:
                raise RpcRefusal(status_for(exc) or grpc.StatusCode.INTERNAL, str(exc)) from None
            finally:
                caller.reset(token)
        return call


class InProcessCoordination(GrpcCoordinationGateway):
    def __init__(self, province: str, servicers: dict[str, CoordinationServicer]) -> None:
        self.province, self.servicers, self.timeout = province, servicers, 5.0

    def _stub(self, province: str) -> InProcessStub:  # type: ignore[override]
        return InProcessStub(self.servicers[province], self.province)


@pytest.fixture
def federation(tmp_path: Path) -> dict[str, NodeContext]:
    servicers: dict[str, CoordinationServicer] = {}
    nodes = {}
    for code in (ANHUI, ZHEJIANG, JIANGSU):
        ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / f"{code}.sqlite").application_env())
        ctx = NodeContext(province_code=code, provinces=PROVINCES, ledger=ledger, catalog=load_catalog(),
                          store=LocalFolderStore(tmp_path / f"objects-{code}"), peers=None,  # type: ignore[arg-type]
                          coordination=InProcessCoordination(code, servicers), now=lambda: NOW,
                          outbox=outbox_of(ledger.recorder))
        ctx.courier = Courier(ctx, policy=RetryPolicy(base_seconds=0.0))
        servicers[code] = CoordinationServicer(ctx)
        nodes[code] = ctx
    yield nodes
    for ctx in nodes.values():
        ctx.ledger.close()


def accepted_joint_case(nodes: dict[str, NodeContext], *, partners: list[str]) -> str:
    """Taken in and accepted at Zhejiang, which hands each partner its part."""
    zj = nodes[ZHEJIANG]
    case = Case.submit_joint(
        case_number=f"{ZHEJIANG}-20261102-0000000A", matter_code="KS35-061", mode="joint", origin_province=ZHEJIANG,
        competent_province=ZHEJIANG, competent_department="public_security", applicant=dict(APPLICANT),
        materials=[], checklist={}, partners=partners, actor=officer(ZHEJIANG), at=zj.stamp())
    zj.save(case)
    DepartmentDesk(zj).accept(case.case_number, actor=officer(ZHEJIANG))
    return case.case_number


@pytest.mark.parametrize("decision", [
    lambda desk, n, who: desk.reject(n, legal_basis="《户口登记条例》第十条", reason="不符合迁出条件", actor=who),
    lambda desk, n, who: desk.return_case(n, reason="不归本厅办理", actor=who),
    lambda desk, n, who: desk.request_supplement(n, missing=["户口簿"], note="", actor=who),
], ids=["reject", "return", "supplement"])
def test_a_partner_reports_on_its_part_and_cannot_decide_the_joint_case(
    federation: dict[str, NodeContext], decision: Callable[..., Any]
) -> None:
    number = accepted_joint_case(federation, partners=[JIANGSU])
    partner = DepartmentDesk(federation[JIANGSU])
    partner.accept(number, actor=officer(JIANGSU))
    with pytest.raises(IllegalTransition, match=f"decided by {ZHEJIANG}; report .* with CompletePart"):
        decision(partner, number, officer(JIANGSU))
    assert federation[JIANGSU].ledger.get_case(number).status is CaseStatus.ACCEPTED
    assert federation[JIANGSU].outbox.refusals() == []  # type: ignore[union-attr]
    # The part can still be reported, and the accepting province then hears of it.
    partner.complete_part(number, outcome="不予迁出：不符合迁出条件", note="", actor=officer(JIANGSU))
    assert federation[ZHEJIANG].ledger.get_case(number).tasks[JIANGSU]["status"] == "completed"


def test_a_rejection_tells_only_the_partners_still_working_on_their_part(federation: dict[str, NodeContext]) -> None:
    number = accepted_joint_case(federation, partners=[JIANGSU, ANHUI])
    done = DepartmentDesk(federation[JIANGSU])
    done.accept(number, actor=officer(JIANGSU))
    done.complete_part(number, outcome="已办理迁出", note="", actor=officer(JIANGSU))

    DepartmentDesk(federation[ZHEJIANG]).reject(number, legal_basis="《户口登记条例》第十条", reason="不符合迁入条件",
                                                actor=officer(ZHEJIANG))
    assert federation[ZHEJIANG].outbox.refusals() == []  # type: ignore[union-attr]
    assert federation[ANHUI].ledger.get_case(number).status is CaseStatus.WITHDRAWN
    assert federation[JIANGSU].ledger.get_case(number).status is CaseStatus.CLOSED


def test_a_refused_forward_puts_no_material_under_retention(federation: dict[str, NodeContext]) -> None:
    zj = federation[ZHEJIANG]
    form = zj.store.put_bytes(b"%PDF-1.7 form", media_type="application/pdf", metadata={})
    envelope = {
        "case_number": f"{ANHUI}-20261102-00000001", "matter_code": "KS35-043", "mode": "proxy",
        "origin_province": ANHUI, "competent_province": ZHEJIANG, "competent_department": "market",
        "applicant": dict(APPLICANT), "checklist": {"application_form": True},
        "materials": [{"kind": "application_form", "file_name": "f.pdf", "media_type": "application/pdf",
                       "size": 13, "sha256": form.sha256}],
        "identity": {"method": "id_card_reader", "verified": False}, "agent": None,
    }
    with pytest.raises(InvalidRequest, match="identity.verified"):
        DepartmentDesk(zj).receive(envelope, from_province=ANHUI, actor=officer(ZHEJIANG))
    assert zj.ledger.find_case(envelope["case_number"]) is None
    assert zj.store.retention(form.sha256) is None


def test_a_message_id_applied_for_one_case_is_refused_for_another(federation: dict[str, NodeContext]) -> None:
    first = accepted_joint_case(federation, partners=[JIANGSU])
    zj = federation[ZHEJIANG]
    second = Case.submit_joint(
        case_number=f"{ZHEJIANG}-20261102-0000000B", matter_code="KS35-061", mode="joint", origin_province=ZHEJIANG,
        competent_province=ZHEJIANG, competent_department="public_security", applicant=dict(APPLICANT),
        materials=[], checklist={}, partners=[JIANGSU], actor=officer(ZHEJIANG), at=zj.stamp())
    zj.save(second)
    DepartmentDesk(zj).accept(second.case_number, actor=officer(ZHEJIANG))
    desk = DepartmentDesk(zj)
    desk.record_task_report(case_number=first, from_province=JIANGSU, outcome="已办理迁出", note="",
                            actor=officer(JIANGSU), message_id="m-1")
    assert zj.already_applied("m-1", case_number=first)  # the sender retried: acknowledged, changes nothing
    with pytest.raises(InvalidRequest, match=f"message m-1 was applied here for case {first}"):
        desk.record_task_report(case_number=second.case_number, from_province=JIANGSU, outcome="已办理迁出", note="",
                                actor=officer(JIANGSU), message_id="m-1")  # before: acknowledged and dropped
    assert zj.ledger.get_case(second.case_number).tasks[JIANGSU]["status"] == "assigned"
