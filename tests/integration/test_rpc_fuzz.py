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


# -- hostile values: huge, control characters, wrong provinces, other provinces' cases ------------

hostile = st.one_of(
    text,
    st.builds(lambda seed, n: (seed or "字") * n, st.text(max_size=3), st.integers(2_000, 200_000)),  # huge
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp"]), min_size=1, max_size=40),
    st.sampled_from(["' OR 1=1 --", "../../etc/passwd", "%s%s%n", "\u202e", "340000\n", "٣٤٠٠٠٠"]),
)
case_numbers = st.one_of(
    hostile,
    st.builds(lambda p, d, h: f"{p}-{d}-{h}", st.sampled_from(["340000", "330000", "320000", "310000", "110000"]),
              st.sampled_from(["20261123", "20260230", "99999999"]),
              st.text(alphabet="0123456789ABCDEFabcdef", min_size=8, max_size=8)),
)
hashes = st.one_of(hostile, st.text(alphabet="0123456789abcdefABCDEF", min_size=63, max_size=65))
provinces = st.one_of(codes, hostile)
hostile_material = st.builds(common_pb2.MaterialRef, kind=hostile, file_name=hostile, media_type=hostile,
                             size=st.integers(0, 2**64 - 1), sha256=hashes)


@pytest.fixture(scope="module")
def as_zhejiang(nodes: dict[str, RunningNode], federation: Federation) -> Iterator[grpc.Channel]:
    """A channel to Anhui's node with Zhejiang's node certificate (a partner, not always a party)."""
    cert, key = federation.node_tls(COMPETENT_PROVINCE)
    creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=COMPETENT_PROVINCE)
    with secure_channel(nodes[WINDOW_PROVINCE].address, creds, province=WINDOW_PROVINCE) as ch:
        yield ch


def state_of(node: RunningNode) -> tuple[int, int]:
    """Events recorded and objects stored: neither may change when a request is refused."""
    root = node.node.config.object_store.local_root
    return event_count(node), sum(1 for p in root.rglob("*") if p.is_file()) if root else 0


@FUZZ
@given(number=case_numbers, claimed=provinces, outcome=hostile, step=st.one_of(hostile, st.sampled_from(
    ["supplement_requested", "rejected", "returned", "identified", "supplemented", "withdrawn"])),
       materials=st.lists(hostile_material, max_size=2), at=hostile, department=hostile)
def test_hostile_coordination_messages_are_refused_without_recording_anything(
    as_zhejiang, nodes, number, claimed, outcome, step, materials, at, department,
) -> None:
    from tongban_pb import joint_pb2, joint_pb2_grpc

    stub = joint_pb2_grpc.CoordinationServiceStub(as_zhejiang)
    before = state_of(nodes[WINDOW_PROVINCE])
    for sender in (claimed, COMPETENT_PROVINCE):
        refused_cleanly(stub.NotifyProgress, joint_pb2.ProgressNotice(
            case_number=number, from_province=sender, step=step, reason=outcome, note=outcome, at=at,
            materials=materials, missing=[outcome]))
        refused_cleanly(stub.ReportTask, joint_pb2.TaskReport(case_number=number, from_province=sender,
                                                              outcome=outcome, note=outcome))
        refused_cleanly(stub.AssignTask, joint_pb2.TaskAssignment(
            case_number=number, from_province=sender, matter_code=outcome, department=department, task=outcome,
            materials=materials, partners=[claimed], competent_department=department))
    assert state_of(nodes[WINDOW_PROVINCE]) == before


@FUZZ
@given(number=case_numbers, sha=hashes, claimed=provinces, size=st.integers(0, 2**64 - 1),
       offset=st.integers(0, 2**63), chunks=st.lists(st.binary(max_size=1024), max_size=3),
       kind=hostile, file_name=hostile, media_type=st.one_of(hostile, st.just("application/pdf")))
