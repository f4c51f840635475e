"""Hostile and malformed requests against real nodes: never INTERNAL, never a crash, never a
half-written case. Hypothesis drives the fields; the nodes run gRPC over mutual TLS on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodes.clients import operator_channel
from nodes.demo import CLERK, COMPETENT_PROVINCE, OFFICER, WINDOW_PROVINCE
from nodes.launch import loopback_configs
from nodes.server import RunningNode, start_node
from nodes.tls import channel_credentials, secure_channel
from signing.pki import Federation
from tongban_pb import (
    common_pb2, department_pb2, department_pb2_grpc, peer_pb2, peer_pb2_grpc, window_pb2, window_pb2_grpc,
)

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

text = st.text(max_size=80)
hexish = st.one_of(text, st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
codes = st.one_of(text, st.sampled_from(["340000", "330000", "320000", "000000", "999999", ""]))
material = st.builds(common_pb2.MaterialRef, kind=text, file_name=text, media_type=text,
                     size=st.integers(0, 2**63), sha256=hexish)
applicant = st.builds(common_pb2.Applicant, name=text, id_number=text)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, federation: Federation) -> Iterator[dict[str, RunningNode]]:
    configs = loopback_configs(tmp_path_factory.mktemp("fuzz"), [WINDOW_PROVINCE, COMPETENT_PROVINCE],
                               pki_dir=federation.directory)
    running = {code: start_node(c) for code, c in configs.items()}
    yield running
    for n in running.values():
        n.stop()


@pytest.fixture(scope="module")
def window(nodes: dict[str, RunningNode], federation: Federation) -> Iterator[window_pb2_grpc.WindowServiceStub]:
    with operator_channel(federation, province=WINDOW_PROVINCE, operator_id=CLERK,
                          address=nodes[WINDOW_PROVINCE].address) as ch:
        yield window_pb2_grpc.WindowServiceStub(ch)


@pytest.fixture(scope="module")
def officer(nodes: dict[str, RunningNode], federation: Federation) -> Iterator[department_pb2_grpc.DepartmentServiceStub]:
    with operator_channel(federation, province=COMPETENT_PROVINCE, operator_id=OFFICER,
                          address=nodes[COMPETENT_PROVINCE].address) as ch:
        yield department_pb2_grpc.DepartmentServiceStub(ch)


@pytest.fixture(scope="module")
def peer_as_zhejiang(nodes: dict[str, RunningNode], federation: Federation) -> Iterator[peer_pb2_grpc.PeerServiceStub]:
    cert, key = federation.node_tls(COMPETENT_PROVINCE)
    creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=COMPETENT_PROVINCE)
    with secure_channel(nodes[WINDOW_PROVINCE].address, creds, province=WINDOW_PROVINCE) as ch:
        yield peer_pb2_grpc.PeerServiceStub(ch)


def refused_cleanly(call, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        call(*args, timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() not in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, exc.details()
        assert exc.details(), "every refusal says why"


def event_count(node: RunningNode) -> int:
    return node.node.context.ledger.recorder.max_notification_id() or 0


@FUZZ
@given(matter=text, province=codes, person=applicant, materials=st.lists(material, max_size=3),
       checklist=st.dictionaries(text, st.booleans(), max_size=3))
def test_malformed_applications_are_refused_without_recording_anything(
    window, nodes, matter, province, person, materials, checklist,
) -> None:
    before = event_count(nodes[WINDOW_PROVINCE])
    refused_cleanly(window.SubmitApplication, window_pb2.SubmitApplicationRequest(
        matter_code=matter, competent_province=province, applicant=person, materials=materials, checklist=checklist))
    assert event_count(nodes[WINDOW_PROVINCE]) == before


@FUZZ
@given(header=st.builds(common_pb2.MaterialHeader, kind=text, file_name=text, media_type=text, sha256=hexish),
       chunks=st.lists(st.binary(max_size=2048), max_size=4), header_again=st.booleans())
def test_malformed_material_streams_never_break_the_node(window, header, chunks, header_again) -> None:
    messages = [common_pb2.MaterialChunk(header=header)]
    messages += [common_pb2.MaterialChunk(data=c) for c in chunks]
    if header_again:
        messages.append(common_pb2.MaterialChunk(header=header))
    refused_cleanly(window.UploadMaterial, iter(messages))


@FUZZ
@given(number=text, note=text)
def test_decisions_on_unknown_or_garbled_case_numbers_are_refused(officer, number, note) -> None:
    refused_cleanly(officer.AcceptCase, department_pb2.DecisionRequest(case_number=number, note=note))
    refused_cleanly(officer.ApproveCase, department_pb2.DecisionRequest(case_number=number, note=note))


@FUZZ
@given(envelope=st.builds(peer_pb2.CaseEnvelope, case_number=text, matter_code=text, mode=text,
                          origin_province=codes, competent_province=codes, competent_department=text,
                          applicant=applicant, materials=st.lists(material, max_size=2), from_province=codes),
       pdf=st.binary(max_size=4096), number=text)
def test_hostile_peer_messages_are_refused_without_recording_anything(
    peer_as_zhejiang, nodes, envelope, pdf, number,
) -> None:
    before = event_count(nodes[WINDOW_PROVINCE])
    refused_cleanly(peer_as_zhejiang.ForwardCase, envelope)
    refused_cleanly(peer_as_zhejiang.DeliverResult, peer_pb2.ResultEnvelope(
        case_number=number, from_province=COMPETENT_PROVINCE, pdf=pdf, issued_sha256=envelope.case_number))
    refused_cleanly(peer_as_zhejiang.GetIssuedResult, common_pb2.CaseRef(case_number=number))
    assert event_count(nodes[WINDOW_PROVINCE]) == before
