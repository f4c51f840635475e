"""From a review with probes: a partner node cannot learn which case numbers exist at another
province, from DeliverResult, GetIssuedResult or the witness's CaseEvents and CaseEvidence. A case
that is not there and one the caller is no party to are refused alike. Two real nodes (in this process) on loopback, talking gRPC over mutual TLS."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from exchange.people import make_resident_id
from nodes.clients import WindowClient, operator_channel
from nodes.demo import CLERK, COMPETENT_PROVINCE, MATTER, WINDOW_PROVINCE
from nodes.launch import loopback_configs
from nodes.samples import scanned_id_card, signed_application_form
from nodes.server import RunningNode, start_node
from nodes.tls import secure_channel
from signing.pki import Federation
from tongban_pb import common_pb2, peer_pb2, peer_pb2_grpc, witness_pb2_grpc

JIANGSU = "320000"  # a province of the federation with no part in the case
PDF = b"%PDF-1.7 not a result anyone issued"


@dataclass
class Pair:
    federation: Federation
    nodes: dict[str, RunningNode]

    def channel_as(self, province: str) -> grpc.Channel:
        """A channel to the window's node presenting `province`'s node certificate."""
        cert, key = self.federation.node_tls(province)
        creds = grpc.ssl_channel_credentials(self.federation.root_pem(), key,
                                             cert + self.federation.province_ca_pem(province))
        return secure_channel(self.nodes[WINDOW_PROVINCE].address, creds, province=WINDOW_PROVINCE)

    def as_node(self, province: str) -> peer_pb2_grpc.PeerServiceStub:
        return peer_pb2_grpc.PeerServiceStub(self.channel_as(province))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, federation: Federation) -> Iterator[Pair]:
    configs = loopback_configs(tmp_path_factory.mktemp("probe"), [WINDOW_PROVINCE, COMPETENT_PROVINCE],
                               pki_dir=federation.directory)
    nodes = {code: start_node(c) for code, c in configs.items()}
    yield Pair(federation, nodes)
    for n in nodes.values():
        n.stop()


def forwarded_case(pair: Pair) -> str:
    with operator_channel(pair.federation, province=WINDOW_PROVINCE, operator_id=CLERK,
                          address=pair.nodes[WINDOW_PROVINCE].address) as ch:
        window = WindowClient(ch)
        scan = window.upload([scanned_id_card()], kind="id_card", file_name="id.png", media_type="image/png")
        form = window.upload([signed_application_form(applicant="李四", id_masked="x", matter="补领")],
                             kind="application_form", file_name="form.pdf", media_type="application/pdf")
        case = window.submit(matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name="李四",
                             applicant_id=make_resident_id("34010219900101001"), materials=[scan, form],
                             checklist={"id_card": True, "application_form": True})
    assert case.status == "forwarded"
    return case.case_number


def deliver(pair: Pair, *, as_province: str, number: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        pair.as_node(as_province).DeliverResult(peer_pb2.ResultEnvelope(
            case_number=number, from_province=as_province, pdf=PDF,
            issued_sha256=hashlib.sha256(PDF).hexdigest()), timeout=10)
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