def test_hostile_material_pushes_leave_nothing_behind(
    as_zhejiang, nodes, number, sha, claimed, size, offset, chunks, kind, file_name, media_type,
) -> None:
    stub = peer_pb2_grpc.PeerServiceStub(as_zhejiang)
    before = state_of(nodes[WINDOW_PROVINCE])
    header = peer_pb2.PushHeader(material=common_pb2.MaterialHeader(
        kind=kind, file_name=file_name, media_type=media_type, sha256=sha, case_number=number, from_province=claimed),
        size=size, offset=offset)
    messages = [peer_pb2.MaterialPush(header=header)]
    messages += [peer_pb2.MaterialPush(data=peer_pb2.PushData(offset=offset + i, data=c)) for i, c in enumerate(chunks)]
    refused_cleanly(stub.PushMaterial, iter(messages))
    refused_cleanly(stub.GetTransferOffset, peer_pb2.TransferRef(case_number=number, sha256=sha, from_province=claimed))
    assert state_of(nodes[WINDOW_PROVINCE]) == before


@FUZZ
@given(number=case_numbers, log=provinces, after=st.integers(0, 2**64 - 1), moment=hostile,
       issuers=st.lists(provinces, max_size=3), proof=st.lists(st.binary(max_size=64), max_size=3),
       checkpoint=hostile)
def test_hostile_witness_directory_and_audit_requests_are_refused_cleanly(
    as_zhejiang, nodes, federation, number, log, after, moment, issuers, proof, checkpoint,
) -> None:
    from nodes.demo import AUDITOR
    from tongban_pb import audit_pb2, audit_pb2_grpc, directory_pb2, directory_pb2_grpc, witness_pb2, witness_pb2_grpc

    witness = witness_pb2_grpc.WitnessServiceStub(as_zhejiang)
    before = state_of(nodes[WINDOW_PROVINCE])
    refused_cleanly(witness.CaseEvents, common_pb2.CaseRef(case_number=number))
    refused_cleanly(witness.CaseEvidence, common_pb2.CaseRef(case_number=number))
    refused_cleanly(witness.LastSeen, witness_pb2.LogRef(log=log))
    refused_cleanly(witness.Witness, witness_pb2.WitnessRequest(checkpoint_json=checkpoint, old_size=after,
                                                                consistency_proof=proof))
    refused_cleanly(directory_pb2_grpc.DirectoryServiceStub(as_zhejiang).GetRevocationLists,
                    directory_pb2.RevocationListsRequest(issuers=issuers))
    with operator_channel(federation, province=WINDOW_PROVINCE, operator_id=AUDITOR,
                          address=nodes[WINDOW_PROVINCE].address) as ch:
        audit = audit_pb2_grpc.AuditServiceStub(ch)
        refused_cleanly(audit.CaseStateAt, audit_pb2.CaseStateRequest(case_number=number, version=after, moment=moment))
        refused_cleanly(audit.ResultInclusionProof, common_pb2.CaseRef(case_number=number))
        try:
            list(audit.NodeLog(audit_pb2.NodeLogRequest(after=after, limit=after), timeout=10))
        except grpc.RpcError as exc:
            assert exc.code() not in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, exc.details()
    assert event_count(nodes[WINDOW_PROVINCE]) == before[0]


@FUZZ
@given(number=case_numbers, reason=hostile, carrier=hostile, rating=hostile, copies=st.integers(0, 2**32 - 1),
       materials=st.lists(hostile_material, max_size=2), partners=st.lists(provinces, max_size=3))
def test_hostile_window_requests_are_refused_without_recording_anything(
    window, nodes, number, reason, carrier, rating, copies, materials, partners,
) -> None:
    before = state_of(nodes[WINDOW_PROVINCE])
    refused_cleanly(window.SupplementCase, window_pb2.SupplementCaseRequest(case_number=number, materials=materials))
    refused_cleanly(window.WithdrawCase, window_pb2.WithdrawRequest(case_number=number, reason=reason))
    refused_cleanly(window.PrintResult, window_pb2.PrintRequest(case_number=number, copies=copies))
    refused_cleanly(window.MailResult, window_pb2.MailRequest(case_number=number, carrier=carrier,
                                                              tracking_number=reason, address=reason))
    refused_cleanly(window.EvaluateCase, window_pb2.EvaluationRequest(case_number=number, rating=rating, comment=reason))
    refused_cleanly(window.SubmitJoint, window_pb2.SubmitJointRequest(matter_code=rating, partner_provinces=partners,
                                                                      materials=materials))
    refused_cleanly(window.Monitor, common_pb2.MonitorRequest(since=reason, partner_province=rating, matter_code=carrier))
    assert state_of(nodes[WINDOW_PROVINCE]) == before


