"""The TSA encodes its tokens from pre-encoded parts (for speed): they must be byte for byte what
asn1crypto makes of the same TimeStampResp, and a real token must verify."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

import pytest
from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute

import signing.tsa as tsa_module
from signing.pki import Federation
from signing.tsa import TSA_POLICY_OID, TimestampAuthority
from tests.fixtures.signing_assets import COMPETENT, make_federation

MOMENT = datetime(2026, 3, 7, 9, 41, 5, 123456, tzinfo=timezone.utc)
SERIAL = 0xF3A1_0000_0000_0001  # top bit set: the INTEGER needs a leading zero byte


class _Clock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return MOMENT


class _RecordingKey:
    """Signs nothing: returns a digest of what it was given, so equal responses mean equal
    signed attributes."""

    def sign(self, data: bytes, algorithm: Any) -> bytes:
        return hashlib.sha256(b"signed:" + data).digest()


def _reference(tsa: TimestampAuthority, request: tsp.TimeStampReq) -> bytes:
    """The response as the TSA built it before, through asn1crypto structures."""
    now = MOMENT.replace(microsecond=0)
    imprint = request["message_imprint"]
    info: dict[str, object] = {
        "version": "v1", "policy": TSA_POLICY_OID, "message_imprint": imprint, "serial_number": SERIAL,
        "gen_time": now, "accuracy": {"seconds": 1}, "ordering": False,
        "tsa": asn1_x509.GeneralName(name="directory_name", value=tsa.cert.subject),
    }
    if request["nonce"].native is not None:
        info["nonce"] = request["nonce"]
    tst_info = tsp.TSTInfo(info).dump()
    signed_attrs = cms.CMSAttributes([
        simple_cms_attribute("content_type", "tst_info"),
        simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(now)})),
        simple_cms_attribute("message_digest", hashlib.sha256(tst_info).digest()),
        simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(tsa.cert)),
    ])
    signature = _RecordingKey().sign(signed_attrs.dump(), None)
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": tsa.cert.issuer, "serial_number": tsa.cert.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
        "signed_attrs": signed_attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": "tst_info", "content": cms.ParsableOctetString(tst_info)},
        "certificates": [tsa.cert, *tsa.chain] if request["cert_req"].native else [],
        "signer_infos": [signer_info],
    })
    return tsp.TimeStampResp({
        "status": {"status": "granted"},
        "time_stamp_token": cms.ContentInfo({"content_type": "signed_data", "content": signed_data}),
    }).dump()


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return make_federation(tmp_path_factory.mktemp("tsa-der") / "fed")


def _authority(fed: Federation, key: Any) -> TimestampAuthority:
    real = TimestampAuthority.of_province(fed, COMPETENT)
    return TimestampAuthority(cert_der=real.cert.dump(), chain_der=tuple(c.dump() for c in real.chain), key=key,
                              clock=_Clock)


@pytest.mark.parametrize("algorithm,size", [("sha256", 32), ("sha512", 64)])
@pytest.mark.parametrize("nonce", [None, 7, 2**63 + 5])
@pytest.mark.parametrize("cert_req", [True, False])
def test_a_token_is_the_der_asn1crypto_makes_of_it(fed: Federation, monkeypatch: pytest.MonkeyPatch, algorithm: str,
                                                   size: int, nonce: int | None, cert_req: bool) -> None:
    monkeypatch.setattr(tsa_module.secrets, "randbits", lambda bits: SERIAL)
    tsa = _authority(fed, _RecordingKey())
    fields: dict[str, object] = {"version": 1, "cert_req": cert_req, "message_imprint": {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}), "hashed_message": bytes(range(size))}}
    if nonce is not None:
        fields["nonce"] = nonce
    request = tsp.TimeStampReq(fields)
    assert tsa.respond(request.dump()) == _reference(tsa, tsp.TimeStampReq.load(request.dump()))


def test_a_real_token_verifies_with_the_tsa_key(fed: Federation) -> None:
    tsa = TimestampAuthority.of_province(fed, COMPETENT)
    request = tsp.TimeStampReq({"version": 1, "nonce": 99, "cert_req": True, "message_imprint": {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "hashed_message": bytes(32)}})
    answer = tsp.TimeStampResp.load(tsa.respond(request.dump()))
    signed_data = answer["time_stamp_token"]["content"]
    signer_info = signed_data["signer_infos"][0]
    tst_info = signed_data["encap_content_info"]["content"].contents
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attrs["message_digest"].native == hashlib.sha256(tst_info).digest()
    key = load_der_public_key(tsa.cert.public_key.dump())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signed = signer_info["signed_attrs"].untag().dump(force=True)
    key.verify(signer_info["signature"].native, signed, ec.ECDSA(hashes.SHA256()))
    assert {c.chosen.sha256 for c in signed_data["certificates"]} == {c.sha256 for c in (tsa.cert, *tsa.chain)}
