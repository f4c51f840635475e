"""Every RPC, tried by every caller that may not make it, over real mutual TLS on loopback: each
is refused with PERMISSION_DENIED (a known caller without the right) and the refusal is recorded
at the node. The matrix is docs/authorisation.md; the allowed callers are the `allowed` column."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from exchange.people import make_resident_id
from nodes.clients import OfficerClient, WindowClient
from nodes.demo import AUDITOR, CLERK, COMPETENT_PROVINCE, MATTER, OFFICER, WINDOW_PROVINCE, make_federation
from nodes.launch import loopback_configs
from nodes.refusals import NOTE_KIND
from nodes.samples import scanned_id_card, signed_application_form
from nodes.server import RunningNode, start_node
from nodes.tls import channel_credentials, secure_channel
from signing.identity import province_uri, role_uri
from signing.pki import Federation
from tongban_pb import (
    audit_pb2, audit_pb2_grpc, common_pb2, department_pb2, department_pb2_grpc, directory_pb2, directory_pb2_grpc,
    joint_pb2, joint_pb2_grpc, peer_pb2, peer_pb2_grpc, window_pb2, window_pb2_grpc, witness_pb2,
    witness_pb2_grpc,
)

STRANGER = "320000"  # 江苏: a province of the federation with no part in the case
WINDOW, COMPETENT = WINDOW_PROVINCE, COMPETENT_PROVINCE
HANGZHOU_CLERK, HEFEI_OFFICER, HANGZHOU_AUDITOR = "clerk-hangzhou-002", "officer-hefei-009", "auditor-hangzhou-003"
SHA = "ab" * 32

# Every caller the matrix tries: (kind, province) -> operator id (None for a node).
CALLERS: dict[str, tuple[str, str | None]] = {
    f"node:{WINDOW}": (WINDOW, None),
    f"node:{COMPETENT}": (COMPETENT, None),
    f"node:{STRANGER}": (STRANGER, None),
    f"window:{WINDOW}": (WINDOW, CLERK),
    f"window:{COMPETENT}": (COMPETENT, HANGZHOU_CLERK),
    f"officer:{COMPETENT}": (COMPETENT, OFFICER),
    f"officer:{WINDOW}": (WINDOW, HEFEI_OFFICER),
    f"auditor:{WINDOW}": (WINDOW, AUDITOR),
    f"auditor:{COMPETENT}": (COMPETENT, HANGZHOU_AUDITOR),
}


@dataclass
class Federated:
    federation: Federation
    nodes: dict[str, RunningNode]
    case_number: str  # a proxy case: taken in at the window's node, decided at the competent one
    joint_number: str  # a 多地联办 case accepted at the window's node, with a part at the competent one
    channels: dict[tuple[str, str], grpc.Channel]

    def channel(self, caller: str, target: str) -> grpc.Channel:
        key = (caller, target)
        if key not in self.channels:
            province, operator = CALLERS[caller]
            cert, private = (self.federation.node_tls(province) if operator is None
                             else self.federation.operator_tls(province, operator))
            creds = channel_credentials(self.federation, cert_pem=cert, key_pem=private, province_of_cert=province)
            self.channels[key] = secure_channel(self.nodes[target].address, creds, province=target)
        return self.channels[key]

    def refusals(self, target: str) -> int:
        assert self.nodes[target].keeper is not None
        with self.nodes[target].keeper.open() as store:
            return len(store.notes(NOTE_KIND))


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federated]:
    # A federation of its own: some tests below revoke certificates and forge others.
    federation = make_federation(tmp_path_factory.mktemp("authz"))
    federation.issue_operator(WINDOW, role="officer", operator_id=HEFEI_OFFICER)
    federation.issue_operator(COMPETENT, role="auditor", operator_id=HANGZHOU_AUDITOR)
    configs = loopback_configs(tmp_path_factory.mktemp("authz-nodes"), [WINDOW, COMPETENT],
                               pki_dir=federation.directory)
    nodes = {code: start_node(c) for code, c in configs.items()}
    federated = Federated(federation, nodes, approved_case(federation, nodes), joint_case(federation, nodes), {})
    yield federated
    for channel in federated.channels.values():
        channel.close()
    for n in nodes.values():
        n.stop()


def approved_case(federation: Federation, nodes: dict[str, RunningNode]) -> str:
    from nodes.clients import operator_channel

    with operator_channel(federation, province=WINDOW, operator_id=CLERK, address=nodes[WINDOW].address) as ch:
        window = WindowClient(ch)
        scan = window.upload([scanned_id_card()], kind="id_card", file_name="id.png", media_type="image/png")
        form = window.upload([signed_application_form(applicant="李四", id_masked="x", matter="补领")],
                             kind="application_form", file_name="form.pdf", media_type="application/pdf")
        case = window.submit(matter_code=MATTER, competent_province=COMPETENT, applicant_name="李四",
                             applicant_id=make_resident_id("34010219900101001"), materials=[scan, form],
                             checklist={"id_card": True, "application_form": True})
    with operator_channel(federation, province=COMPETENT, operator_id=OFFICER, address=nodes[COMPETENT].address) as ch:
        officer = OfficerClient(ch)
        officer.accept(case.case_number)
        assert officer.approve(case.case_number).status == "result_delivered"
    return case.case_number


def joint_case(federation: Federation, nodes: dict[str, RunningNode]) -> str:
    """Accepted at Anhui (迁入地) with Zhejiang's part handed out."""
    from nodes.clients import operator_channel

    with operator_channel(federation, province=WINDOW, operator_id=CLERK, address=nodes[WINDOW].address) as ch:
        window = WindowClient(ch)
        scan = window.upload([scanned_id_card()], kind="id_card", file_name="id.png", media_type="image/png")
        forms = [window.upload([signed_application_form(applicant="李四", id_masked="x", matter="迁移")], kind=kind,
                               file_name=f"{kind}.pdf", media_type="application/pdf")
                 for kind in ("application_form", "supporting_document")]
        case = window.submit_joint(matter_code=JOINT_MATTER, partner_provinces=[COMPETENT], applicant_name="李四",
                                   applicant_id=make_resident_id("34010219900101001"), materials=[scan, *forms],
                                   checklist={"id_card": True, "application_form": True, "supporting_document": True})
    with operator_channel(federation, province=WINDOW, operator_id=HEFEI_OFFICER, address=nodes[WINDOW].address) as ch:
        assert OfficerClient(ch).accept(case.case_number).progress.tasks[0].status == "assigned"
    return case.case_number


