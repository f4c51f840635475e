"""CRL exchange through the federation directory, between two real nodes on loopback, each with
its own copy of the federation files: a revocation at the competent province reaches the window's
node and its verifier without a restart."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from nodes.clients import operator_channel
from nodes.directory import RevocationExchange
from nodes.launch import loopback_configs
from nodes.server import RunningNode, start_node
from nodes.tls import channel_credentials, secure_channel
from signing.errors import SigningError
from signing.pki import Federation, Province
from signing.seal import DepartmentSealer
from signing.verify import Reason, SealVerifier
from tests.fixtures.signing_assets import COMPETENT, OTHER, make_federation, request
from tongban_pb import directory_pb2, directory_pb2_grpc

PROVINCES = [Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}),
             Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"})]


@dataclasses.dataclass
class TwoNodes:
    competent_fed: Federation  # Zhejiang's files (its CA key is there)
    window_fed: Federation  # Anhui's own copy
    nodes: dict[str, RunningNode]

    def exchange_at_window(self) -> RevocationExchange:
        node = self.nodes[OTHER].node
        return RevocationExchange(federation=self.window_fed, peers=node.config.peers,
                                  credentials=node.peers.credentials)


@pytest.fixture()
def two_nodes(tmp_path: Path) -> Iterator[TwoNodes]:
    competent_fed = make_federation(tmp_path / "pki-zj", provinces=PROVINCES)
    shutil.copytree(competent_fed.directory, tmp_path / "pki-ah")
    window_fed = Federation.open(tmp_path / "pki-ah")
    configs = loopback_configs(tmp_path, [OTHER, COMPETENT])
    configs[COMPETENT] = dataclasses.replace(configs[COMPETENT], pki_dir=competent_fed.directory)
    configs[OTHER] = dataclasses.replace(configs[OTHER], pki_dir=window_fed.directory)
    nodes = {code: start_node(config) for code, config in configs.items()}
    try:
        yield TwoNodes(competent_fed=competent_fed, window_fed=window_fed, nodes=nodes)
    finally:
        for node in nodes.values():
            node.stop(0)


def test_a_revocation_at_the_competent_province_reaches_the_window_through_the_directory(two_nodes: TwoNodes) -> None:
    pdf = DepartmentSealer(federation=two_nodes.competent_fed, province_code=COMPETENT).issue(request())
    window_verifier = two_nodes.nodes[OTHER].node.context.verifier
    assert isinstance(window_verifier, SealVerifier)

    def verdict() -> Reason | None:
        return window_verifier.verify(pdf, competent_province=COMPETENT, competent_department="market",
                                      issued_sha256=None).reason

    assert verdict() is None
    seal_cert, _ = two_nodes.competent_fed.seal_paths(COMPETENT, "market")
    two_nodes.competent_fed.revoke(COMPETENT, cert_pem=seal_cert.read_bytes())
    assert verdict() is None  # the window does not know yet

    (outcome,) = two_nodes.exchange_at_window().refresh_all()
    assert outcome.error is None and outcome.installed == (COMPETENT,), outcome
    assert verdict() is Reason.REVOKED  # same verifier object, fresh CRL

    (again,) = two_nodes.exchange_at_window().refresh_all()
    assert again.installed == () and COMPETENT in again.unchanged


def test_the_directory_serves_crls_and_trust_material_to_nodes_only(two_nodes: TwoNodes) -> None:
    node = two_nodes.nodes[COMPETENT]
    lists = two_nodes.exchange_at_window().fetch(COMPETENT)
    assert lists.from_province == COMPETENT
    assert {c.issuer for c in lists.crls} == {"root", COMPETENT, OTHER}
    own = next(c for c in lists.crls if c.issuer == COMPETENT)
    assert "CN=浙江省跨省通办CA" in x509.load_der_x509_crl(own.crl_der).issuer.rfc4514_string()

    cert, key = two_nodes.window_fed.node_tls(OTHER)
    creds = channel_credentials(two_nodes.window_fed, cert_pem=cert, key_pem=key, province_of_cert=OTHER)
    with secure_channel(node.address, creds, province=COMPETENT) as channel:
        stub = directory_pb2_grpc.DirectoryServiceStub(channel)
        material = stub.GetTrustMaterial(directory_pb2.TrustMaterialRequest(), timeout=10)
        assert material.province == COMPETENT
        assert "时间戳" in x509.load_der_x509_certificate(material.tsa_der).subject.rfc4514_string()
        with pytest.raises(grpc.RpcError) as bad:
            stub.GetRevocationLists(directory_pb2.RevocationListsRequest(issuers=["999999"]), timeout=10)
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "999999" in (bad.value.details() or "")

    with operator_channel(two_nodes.competent_fed, province=COMPETENT, operator_id="officer-hangzhou-007",
                          address=node.address) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            directory_pb2_grpc.DirectoryServiceStub(channel).GetRevocationLists(
                directory_pb2.RevocationListsRequest(), timeout=10)
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_a_node_refuses_a_crl_not_signed_by_its_ca_and_an_older_one(tmp_path: Path) -> None:
    ours = make_federation(tmp_path / "ours", provinces=PROVINCES)
    theirs = make_federation(tmp_path / "theirs", provinces=PROVINCES)  # same names, other keys
    with pytest.raises(SigningError, match="not signed by"):
        ours.install_crl(theirs.crl_pem(COMPETENT))
    old = ours.crl_pem(COMPETENT)
    ours.reissue_crl(COMPETENT)
    assert ours.install_crl(old) is False
    assert ours.crl_pem(COMPETENT) != old