@FUZZ
@given(garbage=st.binary(min_size=1, max_size=512),
       method=st.sampled_from(["/tongban.v1.PeerService/ForwardCase", "/tongban.v1.PeerService/DeliverResult",
                               "/tongban.v1.CoordinationService/NotifyProgress",
                               "/tongban.v1.WitnessService/Witness"]))
def test_bytes_that_are_no_message_at_all_are_invalid_arguments_not_internal_errors(
    as_zhejiang, nodes, garbage, method,
) -> None:
    before = state_of(nodes[WINDOW_PROVINCE])
    call = as_zhejiang.unary_unary(method)  # no serializers: the bytes go out as they are
    try:
        call(garbage, timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() not in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, exc.details()
    assert state_of(nodes[WINDOW_PROVINCE]) == before


def test_invalid_utf8_in_a_string_field_is_refused_as_an_invalid_argument(as_zhejiang) -> None:
    # Field 1 (case_number) of CaseRef, length 2, bytes that are not UTF-8.
    call = as_zhejiang.unary_unary("/tongban.v1.PeerService/GetIssuedResult")
    with pytest.raises(grpc.RpcError) as refused:
        call(b"\x0a\x02\xff\xfe", timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("request:")


@FUZZ
@given(number=case_numbers, text_=hostile, missing=st.lists(hostile, max_size=3), since=hostile, partner=provinces)
def test_hostile_department_requests_are_refused_without_recording_anything(
    officer, nodes, number, text_, missing, since, partner,
) -> None:
    before = state_of(nodes[COMPETENT_PROVINCE])
    refused_cleanly(officer.RequestSupplement, department_pb2.SupplementNotice(case_number=number, missing=missing,
                                                                               note=text_))
    refused_cleanly(officer.RejectCase, department_pb2.RejectRequest(case_number=number, legal_basis=text_,
                                                                     reason=text_))
    refused_cleanly(officer.ReturnCase, department_pb2.ReturnRequest(case_number=number, reason=text_))
    refused_cleanly(officer.CompletePart, department_pb2.PartRequest(case_number=number, outcome=text_, note=text_))
    refused_cleanly(officer.Monitor, common_pb2.MonitorRequest(since=since, partner_province=partner))
    assert state_of(nodes[COMPETENT_PROVINCE]) == before


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
        st.sampled_from(["checkpoint", "signature", "cosignatures", "log", "size", "root", "signer", "value",
                         "signed_at", "chain_head", "certificate"]), inner, max_size=4)),
    max_leaves=12,
)


@FUZZ
@given(document=json_values, old_size=st.integers(0, 2**63 - 1))
def test_well_formed_json_that_is_no_checkpoint_is_refused_cleanly(as_zhejiang, document, old_size) -> None:
    import json

    from tongban_pb import witness_pb2, witness_pb2_grpc

    refused_cleanly(witness_pb2_grpc.WitnessServiceStub(as_zhejiang).Witness,
                    witness_pb2.WitnessRequest(checkpoint_json=json.dumps(document), old_size=old_size))


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=30), st.lists(st.integers(), max_size=2))
checkpoint_shaped = st.fixed_dictionaries({
    "checkpoint": st.fixed_dictionaries({k: scalars for k in ("log", "size", "root", "chain_head", "signed_at")}),
    "signature": st.fixed_dictionaries({k: scalars for k in ("signer", "signed_at", "signature", "certificate")}),
    "cosignatures": st.lists(st.fixed_dictionaries({k: scalars for k in ("signer", "signed_at", "signature",
                                                                           "certificate")}), max_size=2),
})