JOINT_MATTER = "KS35-061"


# -- the matrix ------------------------------------------------------------------------------------

Build = Callable[[str, str], Any]  # (case number, caller's province) -> request (or an iterator of them)


@dataclass(frozen=True)
class Rpc:
    stub: Any
    method: str
    target: str
    allowed: frozenset[str]
    build: Build
    joint: bool = False  # about the joint case rather than the proxy one

    @property
    def name(self) -> str:
        return f"{self.method}@{self.target}{'-joint' if self.joint else ''}"


def rpc(stub: Any, method: str, target: str, allowed: set[str], build: Build, *, joint: bool = False) -> Rpc:
    return Rpc(stub, method, target, frozenset(allowed), build, joint)


def case_ref(n: str, _: str) -> common_pb2.CaseRef:
    return common_pb2.CaseRef(case_number=n)


def material(n: str = "") -> common_pb2.MaterialRef:
    return common_pb2.MaterialRef(kind="id_card", file_name="id.png", media_type="image/png", size=10, sha256=SHA)


def push(n: str, p: str) -> Iterator[peer_pb2.MaterialPush]:
    header = common_pb2.MaterialHeader(kind="id_card", file_name="id.png", media_type="image/png", sha256=SHA,
                                       case_number=n, from_province=p)
    yield peer_pb2.MaterialPush(header=peer_pb2.PushHeader(material=header, size=10, offset=0))


def upload(n: str, p: str) -> Iterator[common_pb2.MaterialChunk]:
    yield common_pb2.MaterialChunk(header=common_pb2.MaterialHeader(kind="id_card", file_name="a.png",
                                                                    media_type="image/png"))


def envelope(n: str, p: str) -> peer_pb2.CaseEnvelope:
    return peer_pb2.CaseEnvelope(case_number=n, matter_code=MATTER, mode="proxy", origin_province=p,
                                 competent_province=COMPETENT, competent_department="market",
                                 applicant=common_pb2.Applicant(name="李四", id_number="x"), from_province=p)


W, C = WINDOW, COMPETENT
CLERK_W, OFFICER_C, AUDITOR_W = {f"window:{W}"}, {f"officer:{C}"}, {f"auditor:{W}"}
NOBODY: set[str] = set()
ANY_OTHER_NODE_OF = {W: {f"node:{C}", f"node:{STRANGER}"}, C: {f"node:{W}", f"node:{STRANGER}"}}

