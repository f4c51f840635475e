"""A province's CA certifies its own departments only: a seal certificate that one province's CA
issued in another province's name never passes, also offline where no competent province is given
(`tongban verify FILE --pki DIR`). Real pyHanko signatures, a real timestamp, real CRLs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.identity import department_uri, province_uri, role_uri
from signing.pki import Federation, _crl_url, _issue, _name, load_private_key
from signing.render import render_certificate
from signing.tsa import AuthorityTimeStamper, TimestampAuthority
from signing.validation import reusing_context
from signing.verify import Reason, Verdict, verify_sealed_pdf
from tests.fixtures.signing_assets import COMPETENT, OTHER, make_federation, request


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def sealed_in_anothers_name(fed: Federation) -> bytes:
    """Anhui's CA issues a seal and a timestamp certificate naming Zhejiang's market bureau, and seals with them."""
    folder = fed.directory / "provinces" / OTHER
    ca_cert, ca_key = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes()), load_private_key(folder / "ca.key")
    seal_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    seal_cert = _issue(subject=_name("浙江省市场监督管理局", organization="浙江省市场监督管理局", province_name="浙江省"),
                       key=seal_key, issuer=(ca_cert, ca_key), days=30,
                       uris=[province_uri(COMPETENT), role_uri("seal"), department_uri(COMPETENT, "market")],
                       key_usage={"digital_signature": True, "content_commitment": True}, crl_url=_crl_url(OTHER))
    tsa_cert = _issue(subject=_name("浙江省跨省通办时间戳服务", organization="浙江省", province_name="浙江省"),
                      key=tsa_key, issuer=(ca_cert, ca_key), days=30, uris=[province_uri(COMPETENT), role_uri("tsa")],
                      key_usage={"digital_signature": True, "content_commitment": True},
                      eku=[x509.oid.ExtendedKeyUsageOID.TIME_STAMPING], critical_eku=True, crl_url=_crl_url(OTHER))
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(_der(seal_cert)),
        signing_key=load_private_key_from_pemder_data(seal_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), None),
        cert_registry=SimpleCertificateStore.from_certs(list(load_certs_from_pemder_data(fed.province_ca_pem(OTHER)))),
        embed_roots=False)
    meta = signers.PdfSignatureMetadata(
        field_name="TongbanSeal", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES, certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES, embed_validation_info=True,
        validation_context=reusing_context(fed.chain_trust(OTHER)),
        dss_settings=DSSContentSettings(placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False))
    stamper = AuthorityTimeStamper(TimestampAuthority(cert_der=_der(tsa_cert), chain_der=(_der(ca_cert),), key=tsa_key))
    pdf = render_certificate(request(), province_name="浙江省")
    return signers.PdfSigner(meta, signer=signer, timestamper=stamper).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)).getvalue()


@pytest.mark.parametrize(("province", "department"), [(None, None), (None, "market"), (OTHER, "market")],
                         ids=["offline", "offline, department given", "the issuing CA's province"])
def test_one_provinces_ca_cannot_seal_in_anothers_name(tmp_path: Path, province: str | None,
                                                       department: str | None) -> None:
    fed = make_federation(tmp_path / "pki")
    report = verify_sealed_pdf(sealed_in_anothers_name(fed), trust=fed.trust(), competent_province=province,
                               competent_department=department, issued_sha256=None)
    assert (report.verdict, report.reason) == (Verdict.TOTAL_FAILED, Reason.NOT_COMPETENT_SIGNER), report.render()
    assert f"names province {COMPETENT} but was issued by the CA of {OTHER}" in report.detail  # offline before: PASSED