@FUZZ
@given(document=checkpoint_shaped, old_size=st.integers(0, 2**63 - 1))
def test_a_checkpoint_shaped_document_with_wrong_values_is_refused_cleanly(as_zhejiang, document, old_size) -> None:
    import json

    from tongban_pb import witness_pb2, witness_pb2_grpc

    refused_cleanly(witness_pb2_grpc.WitnessServiceStub(as_zhejiang).Witness,
                    witness_pb2.WitnessRequest(checkpoint_json=json.dumps(document), old_size=old_size))


hex8 = st.text(alphabet="0123456789ABCDEF", min_size=8, max_size=8)


@FUZZ
@given(tail=hex8, matter=st.sampled_from(["KS2020-044", "KS35-061", "KS35-001", "KS-NOPE"]),
       mode=st.sampled_from(["proxy", "online", "joint", "x"]),
       department=st.sampled_from(["market", "public_security", "health", "nope"]),
       competent=st.sampled_from([WINDOW_PROVINCE, COMPETENT_PROVINCE, "320000"]),
       person=applicant, materials=st.lists(material, max_size=2),
       checklist=st.dictionaries(st.sampled_from(["id_card", "application_form"]), st.booleans(), max_size=2))
def test_well_formed_forwards_with_hostile_contents_are_accepted_or_refused_never_an_internal_error(
    as_zhejiang, nodes, tail, matter, mode, department, competent, person, materials, checklist,
) -> None:
    # Zhejiang forwards "its own" cases to Anhui: the sender is the origin, so only the contents
    # (matter, department, mode, materials, applicant) can be wrong.
    stub = peer_pb2_grpc.PeerServiceStub(as_zhejiang)
    before = event_count(nodes[WINDOW_PROVINCE])
    envelope = peer_pb2.CaseEnvelope(
        case_number=f"{COMPETENT_PROVINCE}-20261123-{tail}", matter_code=matter, mode=mode,
        origin_province=COMPETENT_PROVINCE, competent_province=competent, competent_department=department,
        applicant=person, materials=materials, checklist=checklist, from_province=COMPETENT_PROVINCE)
    try:
        stub.ForwardCase(envelope, timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() not in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, exc.details()
        assert event_count(nodes[WINDOW_PROVINCE]) == before, "a refused forward records nothing"


def test_an_upload_message_over_the_chunk_limit_is_refused_naming_the_field(window) -> None:
    from nodes.request_rules import MAX_CHUNK

    PDF_HEAD = b"%PDF-1.7\n"
    header = common_pb2.MaterialHeader(kind="id_card", file_name="身份证.pdf", media_type="application/pdf")
    with pytest.raises(grpc.RpcError) as refused:
        window.UploadMaterial(iter([common_pb2.MaterialChunk(header=header),
                                    common_pb2.MaterialChunk(data=PDF_HEAD + b"\0" * MAX_CHUNK)]), timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("data:") and "more than the limit" in refused.value.details()
    stored = window.UploadMaterial(iter([common_pb2.MaterialChunk(header=header),
                                         common_pb2.MaterialChunk(data=PDF_HEAD + b"\0" * (MAX_CHUNK - len(PDF_HEAD)))]), timeout=30)
    assert stored.size == MAX_CHUNK


def test_a_streamed_material_message_is_validated_knowing_the_size_it_arrived_in(
    window, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """So its megabyte is not copied out only to be measured (nodes.request_rules.Rule.max_bytes)."""
    import nodes.interceptors as interceptors

    sizes: list[int | None] = []
    check = interceptors.check_request

    def noting(message, *, provinces, encoded_size=None):  # type: ignore[no-untyped-def]
        sizes.append(encoded_size)
        return check(message, provinces=provinces, encoded_size=encoded_size)

    monkeypatch.setattr(interceptors, "check_request", noting)
    header = common_pb2.MaterialHeader(kind="id_card", file_name="身份证.pdf", media_type="application/pdf")
    data = b"%PDF-1.7\n" + bytes(2 << 20)
    messages = [common_pb2.MaterialChunk(header=header)] + [
        common_pb2.MaterialChunk(data=data[at:at + (1 << 20)]) for at in range(0, len(data), 1 << 20)]
    assert window.UploadMaterial(iter(messages), timeout=30).size == len(data)
    assert sizes == [m.ByteSize() for m in messages]