MATRIX = [
    # WindowService at the window's node: its own clerks only; writes only on cases taken in here.
    rpc(window_pb2_grpc.WindowServiceStub, "UploadMaterial", W, CLERK_W, upload),
    rpc(window_pb2_grpc.WindowServiceStub, "UploadWholeMaterial", W, CLERK_W,
        lambda n, p: window_pb2.WholeMaterial(header=common_pb2.MaterialHeader(
            kind="id_card", file_name="a.png", media_type="image/png"))),
    rpc(window_pb2_grpc.WindowServiceStub, "SubmitApplication", W, CLERK_W,
        lambda n, p: window_pb2.SubmitApplicationRequest(matter_code=MATTER, competent_province=C)),
    rpc(window_pb2_grpc.WindowServiceStub, "SubmitOnline", W, CLERK_W,
        lambda n, p: window_pb2.SubmitOnlineRequest(matter_code=MATTER)),
    rpc(window_pb2_grpc.WindowServiceStub, "SubmitJoint", W, CLERK_W,
        lambda n, p: window_pb2.SubmitJointRequest(matter_code=MATTER, partner_provinces=[C])),
    rpc(window_pb2_grpc.WindowServiceStub, "GetCase", W, CLERK_W, case_ref),
    rpc(window_pb2_grpc.WindowServiceStub, "SearchCatalog", W, CLERK_W, lambda n, p: common_pb2.CatalogQuery(text="营业执照")),
    rpc(window_pb2_grpc.WindowServiceStub, "SupplementCase", W, CLERK_W,
        lambda n, p: window_pb2.SupplementCaseRequest(case_number=n)),
    rpc(window_pb2_grpc.WindowServiceStub, "WithdrawCase", W, CLERK_W,
        lambda n, p: window_pb2.WithdrawRequest(case_number=n, reason="不办了")),
    rpc(window_pb2_grpc.WindowServiceStub, "VerifyResult", W, CLERK_W, case_ref),
    rpc(window_pb2_grpc.WindowServiceStub, "PrintResult", W, CLERK_W, lambda n, p: window_pb2.PrintRequest(case_number=n)),
    rpc(window_pb2_grpc.WindowServiceStub, "MailResult", W, CLERK_W,
        lambda n, p: window_pb2.MailRequest(case_number=n, carrier="EMS", tracking_number="1", address="合肥")),
    rpc(window_pb2_grpc.WindowServiceStub, "DeliverOnline", W, CLERK_W,
        lambda n, p: window_pb2.DeliverOnlineRequest(case_number=n, channel="皖事通")),
    rpc(window_pb2_grpc.WindowServiceStub, "EvaluateCase", W, CLERK_W,
        lambda n, p: window_pb2.EvaluationRequest(case_number=n, rating="满意")),
    rpc(window_pb2_grpc.WindowServiceStub, "CloseCase", W, CLERK_W, case_ref),
    rpc(window_pb2_grpc.WindowServiceStub, "Monitor", W, CLERK_W, lambda n, p: common_pb2.MonitorRequest()),
    rpc(window_pb2_grpc.WindowServiceStub, "ListCases", W, CLERK_W, lambda n, p: window_pb2.CaseQuery(case_number=n)),
    rpc(window_pb2_grpc.WindowServiceStub, "CaseHistory", W, CLERK_W, case_ref),
    rpc(window_pb2_grpc.WindowServiceStub, "GetResultDocument", W, CLERK_W, case_ref),
    # At the competent node its own clerk may read, but may not act on a case another window took in.
    rpc(window_pb2_grpc.WindowServiceStub, "GetCase", C, {f"window:{C}"}, case_ref),
    rpc(window_pb2_grpc.WindowServiceStub, "WithdrawCase", C, NOBODY,
        lambda n, p: window_pb2.WithdrawRequest(case_number=n, reason="不办了")),
    rpc(window_pb2_grpc.WindowServiceStub, "PrintResult", C, NOBODY, lambda n, p: window_pb2.PrintRequest(case_number=n)),
    rpc(window_pb2_grpc.WindowServiceStub, "CaseHistory", C, NOBODY, case_ref),
    rpc(window_pb2_grpc.WindowServiceStub, "GetResultDocument", C, NOBODY, case_ref),
    rpc(window_pb2_grpc.WindowServiceStub, "CloseCase", C, NOBODY, case_ref),
    # DepartmentService at the competent node: its own officers only (not clerks, not auditors).
    rpc(department_pb2_grpc.DepartmentServiceStub, "GetCase", C, OFFICER_C, case_ref),
    rpc(department_pb2_grpc.DepartmentServiceStub, "AcceptCase", C, OFFICER_C,
        lambda n, p: department_pb2.DecisionRequest(case_number=n)),
    rpc(department_pb2_grpc.DepartmentServiceStub, "ApproveCase", C, OFFICER_C,
        lambda n, p: department_pb2.DecisionRequest(case_number=n)),
    rpc(department_pb2_grpc.DepartmentServiceStub, "RequestSupplement", C, OFFICER_C,
        lambda n, p: department_pb2.SupplementNotice(case_number=n, missing=["申请书"])),
    rpc(department_pb2_grpc.DepartmentServiceStub, "RejectCase", C, OFFICER_C,
        lambda n, p: department_pb2.RejectRequest(case_number=n, legal_basis="第一条", reason="不符")),
    rpc(department_pb2_grpc.DepartmentServiceStub, "ReturnCase", C, OFFICER_C,
        lambda n, p: department_pb2.ReturnRequest(case_number=n, reason="不属本部门")),
    rpc(department_pb2_grpc.DepartmentServiceStub, "CompletePart", C, OFFICER_C,
        lambda n, p: department_pb2.PartRequest(case_number=n, outcome="已办结")),
    rpc(department_pb2_grpc.DepartmentServiceStub, "Monitor", C, OFFICER_C, lambda n, p: common_pb2.MonitorRequest()),
    # At the window's node an officer of that province decides nothing about another's case.
    rpc(department_pb2_grpc.DepartmentServiceStub, "GetCase", W, {f"officer:{W}"}, case_ref),
    rpc(department_pb2_grpc.DepartmentServiceStub, "ApproveCase", W, NOBODY,
        lambda n, p: department_pb2.DecisionRequest(case_number=n)),
    rpc(department_pb2_grpc.DepartmentServiceStub, "RejectCase", W, NOBODY,
        lambda n, p: department_pb2.RejectRequest(case_number=n, legal_basis="第一条", reason="不符")),
    # AuditService: the node's own auditors, read-only.
    rpc(audit_pb2_grpc.AuditServiceStub, "CaseTimeline", W, AUDITOR_W, case_ref),
    rpc(audit_pb2_grpc.AuditServiceStub, "FederatedTimeline", W, AUDITOR_W, case_ref),
    rpc(audit_pb2_grpc.AuditServiceStub, "NodeLog", W, AUDITOR_W, lambda n, p: audit_pb2.NodeLogRequest(limit=1)),
    rpc(audit_pb2_grpc.AuditServiceStub, "CaseStateAt", W, AUDITOR_W, lambda n, p: audit_pb2.CaseStateRequest(case_number=n)),
    rpc(audit_pb2_grpc.AuditServiceStub, "VerifyLog", W, AUDITOR_W, lambda n, p: audit_pb2.VerifyLogRequest()),
    rpc(audit_pb2_grpc.AuditServiceStub, "MakeCheckpoint", W, AUDITOR_W, lambda n, p: audit_pb2.MakeCheckpointRequest()),
    rpc(audit_pb2_grpc.AuditServiceStub, "ResultInclusionProof", C, {f"auditor:{C}"}, case_ref),
    rpc(audit_pb2_grpc.AuditServiceStub, "EvidenceBundle", W, AUDITOR_W, case_ref),
    rpc(audit_pb2_grpc.AuditServiceStub, "Refusals", W, AUDITOR_W, lambda n, p: audit_pb2.RefusalsRequest(limit=1)),
    # PeerService: the case's parties, each in its part.
    rpc(peer_pb2_grpc.PeerServiceStub, "PushMaterial", C, {f"node:{W}"}, push),
    rpc(peer_pb2_grpc.PeerServiceStub, "GetTransferOffset", C, {f"node:{W}"},
        lambda n, p: peer_pb2.TransferRef(case_number=n, sha256=SHA, from_province=p)),
    rpc(peer_pb2_grpc.PeerServiceStub, "ForwardCase", C, {f"node:{W}"}, envelope),
    rpc(peer_pb2_grpc.PeerServiceStub, "DeliverResult", W, {f"node:{C}"},
        lambda n, p: peer_pb2.ResultEnvelope(case_number=n, from_province=p, pdf=b"%PDF-", issued_sha256=SHA)),
    rpc(peer_pb2_grpc.PeerServiceStub, "GetIssuedResult", C, {f"node:{W}"}, case_ref),
    rpc(peer_pb2_grpc.PeerServiceStub, "GetIssuedResult", W, NOBODY, case_ref),
    # CoordinationService: the competent node tells the origin; partners report; the accepting node assigns.
    rpc(joint_pb2_grpc.CoordinationServiceStub, "NotifyProgress", W, {f"node:{C}"},
        lambda n, p: joint_pb2.ProgressNotice(case_number=n, from_province=p, step="rejected", reason="不符")),
    rpc(joint_pb2_grpc.CoordinationServiceStub, "NotifyProgress", C, {f"node:{W}"},
        lambda n, p: joint_pb2.ProgressNotice(case_number=n, from_province=p, step="withdrawn", reason="撤回")),
    rpc(joint_pb2_grpc.CoordinationServiceStub, "ReportTask", C, NOBODY,
        lambda n, p: joint_pb2.TaskReport(case_number=n, from_province=p, outcome="已迁出")),
    rpc(joint_pb2_grpc.CoordinationServiceStub, "AssignTask", C, NOBODY,
        lambda n, p: joint_pb2.TaskAssignment(case_number=n, from_province=p, matter_code=MATTER,
                                              department="market", task="迁出", partners=[C],
                                              competent_department="market")),
    # 多地联办: the partner reports to the accepting node; the accepting node hands out and withdraws parts.
    rpc(joint_pb2_grpc.CoordinationServiceStub, "ReportTask", W, {f"node:{C}"},
        lambda n, p: joint_pb2.TaskReport(case_number=n, from_province=p, outcome="已迁出"), joint=True),
    rpc(joint_pb2_grpc.CoordinationServiceStub, "AssignTask", C, {f"node:{W}"},
        lambda n, p: joint_pb2.TaskAssignment(case_number=n, from_province=p, matter_code=JOINT_MATTER,
                                              department="public_security", task="迁出", partners=[C],
                                              competent_department="public_security"), joint=True),
    rpc(joint_pb2_grpc.CoordinationServiceStub, "NotifyProgress", C, {f"node:{W}"},
        lambda n, p: joint_pb2.ProgressNotice(case_number=n, from_province=p, step="identified",
                                              identity=common_pb2.IdentityCheck(method="id_card_reader",
                                                                                verified=True)), joint=True),
    rpc(department_pb2_grpc.DepartmentServiceStub, "CompletePart", C, OFFICER_C,
        lambda n, p: department_pb2.PartRequest(case_number=n, outcome="已迁出"), joint=True),
    rpc(witness_pb2_grpc.WitnessServiceStub, "CaseEvents", C, {f"node:{W}"}, case_ref, joint=True),
    rpc(witness_pb2_grpc.WitnessServiceStub, "CaseEvents", W, {f"node:{C}"}, case_ref, joint=True),
    rpc(window_pb2_grpc.WindowServiceStub, "CloseCase", C, NOBODY, case_ref, joint=True),
    # WitnessService: a case's own side only to its parties; checkpoints to any partner node.
    rpc(witness_pb2_grpc.WitnessServiceStub, "CaseEvents", C, {f"node:{W}"}, case_ref),
    rpc(witness_pb2_grpc.WitnessServiceStub, "CaseEvidence", C, {f"node:{W}"}, case_ref),
    rpc(witness_pb2_grpc.WitnessServiceStub, "LastSeen", C, ANY_OTHER_NODE_OF[C], lambda n, p: witness_pb2.LogRef(log=p)),
    # DirectoryService: public trust material, to any node of the federation.
    rpc(directory_pb2_grpc.DirectoryServiceStub, "GetRevocationLists", W, ANY_OTHER_NODE_OF[W],
        lambda n, p: directory_pb2.RevocationListsRequest()),
    rpc(directory_pb2_grpc.DirectoryServiceStub, "GetTrustMaterial", W, ANY_OTHER_NODE_OF[W],
        lambda n, p: directory_pb2.TrustMaterialRequest()),
]


