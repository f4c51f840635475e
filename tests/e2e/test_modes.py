"""The three modes end to end across real nodes (separate processes, mutual TLS, SQLite, local
object stores): 全程网办, 异地代收代办 with 补正/驳回/撤回/寄递/好差评, and 多地联办 on three nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from exchange.people import make_resident_id
from nodes.clients import AuditorClient, OfficerClient, WindowClient, operator_channel
from nodes.launch import NodeProcess, loopback_configs, spawn_node, wait_serving
from nodes.samples import scanned_id_card, signed_application_form
from nodes.cli import catalog_provinces
from signing.pki import Federation, init_federation
from tongban_pb import common_pb2

ROOT = Path(__file__).resolve().parents[2]
ANHUI, ZHEJIANG, JIANGSU = "340000", "330000", "320000"
OPERATORS = [
    (ANHUI, "window", "clerk-a"), (ANHUI, "officer", "officer-a"), (ANHUI, "auditor", "auditor-a"),
    (ZHEJIANG, "window", "clerk-z"), (ZHEJIANG, "window", "portal-z"), (ZHEJIANG, "officer", "officer-z"),
    (JIANGSU, "officer", "officer-j"),
]
ID = make_resident_id("33010619850315123")
FORM = signed_application_form(applicant="王小明", id_masked="3301**********1234", matter="跨省通办")


@dataclass
class Federated:
    federation: Federation
    addresses: dict[str, str]

    @contextmanager
    def window(self, province: str, operator: str) -> Iterator[WindowClient]:
        with operator_channel(self.federation, province=province, operator_id=operator,
                              address=self.addresses[province]) as ch:
            yield WindowClient(ch)

    @contextmanager
    def officer(self, province: str, operator: str) -> Iterator[OfficerClient]:
        with operator_channel(self.federation, province=province, operator_id=operator,
                              address=self.addresses[province]) as ch:
            yield OfficerClient(ch)

    def events(self, province: str, auditor: str, case_number: str) -> list[str]:
        with operator_channel(self.federation, province=province, operator_id=auditor,
                              address=self.addresses[province]) as ch:
            return [e.event for e in AuditorClient(ch).timeline(case_number).entries]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federated]:
    workdir = tmp_path_factory.mktemp("modes")
    # Seals for every department the catalog names, not only the PKI's six defaults.
    federation = init_federation(workdir / "pki", provinces=catalog_provinces(), operators=OPERATORS)  # type: ignore[arg-type]
    configs = loopback_configs(workdir, [ANHUI, ZHEJIANG, JIANGSU])
    running: list[NodeProcess] = [spawn_node(c) for c in configs.values()]
    try:
        for n in running:
            wait_serving(n, federation)
        yield Federated(federation, {code: c.listen for code, c in configs.items()})
    finally:
        for n in running:
            n.stop()
    for n in running:
        assert n.process.returncode == 0, n.log_path.read_text()


def upload(window: WindowClient, *kinds: str) -> list[common_pb2.MaterialRef]:
    refs = []
    for kind in kinds:
        if kind == "id_card":
            refs.append(window.upload([scanned_id_card()], kind=kind, file_name="身份证.png", media_type="image/png"))
        else:
            refs.append(window.upload([FORM], kind=kind, file_name=f"{kind}.pdf", media_type="application/pdf"))
    return refs


def proxy_case(nodes: Federated, **extra) -> str:  # type: ignore[no-untyped-def]
    with nodes.window(ANHUI, "clerk-a") as window:
        materials = upload(window, "id_card", "application_form", *extra.pop("more", ()))
        case = window.submit(
            matter_code="KS35-043", competent_province=ZHEJIANG, applicant_name="王小明", applicant_id=ID,
            materials=materials, checklist={m.kind: True for m in materials}, **extra,
        )
    assert case.status == "forwarded"
    return case.case_number


def test_online_an_applicant_applies_at_the_competent_node_and_gets_the_result_online(nodes: Federated) -> None:
    with nodes.window(ZHEJIANG, "portal-z") as portal, nodes.officer(ZHEJIANG, "officer-z") as officer:
        materials = upload(portal, "id_card", "application_form")
        case = portal.submit_online(matter_code="KS35-043", applicant_name="王小明", applicant_id=ID, materials=materials)
        assert (case.mode, case.status, case.origin_province) == ("online", "received", ZHEJIANG)
        assert case.progress.identity_method == "online_real_name"
        accepted = officer.accept(case.case_number)
        assert accepted.progress.due_at  # 3 days in Zhejiang, from acceptance
        done = officer.approve(case.case_number)
        assert (done.status, done.progress.delivery) == ("delivered_online", "online") and done.result_sha256
        rated = portal.evaluate(case.case_number, rating="非常满意")
        assert rated.progress.rating == "非常满意"
        with pytest.raises(grpc.RpcError) as twice:
            portal.evaluate(case.case_number, rating="不满意")
        assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "one rating per case" in twice.value.details()
        assert portal.close(case.case_number).status == "closed"


def test_online_a_medical_insurance_matter_is_sealed_by_the_provincial_medical_insurance_bureau(nodes: Federated) -> None:
    with nodes.window(ZHEJIANG, "portal-z") as portal, nodes.officer(ZHEJIANG, "officer-z") as officer:
        [matter] = portal.search_catalog("医保电子凭证申领").matters
        assert matter.lead_department == "medical_insurance" and "online" in matter.modes
        materials = upload(portal, "id_card", "application_form")
        case = portal.submit_online(matter_code=matter.code, applicant_name="王小明", applicant_id=ID, materials=materials)
        assert case.competent_department == "medical_insurance"
        officer.accept(case.case_number)
        assert officer.approve(case.case_number).status == "delivered_online"


def test_online_is_refused_for_a_matter_not_offered_online(nodes: Federated) -> None:
    with nodes.window(ZHEJIANG, "portal-z") as portal, pytest.raises(grpc.RpcError) as refused:
        portal.submit_online(matter_code="KS35-001", applicant_name="王小明", applicant_id=ID, materials=[])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "全程网办" in refused.value.details()


def test_proxy_supplement_round_then_approval_mailed_rated_and_closed(nodes: Federated) -> None:
    agent = common_pb2.Agent(name="王大明", id_number=make_resident_id("34010219600101001"), relationship="父亲")
    number = proxy_case(nodes, agent=agent, more=("power_of_attorney",))
    with nodes.officer(ZHEJIANG, "officer-z") as officer, nodes.window(ANHUI, "clerk-a") as window:
        received = officer.get_case(number).progress  # the window's 身份核验 and 代办 followed the case
        assert (received.identity_method, received.agent_relationship) == ("id_card_reader", "父亲")
        officer.accept(number)
        asked = officer.request_supplement(number, missing=["营业执照补领申请书（法定代表人签字）"], note="签字不清")
        assert asked.status == "supplement_requested" and asked.progress.clock_paused
        at_window = window.get_case(number)  # the window was told, to tell the applicant
        assert at_window.status == "supplement_requested"
        assert list(at_window.progress.supplement_missing) == ["营业执照补领申请书（法定代表人签字）"]
        with pytest.raises(grpc.RpcError) as not_yet:
            officer.approve(number)
        assert not_yet.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        [form] = upload(window, "application_form_signed")
        assert window.supplement(number, [form]).status == "forwarded"
        resumed = officer.get_case(number)
        assert resumed.status == "accepted" and not resumed.progress.clock_paused
        assert form.sha256 in {m.sha256 for m in resumed.materials}
        assert officer.approve(number).status == "result_delivered"
        mailed = window.mail(number, carrier="EMS", tracking_number="1180123456789", address="安徽省合肥市蜀山区")
        assert (mailed.status, mailed.progress.tracking_number) == ("mailed", "1180123456789")
        rated = window.evaluate(number, rating="满意")
        assert (rated.status, rated.progress.rating) == ("mailed", "满意")
        assert window.close(number).status == "closed"
    assert nodes.events(ANHUI, "auditor-a", number) == [
        "Submitted", "Forwarded", "SupplementRequested", "Supplemented", "ResultReceived", "Verified",
        "Mailed", "Evaluated", "Closed",
    ]


def test_proxy_rejection_reaches_the_window_with_its_legal_basis(nodes: Federated) -> None:
    number = proxy_case(nodes)
    with nodes.officer(ZHEJIANG, "officer-z") as officer, nodes.window(ANHUI, "clerk-a") as window:
        officer.accept(number)
        with pytest.raises(grpc.RpcError) as no_basis:
            officer.reject(number, legal_basis="", reason="不符合条件")
        assert no_basis.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "legal_basis" in no_basis.value.details()
        officer.reject(number, legal_basis="《市场主体登记管理条例》第二十一条", reason="该执照已被吊销")
        seen = window.get_case(number)
        assert (seen.status, seen.progress.legal_basis) == ("rejected", "《市场主体登记管理条例》第二十一条")
        with pytest.raises(grpc.RpcError) as withdraw:
            window.withdraw(number, reason="太晚了")
        assert withdraw.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "to withdraw it must be" in withdraw.value.details()
        rated = window.evaluate(number, rating="不满意", comment="")
        assert (rated.status, rated.progress.rating) == ("rejected", "不满意")


def test_proxy_withdrawal_before_a_decision_stops_both_sides(nodes: Federated) -> None:
    number = proxy_case(nodes)
    with nodes.officer(ZHEJIANG, "officer-z") as officer, nodes.window(ANHUI, "clerk-a") as window:
        officer.accept(number)
        assert window.withdraw(number, reason="申请人已在登记地办理").status == "withdrawn"
        assert officer.get_case(number).status == "withdrawn"
        with pytest.raises(grpc.RpcError) as late:
            officer.approve(number)
        assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "withdrawn" in late.value.details()


def test_proxy_refuses_an_unverified_identity_and_an_agent_without_power_of_attorney(nodes: Federated) -> None:
    with nodes.window(ANHUI, "clerk-a") as window:
        materials = upload(window, "id_card", "application_form")
        for kwargs, field in (
            ({"identity_verified": False}, "identity.verified"),
            ({"agent": common_pb2.Agent(name="王大明", id_number=make_resident_id("34010219600101001"), relationship="父亲")},
             "power_of_attorney"),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                window.submit(matter_code="KS35-043", competent_province=ZHEJIANG, applicant_name="王小明",
                              applicant_id=ID, materials=materials, checklist={m.kind: True for m in materials},
                              **kwargs)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in refused.value.details()


def test_joint_one_acceptance_two_partner_provinces_case_completes_when_both_have(nodes: Federated) -> None:
    with nodes.window(ZHEJIANG, "clerk-z") as window, nodes.officer(ZHEJIANG, "officer-z") as officer:
        materials = upload(window, "id_card", "application_form", "supporting_document")
        case = window.submit_joint(
            matter_code="KS35-061", partner_provinces=[JIANGSU, ANHUI], applicant_name="王小明", applicant_id=ID,
            materials=materials, checklist={m.kind: True for m in materials},
        )
        number = case.case_number
        assert (case.mode, case.status, list(case.progress.partners)) == ("joint", "received", [JIANGSU, ANHUI])
        accepted = officer.accept(number)
        assert {(t.province, t.status) for t in accepted.progress.tasks} == {(ANHUI, "assigned"), (JIANGSU, "assigned")}
        with pytest.raises(grpc.RpcError) as early:
            officer.approve(number)
        assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "waits for its tasks" in early.value.details()
    for province, operator in ((JIANGSU, "officer-j"), (ANHUI, "officer-a")):
        with nodes.officer(province, operator) as partner:
            part = partner.get_case(number)
            assert (part.status, part.competent_province, part.origin_province) == ("received", province, ZHEJIANG)
            partner.accept(number)
            assert partner.complete_part(number, outcome="已办理迁出", note="户口已迁出").status == "closed"
    with nodes.window(ZHEJIANG, "clerk-z") as window, nodes.officer(ZHEJIANG, "officer-z") as officer:
        tasks = officer.get_case(number).progress.tasks
        assert all(t.status == "completed" and t.outcome == "已办理迁出" for t in tasks)
        assert officer.approve(number).status == "result_issued"
        assert window.verify(number).verdict == "TOTAL_PASSED"
        receipt = window.print(number, copies=1)
        assert receipt.case.status == "printed" and Path(receipt.spool_ref).is_file()
        assert window.close(number).status == "closed"
    assert nodes.events(ANHUI, "auditor-a", number) == ["TaskReceived", "Accepted", "PartCompleted"]


def test_an_illegal_step_is_failed_precondition_and_records_nothing(nodes: Federated) -> None:
    number = proxy_case(nodes)
    with nodes.officer(ZHEJIANG, "officer-z") as officer:
        before = officer.get_case(number).version
        with pytest.raises(grpc.RpcError) as refused:
            officer.approve(number)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "is received; to approve it must be accepted" in refused.value.details()
        assert officer.get_case(number).version == before


def test_catalog_search_over_grpc(nodes: Federated) -> None:
    with nodes.window(ZHEJIANG, "clerk-z") as window:
        [licence] = window.search_catalog("营业执照").matters
        assert (licence.code, licence.time_limit_here, licence.time_limit_days) == ("KS35-043", 3, 7)
        assert {r.kind for r in licence.required_materials} == {"id_card", "application_form"}
        with pytest.raises(grpc.RpcError) as empty:
            window.search_catalog(" ")
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    done = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "catalog", "search", "公积金 提取", "--node", nodes.addresses[ZHEJIANG],
         "--pki", str(nodes.federation.directory), "--province", ZHEJIANG, "--operator", "clerk-z"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "正常退休提取住房公积金" in done.stdout and "购房提取住房公积金" in done.stdout


def test_monitoring_over_grpc_and_the_command_line(nodes: Federated) -> None:
    decided = [proxy_case(nodes) for _ in range(2)]  # its own: the test does not lean on the others of the module
    number = proxy_case(nodes)
    with nodes.officer(ZHEJIANG, "officer-z") as officer:
        for done_case in decided:
            officer.accept(done_case)
            officer.approve(done_case)
        officer.accept(number)
        report = officer.monitor(due_within_days=5, partner_province=ANHUI)
    [bucket] = [b for b in report.buckets if b.matter_code == "KS35-043"]
    assert bucket.partner_province == ANHUI and bucket.open >= 1 and bucket.due_soon >= 1
    assert any(t.matter_code == "KS35-043" and t.decided >= 2 for t in report.throughput)
    with nodes.officer(ZHEJIANG, "officer-z") as officer:
        overdue_only = officer.monitor(due_within_days=0, partner_province=ANHUI)
    assert overdue_only.due_within_days == 0 and overdue_only.totals["due_soon"] == 0
    done = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "monitor", "--node", nodes.addresses[ZHEJIANG],
         "--pki", str(nodes.federation.directory), "--province", ZHEJIANG, "--operator", "officer-z", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["node"] == ZHEJIANG
