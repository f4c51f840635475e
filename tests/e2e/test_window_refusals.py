"""The window refuses to print what it cannot trust, and peers refuse who they cannot trust.
Two real nodes (in this process) on loopback, talking gRPC over mutual TLS."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from exchange.people import make_resident_id
from nodes.clients import AuditorClient, OfficerClient, WindowClient, operator_channel
from nodes.demo import AUDITOR, CLERK, COMPETENT_PROVINCE, MATTER, OFFICER, WINDOW_PROVINCE
from nodes.samples import scanned_id_card
from nodes.server import RunningNode
from nodes.tls import channel_credentials, secure_channel
from signing.pki import Federation
from signing.seal import DepartmentSealer
from storage.keys import object_key
from tests.fixtures.cases import submit_sample_case
from tests.fixtures.nodes import nodes_on_loopback
from tests.fixtures.signing_assets import flip_byte_in_page_content, overwrite_applicant_name, request
from tongban_pb import common_pb2, peer_pb2, peer_pb2_grpc, witness_pb2_grpc

JIANGSU = "320000"


@dataclass
class Pair:
    federation: Federation
    nodes: dict[str, RunningNode]

    def window(self) -> grpc.Channel:
        return operator_channel(self.federation, province=WINDOW_PROVINCE, operator_id=CLERK,
                                address=self.nodes[WINDOW_PROVINCE].address)

    def officer(self) -> grpc.Channel:
        return operator_channel(self.federation, province=COMPETENT_PROVINCE, operator_id=OFFICER,
                                address=self.nodes[COMPETENT_PROVINCE].address)

    def channel_as(self, province: str, *, of: Federation | None = None) -> grpc.Channel:
        """A channel to the window's node presenting `province`'s node certificate."""
        fed = of or self.federation
        cert, key = fed.node_tls(province)
        chain = cert + fed.province_ca_pem(province)
        creds = grpc.ssl_channel_credentials(self.federation.root_pem(), key, chain)
        return secure_channel(self.nodes[WINDOW_PROVINCE].address, creds, province=WINDOW_PROVINCE)

    def as_node(self, province: str, *, of: Federation | None = None) -> peer_pb2_grpc.PeerServiceStub:
        return peer_pb2_grpc.PeerServiceStub(self.channel_as(province, of=of))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, federation: Federation) -> Iterator[Pair]:
    with nodes_on_loopback(tmp_path_factory.mktemp("pair"), federation) as nodes:
        yield Pair(federation, nodes)


def forwarded_case(pair: Pair) -> str:
    with pair.window() as ch:
        case = submit_sample_case(WindowClient(ch))
    assert case.status == "forwarded"
    return case.case_number


def approved_case(pair: Pair) -> str:
    number = forwarded_case(pair)
    with pair.officer() as ch:
        officer = OfficerClient(ch)
        officer.accept(number)
        assert officer.approve(number).status == "result_delivered"
    return number


def deliver_as_zhejiang(pair: Pair, number: str, pdf: bytes) -> None:
    pair.as_node(COMPETENT_PROVINCE).DeliverResult(peer_pb2.ResultEnvelope(
        case_number=number, from_province=COMPETENT_PROVINCE, pdf=pdf,
        issued_sha256=hashlib.sha256(pdf).hexdigest()), timeout=10)


def refused_print(pair: Pair, number: str) -> grpc.RpcError:
    spool = pair.nodes[WINDOW_PROVINCE].node.config.spool_dir
    before = set(spool.iterdir())
    with pair.window() as ch, pytest.raises(grpc.RpcError) as refused:
        WindowClient(ch).print(number)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert set(spool.iterdir()) == before, "nothing may reach the printer"
    with operator_channel(pair.federation, province=WINDOW_PROVINCE, operator_id=AUDITOR,
                          address=pair.nodes[WINDOW_PROVINCE].address) as ch:
        events = [e.event for e in AuditorClient(ch).timeline(number).entries]
    assert events[-1] == "PrintRefused" and "Printed" not in events
    return refused.value


def test_window_prints_a_genuine_certificate(pair: Pair) -> None:
    number = approved_case(pair)
    with pair.window() as ch:
        receipt = WindowClient(ch).print(number, copies=2)
    assert receipt.report.verdict == "TOTAL_PASSED"
    assert receipt.report.signer.common_name == "浙江省市场监督管理局"
    assert Path(receipt.spool_ref).read_bytes().startswith(b"%PDF-")


def test_window_refuses_to_print_a_certificate_changed_in_its_own_store(pair: Pair) -> None:
    number = approved_case(pair)
    store_root = pair.nodes[WINDOW_PROVINCE].node.config.object_store.local_root
    with pair.window() as ch:
        sha = WindowClient(ch).get_case(number).result_sha256
    stored = store_root / object_key(sha)
    changed = bytearray(stored.read_bytes())  # sealed at rest: flip a byte of the ciphertext
    changed[len(changed) // 2] ^= 0x01
    stored.write_bytes(bytes(changed))
    error = refused_print(pair, number)
    assert "HASH_FAILURE" in error.details()


def test_window_refuses_a_certificate_with_one_byte_flipped_on_the_way(pair: Pair) -> None:
    number = forwarded_case(pair)
    genuine = DepartmentSealer(federation=pair.federation, province_code=COMPETENT_PROVINCE).issue(request(case_number=number))
    deliver_as_zhejiang(pair, number, flip_byte_in_page_content(genuine))
    assert "HASH_FAILURE" in refused_print(pair, number).details()


def test_window_refuses_a_name_rewritten_by_an_incremental_update_on_the_way(pair: Pair) -> None:
    number = forwarded_case(pair)
    genuine = DepartmentSealer(federation=pair.federation, province_code=COMPETENT_PROVINCE).issue(request(case_number=number))
    deliver_as_zhejiang(pair, number, overwrite_applicant_name(genuine))
    assert "MODIFIED_AFTER_SIGNING" in refused_print(pair, number).details()


def test_window_refuses_a_certificate_sealed_by_a_department_of_another_province(pair: Pair) -> None:
    number = forwarded_case(pair)
    jiangsu = DepartmentSealer(federation=pair.federation, province_code=JIANGSU).issue(
        request(case_number=number, province_code=JIANGSU, department_name="江苏省市场监督管理局"))
    deliver_as_zhejiang(pair, number, jiangsu)
    error = refused_print(pair, number)
    assert "NOT_COMPETENT_SIGNER" in error.details()


def test_window_refuses_a_genuine_seal_on_a_document_the_competent_node_never_issued(pair: Pair) -> None:
    number = forwarded_case(pair)
    unissued = DepartmentSealer(federation=pair.federation, province_code=COMPETENT_PROVINCE).issue(request(case_number=number))
    deliver_as_zhejiang(pair, number, unissued)
    assert "NOT_THE_ISSUED_DOCUMENT" in refused_print(pair, number).details()


def test_peer_service_refuses_a_node_claiming_to_be_another_province(pair: Pair) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        pair.as_node(JIANGSU).ForwardCase(peer_pb2.CaseEnvelope(
            case_number="330000-20261123-DEADBEEF", from_province=COMPETENT_PROVINCE,
            origin_province=COMPETENT_PROVINCE, competent_province=WINDOW_PROVINCE), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "certificate is for province 320000" in refused.value.details()


def test_peer_service_refuses_a_certificate_not_issued_by_the_federation(pair: Pair, foreign_federation: Federation) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        pair.as_node(COMPETENT_PROVINCE, of=foreign_federation).GetIssuedResult(
            common_pb2.CaseRef(case_number="x"), timeout=10)
    # Mutual TLS turns the stranger away during the handshake: no RPC ever reaches a servicer.
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_peer_service_refuses_a_window_clerk_certificate(pair: Pair) -> None:
    cert, key = pair.federation.operator_tls(WINDOW_PROVINCE, CLERK)
    creds = channel_credentials(pair.federation, cert_pem=cert, key_pem=key, province_of_cert=WINDOW_PROVINCE)
    with secure_channel(pair.nodes[WINDOW_PROVINCE].address, creds, province=WINDOW_PROVINCE) as ch:
        with pytest.raises(grpc.RpcError) as refused:
            peer_pb2_grpc.PeerServiceStub(ch).GetIssuedResult(common_pb2.CaseRef(case_number="x"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "role 'node'" in refused.value.details()


def test_a_window_clerk_of_another_province_cannot_use_this_window(pair: Pair) -> None:
    cert, key = pair.federation.operator_tls(COMPETENT_PROVINCE, "clerk-hangzhou-002")
    creds = channel_credentials(pair.federation, cert_pem=cert, key_pem=key, province_of_cert=COMPETENT_PROVINCE)
    with secure_channel(pair.nodes[WINDOW_PROVINCE].address, creds, province=WINDOW_PROVINCE) as ch:
        with pytest.raises(grpc.RpcError) as refused:
            WindowClient(ch).get_case("340000-20261123-00000000")
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_submission_missing_a_required_material_is_refused_and_records_nothing(pair: Pair) -> None:
    recorder = pair.nodes[WINDOW_PROVINCE].node.context.ledger.recorder
    events_before = recorder.max_notification_id()
    with pair.window() as ch:
        window = WindowClient(ch)
        scan = window.upload([scanned_id_card()], kind="id_card", file_name="id.png", media_type="image/png")
        with pytest.raises(grpc.RpcError) as refused:
            window.submit(matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name="李四",
                          applicant_id=make_resident_id("34010219900101001"), materials=[scan],
                          checklist={"id_card": True})
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "application_form" in refused.value.details()
    assert recorder.max_notification_id() == events_before


def test_an_officer_cannot_approve_a_case_before_accepting_it(pair: Pair) -> None:
    number = forwarded_case(pair)
    with pair.officer() as ch, pytest.raises(grpc.RpcError) as refused:
        OfficerClient(ch).approve(number)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "must be accepted" in refused.value.details()


def test_a_material_whose_content_is_not_its_declared_type_is_refused(pair: Pair) -> None:
    with pair.window() as ch, pytest.raises(grpc.RpcError) as refused:
        WindowClient(ch).upload([scanned_id_card()], kind="id_card", file_name="id.pdf", media_type="application/pdf")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- a partner cannot learn which case numbers exist here ------------------------------------
# DeliverResult, GetIssuedResult and the witness's CaseEvents and CaseEvidence answer a case that
# is not here as one the caller is no party to (from a review with probes).

EXISTENCE_PDF = b"%PDF-1.7 not a result anyone issued"


def deliver(pair: Pair, *, as_province: str, number: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        pair.as_node(as_province).DeliverResult(peer_pb2.ResultEnvelope(
            case_number=number, from_province=as_province, pdf=EXISTENCE_PDF,
            issued_sha256=hashlib.sha256(EXISTENCE_PDF).hexdigest()), timeout=10)
    return refused.value


def test_deliver_result_answers_alike_for_a_case_not_here_and_a_case_the_caller_is_no_party_to(pair: Pair) -> None:
    existing = forwarded_case(pair)  # taken in at the window, decided by Zhejiang: Jiangsu is no party
    missing = f"{WINDOW_PROVINCE}-20261102-0BADCAFE"
    answers = {
        "existing, no party": (deliver(pair, as_province=JIANGSU, number=existing), existing, JIANGSU),
        "missing": (deliver(pair, as_province=JIANGSU, number=missing), missing, JIANGSU),
        # A partner that is party to other cases here learns no more about this one.
        "missing, a partner": (deliver(pair, as_province=COMPETENT_PROVINCE, number=missing), missing,
                               COMPETENT_PROVINCE),
    }
    codes = {what: error.code() for what, (error, _, _) in answers.items()}
    # before: NOT_FOUND for a case number that does not exist, PERMISSION_DENIED for one that does
    assert codes == dict.fromkeys(answers, grpc.StatusCode.PERMISSION_DENIED)
    shapes = {error.details().replace(number, "<n>").replace(province, "<p>")
              for error, number, province in answers.values()}
    assert shapes == {"this node has no case <n> that province <p> is party to"}


@pytest.mark.parametrize("ask", ["GetIssuedResult", "CaseEvents", "CaseEvidence"])
def test_asking_about_a_case_answers_alike_for_one_not_here_and_one_the_caller_is_no_party_to(
    pair: Pair, ask: str,
) -> None:
    existing = forwarded_case(pair)
    missing = f"{WINDOW_PROVINCE}-20261102-0BADCAFF"
    channel = pair.channel_as(JIANGSU)
    stub = (peer_pb2_grpc.PeerServiceStub(channel) if ask == "GetIssuedResult"
            else witness_pb2_grpc.WitnessServiceStub(channel))
    answers = []
    for number in (existing, missing):
        with pytest.raises(grpc.RpcError) as refused:
            getattr(stub, ask)(common_pb2.CaseRef(case_number=number), timeout=10)
        answers.append((refused.value.code(), refused.value.details().replace(number, "<n>")))
    channel.close()
    assert answers[0] == answers[1], "before: NOT_FOUND for the number that does not exist"
    assert answers[0][0] == grpc.StatusCode.PERMISSION_DENIED