def call(fed: Federated, entry: Rpc, caller: str) -> grpc.RpcError | None:
    stub = entry.stub(fed.channel(caller, entry.target))
    province = CALLERS[caller][0]
    try:
        number = fed.joint_number if entry.joint else fed.case_number
        reply = getattr(stub, entry.method)(entry.build(number, province), timeout=10)
        if isinstance(reply, Iterator):
            list(reply)
    except grpc.RpcError as exc:
        return exc
    return None


def refused_callers(entry: Rpc) -> list[str]:
    return [c for c in CALLERS if c not in entry.allowed]


@pytest.mark.parametrize("entry", MATRIX, ids=lambda e: e.name)
def test_every_rpc_refuses_every_caller_without_the_right_and_records_it(fed: Federated, entry: Rpc) -> None:
    before = fed.refusals(entry.target)
    wrong = []
    for caller in refused_callers(entry):
        error = call(fed, entry, caller)
        if error is None or error.code() != grpc.StatusCode.PERMISSION_DENIED or not error.details():
            wrong.append(f"{caller}: {'accepted' if error is None else f'{error.code().name}: {error.details()}'}")
    assert not wrong, f"{entry.name} should refuse with PERMISSION_DENIED:\n" + "\n".join(wrong)
    assert fed.refusals(entry.target) == before + len(refused_callers(entry)), "every refusal is recorded"


