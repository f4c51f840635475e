"""The federation PKI on disk and the identities its certificates carry."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.errors import SigningError
from signing.identity import identity_from_certificate
from signing.pki import Federation, default_provinces, init_federation
from tests.fixtures.signing_assets import COMPETENT, OTHER, make_federation


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return make_federation(tmp_path_factory.mktemp("pki") / "fed")


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_the_default_federation_has_four_provinces_with_six_departments_each() -> None:
    provinces = {p.code: p for p in default_provinces()}
    assert {"340000", "330000", "320000", "310000"} <= provinces.keys()
    assert provinces["330000"].departments["market"] == "浙江省市场监督管理局"
    assert provinces["310000"].departments["public_security"] == "上海市公安局"
    for p in provinces.values():
        assert {"market", "public_security", "hrss", "civil_affairs", "justice", "health"} <= p.departments.keys()


def test_init_lays_out_keys_certificates_and_crls(fed: Federation) -> None:
    d = fed.directory
    for rel in ("root/ca.pem", "root/ca.key", "root/crl.pem", f"provinces/{COMPETENT}/node.pem",
                f"provinces/{COMPETENT}/crl.pem", f"provinces/{COMPETENT}/seals/market.key",
                f"provinces/{OTHER}/operators/clerk-hefei-001.pem"):
        assert (d / rel).is_file(), rel
    for key in d.rglob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    manifest = json.loads((d / "federation.json").read_text(encoding="utf-8"))
    assert manifest["provinces"][COMPETENT]["name"] == "浙江省"
    assert len(fed.crls_der()) == 1 + len(fed.provinces)
    assert len(fed.ca_certs_pem()) == 1 + len(fed.provinces)


def test_a_directory_holding_a_federation_is_never_overwritten(fed: Federation) -> None:
    with pytest.raises(SigningError, match="already holds a federation"):
        init_federation(fed.directory, provinces=default_provinces())


def test_opening_reads_back_the_same_federation(fed: Federation) -> None:
    again = Federation.open(fed.directory)
    assert again.provinces == fed.provinces
    assert again.root_pem() == fed.root_pem()
    with pytest.raises(SigningError, match="tongban pki init"):
        Federation.open(fed.directory / "nowhere")


def test_a_crl_replaced_on_disk_by_another_process_is_read_at_once(tmp_path: Path) -> None:
    fed = make_federation(tmp_path / "fed")
    before = fed.trust()
    writer = Federation.open(fed.directory)  # the directory exchange, say, in another process
    writer.reissue_crl(COMPETENT)
    after = fed.trust()
    assert after.crls_der != before.crls_der
    assert after.crls_der == writer.trust().crls_der
    assert fed.chain_trust(COMPETENT).crls_der[1] == _crl_der_of(writer, COMPETENT)


def test_a_crl_rewritten_in_place_is_read_at_once(tmp_path: Path) -> None:
    fed = make_federation(tmp_path / "fed")
    path = fed.directory / "provinces" / COMPETENT / "crl.pem"
    fed.trust()
    other = Federation.open(fed.directory)
    other.reissue_crl(COMPETENT)  # a new CRL beside it, then its bytes written over the old file
    fresh = path.read_bytes()
    with path.open("r+b") as file:  # same inode: only the size and times tell the change
        file.write(fresh + b"\n")
        file.truncate()
    assert fed.crl_pem(COMPETENT) == fresh + b"\n"


def test_a_crl_rewritten_in_place_at_the_same_size_moments_after_a_read_is_read_at_once(tmp_path: Path) -> None:
    fed = make_federation(tmp_path / "fed")
    path = fed.directory / "provinces" / COMPETENT / "crl.pem"
    old = fed.crl_pem(COMPETENT)
    same_size = old[:-2] + (b"X" if old[-2:-1] != b"X" else b"Y") + old[-1:]
    with path.open("r+b") as file:  # same inode, same size, and maybe the same timestamp step
        file.write(same_size)
    assert fed.crl_pem(COMPETENT) == same_size


def _opening_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    real_open = open

    def counting_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    real_path_open = Path.open

    def counting_path_open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(str(self))
        return real_path_open(self, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    monkeypatch.setattr(Path, "open", counting_path_open)  # Path.read_bytes, as load_private_key reads
    return opened


def test_unchanged_trust_files_are_not_read_again_and_keys_are_not_kept(
        fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("signing.pki._SETTLED_NS", 0)  # as if the federation had been written long ago
    fed.trust()
    fed.node_tls(COMPETENT)
    opened = _opening_counted(monkeypatch)
    assert fed.trust().crls_der == tuple(fed.crls_der())
    assert fed.chain_trust(COMPETENT).root_pem == fed.root_pem()
    assert opened == []
    fed.node_tls(COMPETENT)
    assert any(name.endswith("node.key") for name in opened)  # a key is read each time it is asked for


def test_files_written_in_the_last_seconds_are_read_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fed = make_federation(tmp_path / "fed")
    fed.trust()
    opened = _opening_counted(monkeypatch)
    fed.trust()
    assert sum(name.endswith("crl.pem") for name in opened) == 1 + len(fed.provinces)


def _crl_der_of(fed: Federation, code: str) -> bytes:
    return x509.load_pem_x509_crl(fed.crl_pem(code)).public_bytes(serialization.Encoding.DER)


def test_the_chain_runs_root_to_province_ca_to_seal(fed: Federation) -> None:
    root, ca = _cert(fed.root_pem()), _cert(fed.province_ca_pem(COMPETENT))
    seal = _cert(fed.seal_paths(COMPETENT, "market")[0].read_bytes())
    ca.verify_directly_issued_by(root)
    seal.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert seal.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "浙江省市场监督管理局"
    assert seal.subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == "浙江省"
    points = seal.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == f"http://crl.tongban.invalid/{COMPETENT}.crl"
    assert (seal.not_valid_after_utc - seal.not_valid_before_utc).days >= 729
    crl = x509.load_der_x509_crl(fed.crls_der()[0])
    assert crl.next_update_utc - crl.last_update_utc <= dt.timedelta(days=7, minutes=5)


def test_node_certificates_serve_and_call_over_loopback(fed: Federation) -> None:
    cert_pem, key_pem = fed.node_tls(COMPETENT)
    cert = _cert(cert_pem)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(eku)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert str(san.get_values_for_type(x509.IPAddress)[0]) == "127.0.0.1"
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_identities_read_from_every_kind_of_certificate(fed: Federation) -> None:
    seal = identity_from_certificate(fed.seal_paths(COMPETENT, "market")[0].read_bytes())
    assert (seal.province_code, seal.role, seal.department_key, seal.common_name) == (
        COMPETENT, "seal", "market", "浙江省市场监督管理局")
    assert len(seal.fingerprint_sha256) == 64
    node = identity_from_certificate(_cert(fed.node_tls(OTHER)[0]).public_bytes(serialization.Encoding.DER))
    assert (node.province_code, node.role, node.department_key) == (OTHER, "node", None)
    clerk = identity_from_certificate(fed.operator_tls(OTHER, "clerk-hefei-001")[0])
    assert (clerk.role, clerk.operator_id) == ("window", "clerk-hefei-001")
    assert identity_from_certificate(fed.province_ca_pem(OTHER)).role == "province-ca"
    assert identity_from_certificate(fed.root_pem()).role == "root"


def test_operators_can_be_issued_later_but_only_with_an_operator_role(fed: Federation) -> None:
    cert, _ = fed.issue_operator(COMPETENT, role="auditor", operator_id="auditor-hz-1")
    assert identity_from_certificate(cert).role == "auditor"
    assert fed.operator_tls(COMPETENT, "auditor-hz-1")[0] == cert
    with pytest.raises(SigningError, match="operator role"):
        fed.issue_operator(COMPETENT, role="seal", operator_id="x")
    with pytest.raises(SigningError, match="no operator"):
        fed.operator_tls(COMPETENT, "nobody")


def _self_signed(*uris: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mallory")])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)))
    if uris:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(u) for u in uris]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("uris, problem", [
    ((), "no subjectAltName"),
    (("urn:tongban:role:node",), "no urn:tongban:province"),
    (("urn:tongban:province:330000",), "no urn:tongban:role"),
    (("urn:tongban:province:330000", "urn:tongban:province:340000", "urn:tongban:role:node"), "several"),
    (("urn:tongban:province:330000", "urn:tongban:role:emperor"), "unknown role"),
    (("urn:tongban:province:33", "urn:tongban:role:node"), "six digits"),
    (("urn:tongban:province:330000", "urn:tongban:role:seal"), "no urn:tongban:department"),
    (("urn:tongban:province:330000", "urn:tongban:role:seal", "urn:tongban:department:340000:market"), "contradicts"),
    (("urn:tongban:province:330000", "urn:tongban:role:window"), "no urn:tongban:operator"),
])
def test_certificates_with_missing_or_contradictory_identities_are_refused(uris: tuple[str, ...], problem: str) -> None:
    with pytest.raises(SigningError, match=problem):
        identity_from_certificate(_self_signed(*uris))


def test_bytes_that_are_not_a_certificate_are_refused() -> None:
    with pytest.raises(SigningError, match="PEM or DER"):
        identity_from_certificate(b"hello")


def test_a_missing_cjk_font_tells_the_operator_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import signing.fonts as fonts

    monkeypatch.setattr(fonts, "_registered", None)
    monkeypatch.setenv("TONGBAN_CJK_FONT", str(tmp_path / "missing.ttc"))
    with pytest.raises(SigningError, match="apt-get install fonts-arphic-uming"):
        fonts.cjk_font()
