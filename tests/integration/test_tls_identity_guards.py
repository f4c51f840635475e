"""Who is at the other end of a mutual-TLS connection, checked as strictly in both directions:
a node calling a partner checks the partner's server certificate as the partner checks its
client certificate (issued by the CA of the province it names, valid, not revoked), on every
call; refusals are blamed on a province only when that province's CA vouches for the caller;
and a revocation list that cannot be read refuses rather than trusts.

Real loopback gRPC over mutual TLS with certificates of a real federation PKI (nodes.demo);
a fresh federation wherever a test revokes or removes something."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from exchange.errors import PeerRefused, PeerUnavailable
from nodes import interceptors
from nodes.demo import make_federation
from nodes.interceptors import ClientCertificates
from nodes.launch import loopback_configs
from nodes.peers import GrpcPeerGateway
from nodes.server import RunningNode, start_node
from nodes.tls import channel_credentials, node_hostname, secure_channel
from signing.identity import operator_uri, province_uri, role_uri
from signing.pki import Federation, _issue, _name, _pem
from tongban_pb import common_pb2, peer_pb2, peer_pb2_grpc, window_pb2_grpc

ANHUI, ZHEJIANG, JIANGSU = "340000", "330000", "320000"
CASE = f"{ANHUI}-20260101-1A2B3C4D"


# -- helpers ---------------------------------------------------------------------------------


def forged_node_certificate(fed: Federation, *, claims: str, issued_by: str) -> tuple[bytes, bytes]:
    """A node certificate naming province `claims` (URI and node name) but issued by the CA of
    `issued_by`: it chains to the federation root, so TLS alone accepts it."""
    ca_cert, ca_key, _ = fed._ca(issued_by)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(subject=_name(f"tongban-node-{claims}", organization="x"), key=key, issuer=(ca_cert, ca_key),
                  days=1, uris=[province_uri(claims), role_uri("node")], dns=[node_hostname(claims)],
                  key_usage={"digital_signature": True},
                  eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    return _pem(cert), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())


@dataclass
class PartnerServer:
    """A PeerService at a loopback port presenting a given certificate; remembers what reached it."""

    fed: Federation
    received: list[tuple[str, str, str]] = field(default_factory=list)
    server: grpc.Server | None = None
    port: int = 0

    def start(self, cert: bytes, key: bytes, *, issuer: str, port: int = 0) -> str:
        received = self.received

        class Peer(peer_pb2_grpc.PeerServiceServicer):
            def ForwardCase(self, request: Any, context: grpc.ServicerContext) -> Any:
                received.append((request.case_number, request.applicant.name, request.applicant.id_number))
                return peer_pb2.Ack(case_number=request.case_number, status="forwarded")

        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        peer_pb2_grpc.add_PeerServiceServicer_to_server(Peer(), self.server)
        creds = grpc.ssl_server_credentials([(key, cert + self.fed.province_ca_pem(issuer))],
                                            root_certificates=self.fed.root_pem(), require_client_auth=True)
        self.port = self.server.add_secure_port(f"127.0.0.1:{port}", creds)
        self.server.start()
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(0).wait()
            self.server = None


@pytest.fixture
def fresh_federation(tmp_path: Path) -> Federation:
    return make_federation(tmp_path / "pki")


@pytest.fixture
def partner(fresh_federation: Federation) -> Iterator[PartnerServer]:
    server = PartnerServer(fresh_federation)
    yield server
    server.stop()


def anhui_gateway(fed: Federation, address: str) -> GrpcPeerGateway:
    cert, key = fed.node_tls(ANHUI)
    return GrpcPeerGateway(province=ANHUI, peers={ZHEJIANG: address}, timeout=10,
                           credentials=channel_credentials(fed, cert_pem=cert, key_pem=key, province_of_cert=ANHUI))


def forward_a_case(gateway: GrpcPeerGateway) -> None:
    gateway.forward_case(ZHEJIANG, envelope=dict(
        case_number=CASE, matter_code="KS2020-044", mode="proxy", origin_province=ANHUI,
        competent_province=ZHEJIANG, competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={}))


def assert_refused_as_not_the_partner(exc: BaseException) -> None:
    """A refusal the courier gives up on (never retried as if the partner were only down)."""
    assert isinstance(exc, PeerRefused), exc
    assert exc.code == "UNAUTHENTICATED", exc


@pytest.fixture
def anhui_node(fresh_federation: Federation, tmp_path: Path) -> Iterator[RunningNode]:
    node = start_node(loopback_configs(tmp_path / "nodes", [ANHUI], pki_dir=fresh_federation.directory)[ANHUI])
    yield node
    node.stop()


def short_lived_clerk(fed: Federation, operator_id: str) -> tuple[bytes, bytes]:
    """A clerk certificate of Anhui's CA that ends long before the nodes' certificates do."""
    ca_cert, ca_key, _ = fed._ca(ANHUI)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(subject=_name(operator_id, organization="x"), key=key, issuer=(ca_cert, ca_key), days=1,
                  uris=[province_uri(ANHUI), role_uri("window"), operator_uri(operator_id)],
                  key_usage={"digital_signature": True}, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return _pem(cert), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())


def clients_copy(fed: Federation, where: Path) -> Federation:
    """The federation files as a client on another machine holds them (untouched by the test)."""
    shutil.copytree(fed.directory, where)
    return Federation.open(where)


def operator_channel(fed: Federation, node: RunningNode, cert: bytes, key: bytes, *, of: str = ANHUI) -> grpc.Channel:
    creds = channel_credentials(fed, cert_pem=cert, key_pem=key, province_of_cert=of)
    return secure_channel(node.address, creds, province=ANHUI)


def status_of(call: Any) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


# -- a node calling a partner checks who answers ----------------------------------------------


def forward_refused(gateway: Any, partner: PartnerServer) -> PeerRefused:
    """Forwarding a case through `gateway` is refused here, and nothing reached the server."""
    try:
        with pytest.raises(PeerRefused) as refused:
            forward_a_case(gateway)
    finally:
        gateway.close()
    assert partner.received == []
    assert_refused_as_not_the_partner(refused.value)
    return refused.value


def test_a_node_never_sends_a_case_to_a_server_whose_certificate_another_province_issued(
        fresh_federation: Federation, partner: PartnerServer) -> None:
    cert, key = forged_node_certificate(fresh_federation, claims=ZHEJIANG, issued_by=JIANGSU)
    refused = forward_refused(anhui_gateway(fresh_federation, partner.start(cert, key, issuer=JIANGSU)), partner)
    assert "not issued by that province's CA" in str(refused)


def test_a_node_never_sends_a_case_to_a_partner_whose_node_certificate_was_revoked(
        fresh_federation: Federation, partner: PartnerServer) -> None:
    cert, key = fresh_federation.node_tls(ZHEJIANG)
    fresh_federation.revoke(ZHEJIANG, cert_pem=cert)  # say its key was stolen
    refused = forward_refused(anhui_gateway(fresh_federation, partner.start(cert, key, issuer=ZHEJIANG)), partner)
    assert "revoked" in str(refused)


def test_a_node_sends_cases_to_its_genuine_partner(fresh_federation: Federation, partner: PartnerServer) -> None:
    gateway = anhui_gateway(fresh_federation, partner.start(*fresh_federation.node_tls(ZHEJIANG), issuer=ZHEJIANG))
    try:
        forward_a_case(gateway)
        forward_a_case(gateway)
    finally:
        gateway.close()
    assert [case for case, _, _ in partner.received] == [CASE, CASE]


def test_a_partner_certificate_revoked_while_the_channel_is_open_stops_the_next_case(
        fresh_federation: Federation, partner: PartnerServer) -> None:
    cert, key = fresh_federation.node_tls(ZHEJIANG)
    gateway = anhui_gateway(fresh_federation, partner.start(cert, key, issuer=ZHEJIANG))
    try:
        forward_a_case(gateway)
        fresh_federation.revoke(ZHEJIANG, cert_pem=cert)
        # CRLs are re-read at most once a second: a fresh reader sees the new one without waiting.
        gateway.credentials.certificates = ClientCertificates(fresh_federation)  # type: ignore[attr-defined]
        with pytest.raises(PeerRefused) as refused:
            forward_a_case(gateway)
    finally:
        gateway.close()
    assert len(partner.received) == 1
    assert_refused_as_not_the_partner(refused.value)


def test_a_channel_already_open_never_sends_a_case_to_an_impostor_that_takes_over_the_partners_address(
        fresh_federation: Federation, partner: PartnerServer) -> None:
    address = partner.start(*fresh_federation.node_tls(ZHEJIANG), issuer=ZHEJIANG)
    gateway = anhui_gateway(fresh_federation, address)
    try:
        forward_a_case(gateway)
        partner.stop()
        impostor = PartnerServer(fresh_federation)
        impostor.start(*forged_node_certificate(fresh_federation, claims=ZHEJIANG, issued_by=JIANGSU),
                       issuer=JIANGSU, port=partner.port)
        try:
            # As the outbox would: try again while the partner seems merely unreachable (the old
            # connection's end, gRPC's reconnect backoff), until it answers or refuses.
            outcome: BaseException | None = None
            for _ in range(100):
                try:
                    forward_a_case(gateway)
                    outcome = None
                    break
                except PeerUnavailable as exc:
                    outcome = exc
                    time.sleep(0.1)
                except PeerRefused as exc:
                    outcome = exc
                    break
        finally:
            impostor.stop()
    finally:
        gateway.close()
    assert impostor.received == []
    assert outcome is not None
    assert_refused_as_not_the_partner(outcome)


# -- a node checks its callers on every call ---------------------------------------------------


def test_an_expired_certificate_is_refused_on_a_connection_already_open(
        fresh_federation: Federation, anhui_node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = short_lived_clerk(fresh_federation, "clerk-expiring-001")
    not_after = x509.load_pem_x509_certificate(cert).not_valid_after_utc
    with operator_channel(fresh_federation, anhui_node, cert, key) as channel:
        stub = window_pb2_grpc.WindowServiceStub(channel)
        stub.Monitor(common_pb2.MonitorRequest(), timeout=30)
        # The clock passes the clerk certificate's end (not the node's) while the connection stays open.
        monkeypatch.setattr(interceptors, "utc_now", lambda: not_after + dt.timedelta(seconds=1), raising=False)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Monitor(common_pb2.MonitorRequest(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.details().startswith("unusable client certificate")  # the node refused it
    assert "'clerk-expiring-001' expired" in refused.value.details()


def test_an_upload_stops_at_the_next_message_once_the_clerks_certificate_is_no_longer_valid(
        fresh_federation: Federation, anhui_node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
    from exchange.window import WindowDesk
    from nodes.samples import scanned_id_card

    cert, key = short_lived_clerk(fresh_federation, "clerk-leaving-002")
    not_after = x509.load_pem_x509_certificate(cert).not_valid_after_utc
    png = scanned_id_card()
    taking = threading.Event()
    take_material = WindowDesk.take_material

    def watched(self: Any, chunks: Any, **kwargs: Any) -> Any:
        def noticed() -> Iterator[bytes]:
            for chunk in chunks:
                taking.set()  # the desk is storing the upload: the call was let in
                yield chunk
        return take_material(self, noticed(), **kwargs)

    monkeypatch.setattr(WindowDesk, "take_material", watched)

    def messages() -> Iterator[common_pb2.MaterialChunk]:
        yield common_pb2.MaterialChunk(header=common_pb2.MaterialHeader(
            kind="id_card", file_name="id.png", media_type="image/png"))
        yield common_pb2.MaterialChunk(data=png[:1000])
        assert taking.wait(30)  # the node let the upload in and stores its first bytes
        # Mid-stream the clerk's certificate ends (revoked would do the same, after the CRL's next read).
        monkeypatch.setattr(interceptors, "utc_now", lambda: not_after + dt.timedelta(seconds=1), raising=False)
        yield common_pb2.MaterialChunk(data=png[1000:])

    with operator_channel(fresh_federation, anhui_node, cert, key) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            window_pb2_grpc.WindowServiceStub(channel).UploadMaterial(messages(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # before: the upload was stored
    assert "'clerk-leaving-002' expired" in refused.value.details()
    assert anhui_node.node.context.store.stat(hashlib.sha256(png).hexdigest()) is None


def test_a_forged_certificate_is_recorded_under_its_fingerprint_not_the_province_it_claims(
        fresh_federation: Federation, anhui_node: RunningNode) -> None:
    cert, key = forged_node_certificate(fresh_federation, claims=ZHEJIANG, issued_by=JIANGSU)
    with operator_channel(fresh_federation, anhui_node, cert, key, of=JIANGSU) as channel:
        assert status_of(lambda: peer_pb2_grpc.PeerServiceStub(channel).GetIssuedResult(
            common_pb2.CaseRef(case_number=CASE), timeout=30)) == grpc.StatusCode.UNAUTHENTICATED
    assert anhui_node.refusals is not None
    [forged] = anhui_node.refusals.list()
    fingerprint = hashlib.sha256(x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER))
    assert (forged.province, forged.role, forged.operator) == ("", "", "")
    assert forged.fingerprint_sha256 == fingerprint.hexdigest()
    assert "tongban-node-330000" in forged.common_name  # its subject, as it stands
    assert anhui_node.refusals.list(province=ZHEJIANG) == []
    # Zhejiang's genuine node, refused for what it asks, is still recorded as Zhejiang's.
    with operator_channel(fresh_federation, anhui_node, *fresh_federation.node_tls(ZHEJIANG), of=ZHEJIANG) as channel:
        assert status_of(lambda: peer_pb2_grpc.PeerServiceStub(channel).GetTransferOffset(peer_pb2.TransferRef(
            from_province=JIANGSU, case_number=CASE, sha256="ab" * 32), timeout=30)) == grpc.StatusCode.PERMISSION_DENIED
    [genuine] = anhui_node.refusals.list(province=ZHEJIANG)
    assert genuine.role == "node"


@pytest.mark.parametrize("whose", [ANHUI, None], ids=["a province's list", "the root's list"])
def test_a_missing_revocation_list_refuses_callers_instead_of_trusting_them(
        fresh_federation: Federation, anhui_node: RunningNode, whose: str | None, tmp_path: Path) -> None:
    cert, key = fresh_federation.issue_operator(ANHUI, role="window", operator_id="clerk-leaving-002")
    if whose == ANHUI:
        fresh_federation.revoke(ANHUI, cert_pem=cert)  # a list it is on; without the root's, it is not even needed
    client = clients_copy(fresh_federation, tmp_path / "clerk-pki")
    folder = fresh_federation.directory / "root" if whose is None else fresh_federation._province_dir(whose)
    (folder / "crl.pem").unlink()  # the node's copy is gone
    with operator_channel(client, anhui_node, cert, key) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            window_pb2_grpc.WindowServiceStub(channel).Monitor(common_pb2.MonitorRequest(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.details().startswith("unusable client certificate")  # the node refused it
    named = "the federation root" if whose is None else f"province {whose}"
    assert f"the CRL of {named} cannot be read" in refused.value.details()


def test_a_revocation_list_past_its_next_update_is_still_used_with_a_warning(
        fresh_federation: Federation, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, _ = fresh_federation.issue_operator(ANHUI, role="window", operator_id="clerk-late-003")
    next_update = x509.load_pem_x509_crl(fresh_federation.crl_pem(ANHUI)).next_update_utc
    assert next_update is not None
    monkeypatch.setattr(interceptors, "utc_now", lambda: next_update + dt.timedelta(hours=1), raising=False)
    certificates = ClientCertificates(fresh_federation)
    with caplog.at_level(logging.WARNING, logger="tongban.rpc"):
        assert certificates.identify(cert).operator_id == "clerk-late-003"
    assert any("was due to be replaced" in r.getMessage() and f"province {ANHUI}" in r.getMessage()
               for r in caplog.records)