@pytest.mark.parametrize("entry", [e for e in MATRIX if e.allowed], ids=lambda e: e.name)
def test_the_callers_with_the_right_are_not_refused_for_who_they_are(fed: Federated, entry: Rpc) -> None:
    # The requests are minimal, so many fail for what they say (a step the case is past, a hash
    # that does not match); none may fail for who sent them.
    for caller in sorted(entry.allowed):
        error = call(fed, entry, caller)
        assert error is None or error.code() not in {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                                                     grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, (
            f"{caller} on {entry.name}: {error.code().name}: {error.details()}")


def test_the_matrix_covers_every_rpc_of_every_service() -> None:
    from nodes.server import SERVICES
    from tongban_pb import audit_pb2 as a, department_pb2 as d, directory_pb2 as r, joint_pb2 as j
    from tongban_pb import peer_pb2 as pe, window_pb2 as w, witness_pb2 as wi

    declared = {f"{s.name}.{m.name}" for mod in (a, d, r, j, pe, w, wi) for s in mod.DESCRIPTOR.services_by_name.values()
                for m in s.methods if s.full_name in SERVICES}
    tried = {f"{e.stub.__name__.removesuffix('Stub')}.{e.method}" for e in MATRIX}
    # Witness is checked in its own tests (a node may only submit its own log): it needs a signed checkpoint.
    assert declared - tried == {"WitnessService.Witness"}


def test_a_refusal_records_who_which_rpc_why_and_the_case_but_no_personal_data(fed: Federated) -> None:
    stub = window_pb2_grpc.WindowServiceStub(fed.channel(f"auditor:{WINDOW}", WINDOW))
    with pytest.raises(grpc.RpcError) as refused:
        stub.CloseCase(common_pb2.CaseRef(case_number=fed.case_number), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert fed.nodes[WINDOW].refusals is not None
    last = fed.nodes[WINDOW].refusals.list(limit=1)[0]
    assert (last.method, last.code, last.province, last.role, last.operator, last.case_number) == (
        "/tongban.v1.WindowService/CloseCase", "PERMISSION_DENIED", WINDOW, "auditor", AUDITOR, fed.case_number)
    assert "role 'window'" in last.reason and len(last.fingerprint_sha256) == 64
    assert "李四" not in repr(last) and "34010219900101001" not in repr(last)

    # The node's auditor reads the same record over gRPC.
    from nodes.clients import AuditorClient

    listed = AuditorClient(fed.channel(f"auditor:{WINDOW}", WINDOW)).refusals(province=WINDOW, limit=1)
    assert listed.node == WINDOW and listed.refusals[-1].method == "/tongban.v1.WindowService/CloseCase"
    assert listed.refusals[-1].operator == AUDITOR


def test_tongban_audit_refusals_lists_what_the_node_refused(fed: Federated, capsys: pytest.CaptureFixture[str]) -> None:
    from nodes.cli import main
    from nodes.config import to_toml

    stub = department_pb2_grpc.DepartmentServiceStub(fed.channel(f"window:{COMPETENT}", COMPETENT))
    with pytest.raises(grpc.RpcError):
        stub.ApproveCase(department_pb2.DecisionRequest(case_number=fed.case_number), timeout=10)
    config = fed.nodes[COMPETENT].node.config
    path = config.data_dir / "node.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    assert main(["audit", "refusals", "--config", str(path), "--province", COMPETENT, "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "PERMISSION_DENIED" in out and "DepartmentService/ApproveCase" in out and HANGZHOU_CLERK in out


# -- identities that are not usable at all: UNAUTHENTICATED -----------------------------------------

def forged(federation: Federation, *, signed_by: str, uris: list[str], dns: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A client certificate issued by `signed_by`'s CA with whatever URIs we like."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from signing.pki import _issue, _name, _pem

    ca_cert, ca_key, _ = federation._ca(signed_by)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(subject=_name("forger", organization="x"), key=key, issuer=(ca_cert, ca_key), days=1, uris=uris, dns=dns,
                  key_usage={"digital_signature": True}, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return _pem(cert), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())


def call_with(fed: Federated, cert: bytes, key: bytes, *, issuer: str) -> grpc.RpcError:
    creds = channel_credentials(fed.federation, cert_pem=cert, key_pem=key, province_of_cert=issuer)
    with secure_channel(fed.nodes[WINDOW].address, creds, province=WINDOW) as ch:
        with pytest.raises(grpc.RpcError) as refused:
            peer_pb2_grpc.PeerServiceStub(ch).GetIssuedResult(common_pb2.CaseRef(case_number=fed.case_number), timeout=10)
    return refused.value


def test_a_certificate_without_a_federation_identity_is_unauthenticated_and_recorded(fed: Federated) -> None:
    before = fed.refusals(WINDOW)
    cert, key = forged(fed.federation, signed_by=COMPETENT, uris=[], dns=("forger.example.org",))
    error = call_with(fed, cert, key, issuer=COMPETENT)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "urn:tongban:province" in error.details()
    assert fed.refusals(WINDOW) == before + 1


def test_a_certificate_without_any_alternative_name_is_unauthenticated(fed: Federated) -> None:
    cert, key = forged(fed.federation, signed_by=COMPETENT, uris=[])
    error = call_with(fed, cert, key, issuer=COMPETENT)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "has no subjectAltName" in error.details()


def test_a_province_ca_cannot_issue_certificates_for_another_province(fed: Federated) -> None:
    # Jiangsu's CA signs a node certificate that claims to be Zhejiang's.
    cert, key = forged(fed.federation, signed_by=STRANGER, uris=[province_uri(COMPETENT), role_uri("node")])
    error = call_with(fed, cert, key, issuer=STRANGER)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "not issued by that province's CA" in error.details()


def test_a_revoked_operator_certificate_is_refused_within_a_second(fed: Federated) -> None:
    import time

    cert, key = fed.federation.issue_operator(WINDOW, role="window", operator_id="clerk-leaving-001")
    creds = channel_credentials(fed.federation, cert_pem=cert, key_pem=key, province_of_cert=WINDOW)
    ref = common_pb2.CaseRef(case_number=fed.case_number)
    with secure_channel(fed.nodes[WINDOW].address, creds, province=WINDOW) as ch:
        window = window_pb2_grpc.WindowServiceStub(ch)
        assert window.GetCase(ref, timeout=10).case_number
        fed.federation.revoke(WINDOW, cert_pem=cert)
        time.sleep(1.1)  # the node re-reads its CRLs at most once a second
        with pytest.raises(grpc.RpcError) as refused:
            window.GetCase(ref, timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in refused.value.details()


# -- deadlines and rate limits ---------------------------------------------------------------------

def test_a_call_between_nodes_without_a_deadline_is_refused(fed: Federated) -> None:
    stub = peer_pb2_grpc.PeerServiceStub(fed.channel(f"node:{WINDOW}", COMPETENT))
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetIssuedResult(common_pb2.CaseRef(case_number=fed.case_number))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("deadline:")


@contextlib.contextmanager
def rate_limited_window(tmp_path: Path, *, burst: int) -> Iterator[tuple[RunningNode, grpc.Channel]]:
    """A window node granting `burst` calls, then one token every 50 s (however slow this
    machine, none comes back during a test), and a clerk's channel to it."""
    federation = make_federation(tmp_path / "rate")
    config = loopback_configs(tmp_path, [WINDOW], pki_dir=federation.directory)[WINDOW]
    node = start_node(dataclasses.replace(config, rate_limit_per_second=0.02, rate_limit_burst=burst))
    try:
        cert, key = federation.operator_tls(WINDOW, CLERK)
        creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=WINDOW)
        with secure_channel(node.address, creds, province=WINDOW) as ch:
            yield node, ch
    finally:
        node.stop()


def test_a_caller_over_its_rate_is_told_when_to_retry_and_the_first_refusal_is_recorded(tmp_path: Path) -> None:
    with rate_limited_window(tmp_path, burst=3) as (node, ch):
        window = window_pb2_grpc.WindowServiceStub(ch)
        query = common_pb2.CatalogQuery(text="营业执照")
        for _ in range(3):
            window.SearchCatalog(query, timeout=10)
        errors = []
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as refused:
                window.SearchCatalog(query, timeout=10)
            errors.append(refused.value)
        assert {e.code() for e in errors} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert "retry after" in errors[0].details()
        hint = dict(errors[0].trailing_metadata() or ())
        assert 0 < int(hint["retry-after-ms"]) <= 50_001
        assert node.refusals is not None
        recorded = [r for r in node.refusals.list() if r.code == "RESOURCE_EXHAUSTED"]
        assert len(recorded) == 1 and recorded[0].operator == CLERK


def test_a_material_stream_counts_once_against_the_rate_whatever_its_size(tmp_path: Path) -> None:
    with rate_limited_window(tmp_path, burst=2) as (_, ch):
        window = WindowClient(ch)
        pdf = signed_application_form(applicant="李四", id_masked="x", matter="补领")
        big = [pdf + b"\n%" + b"x" * (3 << 20)]  # several 1 MiB chunks in one stream
        stored = window.upload(big, kind="application_form", file_name="a.pdf", media_type="application/pdf")
        assert stored.size == len(big[0]) and stored.sha256 == hashlib.sha256(big[0]).hexdigest()
        window.search_catalog("营业执照")  # the second token: still granted


def test_a_flood_of_refusals_is_counted_rather_than_filling_the_store(tmp_path: Path) -> None:
    from nodes.refusals import Refusal, RefusalLog
    from storage.eventstore import EventStoreSettings, open_log_store
    from exchange.ledger import CaseLedger

    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite")
    CaseLedger(env=settings.application_env()).close()  # creates the log and its notes table
    now = [0.0]
    refusals = RefusalLog(open_store=lambda: open_log_store(settings), per_second=1.0, burst=3, clock=lambda: now[0])
    flood = Refusal.now(method="/tongban.v1.PeerService/ForwardCase", code="PERMISSION_DENIED", reason="not a party",
                        province=STRANGER, role="node")
    for _ in range(10):
        refusals.record(flood)
    now[0] = 5.0
    refusals.record(flood)
    listed = refusals.list()
    assert len(listed) == 4 and [r.suppressed for r in listed] == [0, 0, 0, 7]
    assert "+7 more" in listed[-1].render()


def test_refusals_are_recorded_in_a_postgresql_event_store_too(tmp_path: Path, federation: Federation,
                                                                postgres_schema) -> None:  # type: ignore[no-untyped-def]
    config = loopback_configs(tmp_path, [WINDOW], event_store=postgres_schema, pki_dir=federation.directory)[WINDOW]
    node = start_node(config)
    try:
        cert, key = federation.operator_tls(COMPETENT, OFFICER)
        creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=COMPETENT)
        with secure_channel(node.address, creds, province=WINDOW) as ch, pytest.raises(grpc.RpcError) as refused:
            window_pb2_grpc.WindowServiceStub(ch).Monitor(common_pb2.MonitorRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert node.refusals is not None
        [recorded] = node.refusals.list()
        assert (recorded.province, recorded.role, recorded.operator) == (COMPETENT, "officer", OFFICER)
    finally:
        node.stop()


# -- sizes and fields ------------------------------------------------------------------------------

def test_a_message_over_the_size_limit_is_refused_by_the_server_and_records_nothing(fed: Federated) -> None:
    from nodes.tls import MAX_MESSAGE, node_hostname

    cert, key = fed.federation.node_tls(COMPETENT)
    creds = channel_credentials(fed.federation, cert_pem=cert, key_pem=key, province_of_cert=COMPETENT)
    # A client that would send more than nodes do: the server's own limit must hold.
    options = [("grpc.ssl_target_name_override", node_hostname(WINDOW)), ("grpc.max_send_message_length", -1)]
    recorder = fed.nodes[WINDOW].node.context.ledger.recorder
    before = recorder.max_notification_id()
    with grpc.secure_channel(fed.nodes[WINDOW].address, creds, options=options) as ch:
        with pytest.raises(grpc.RpcError) as refused:
            peer_pb2_grpc.PeerServiceStub(ch).DeliverResult(peer_pb2.ResultEnvelope(
                case_number=fed.case_number, from_province=COMPETENT, pdf=b"%PDF-" + bytes(MAX_MESSAGE),
                issued_sha256=SHA), timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert recorder.max_notification_id() == before


def test_a_malformed_field_deep_in_a_peer_message_is_refused_naming_it(fed: Federated) -> None:
    stub = peer_pb2_grpc.PeerServiceStub(fed.channel(f"node:{WINDOW}", COMPETENT))
    bad = envelope(fed.case_number, WINDOW)
    bad.materials.extend([material(), common_pb2.MaterialRef(kind="id_card", file_name="b.png", media_type="image/png",
                                                             size=1, sha256=SHA.upper())])
    with pytest.raises(grpc.RpcError) as refused:
        stub.ForwardCase(bad, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("materials[1].sha256:")


def revoke_province_ca(federation: Federation, province: str) -> None:
    """What the root does after a province CA is compromised: its serial goes on the root's CRL."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from signing.pki import _crl

    root_cert, root_key, folder = federation._ca(None)
    province_ca = x509.load_pem_x509_certificate(federation.province_ca_pem(province))
    old = x509.load_pem_x509_crl((folder / "crl.pem").read_bytes())
    number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    entry = (x509.RevokedCertificateBuilder().serial_number(province_ca.serial_number)
             .revocation_date(dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).build())
    crl = _crl(issuer=root_cert, key=root_key, number=number, revoked=[*old, entry])
    (folder / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def test_certificates_of_a_province_whose_ca_the_root_revoked_are_refused(tmp_path: Path) -> None:
    import time

    federation = make_federation(tmp_path / "revoked-ca")
    config = loopback_configs(tmp_path, [WINDOW], pki_dir=federation.directory)[WINDOW]
    node = start_node(config)
    try:
        cert, key = federation.node_tls(STRANGER)
        creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=STRANGER)
        with secure_channel(node.address, creds, province=WINDOW) as ch:
            directory = directory_pb2_grpc.DirectoryServiceStub(ch)
            directory.GetTrustMaterial(directory_pb2.TrustMaterialRequest(), timeout=10)
            revoke_province_ca(federation, STRANGER)
            time.sleep(1.1)  # the node re-reads CRLs at most once a second
            with pytest.raises(grpc.RpcError) as refused:
                directory.GetTrustMaterial(directory_pb2.TrustMaterialRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "revoked by the federation root" in refused.value.details()
    finally:
        node.stop()


def test_a_flood_from_many_certificates_is_counted_against_the_whole_node_too(tmp_path: Path) -> None:
    from nodes.refusals import Refusal, RefusalLog
    from storage.eventstore import EventStoreSettings, open_log_store
    from exchange.ledger import CaseLedger

    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite")
    CaseLedger(env=settings.application_env()).close()
    now = [0.0]
    refusals = RefusalLog(open_store=lambda: open_log_store(settings), node_per_second=1.0, node_burst=5,
                          clock=lambda: now[0])
    for n in range(50):  # fifty certificates, once each: each within its own allowance
        refusals.record(Refusal.now(method="/tongban.v1.WindowService/Monitor", code="PERMISSION_DENIED",
                                    reason="not this province's clerk", province=STRANGER, role="window",
                                    operator=f"clerk-{n}"))
    assert len(refusals.list()) == 5  # before: all fifty
