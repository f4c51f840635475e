"""A province's RFC 3161 timestamp authority.

`TimestampAuthority` answers DER TimeStampReq with DER TimeStampResp, signed with the
province's TSA key (EC P-256). The node's own sealer reaches it in-process through
`AuthorityTimeStamper`; other software reaches it over HTTP (`TsaHttpServer`, loopback,
`application/timestamp-query`) through `HttpTimeStamper` or any RFC 3161 client."""

from __future__ import annotations

import hashlib
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps.api import TimeStamper

from signing.errors import SigningError
from signing.pki import Federation, load_private_key

# An OID under the UUID arc (2.25, ITU-T X.667) names tongban's timestamp policy without a
# registration: accuracy one second, clock from the node's NTP-disciplined system time.
TSA_POLICY_OID = "2.25.248516470361209413389389395394880094401"
_DIGESTS = {"sha256": (hashes.SHA256, 32), "sha384": (hashes.SHA384, 48), "sha512": (hashes.SHA512, 64)}
CONTENT_TYPE_QUERY = "application/timestamp-query"
CONTENT_TYPE_REPLY = "application/timestamp-reply"


class TimestampAuthority:
    """Stateless apart from its key: safe to share between threads."""

    def __init__(self, *, cert_der: bytes, chain_der: tuple[bytes, ...], key: ec.EllipticCurvePrivateKey,
                 clock: type[datetime] = datetime) -> None:
        self.cert = asn1_x509.Certificate.load(cert_der)
        self.chain = tuple(asn1_x509.Certificate.load(c) for c in chain_der)
        self._key = key
        self._clock = clock
        self._fixed = _FixedParts.of(self.cert, self.chain)

    @classmethod
    def of_province(cls, federation: Federation, code: str) -> TimestampAuthority:
        cert_path, key_path = federation.tsa_paths(code)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca = x509.load_pem_x509_certificate(federation.province_ca_pem(code))
        return cls(cert_der=cert.public_bytes(serialization.Encoding.DER),
                   chain_der=(ca.public_bytes(serialization.Encoding.DER),), key=load_private_key(key_path))

    def respond(self, request_der: bytes) -> bytes:
        """Answer one request; a malformed or unsupported request gets a rejection, not an exception."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
        except (ValueError, TypeError, KeyError) as exc:
            return _rejection("bad_data_format", f"not a TimeStampReq: {exc}")
        if algorithm not in _DIGESTS:
            return _rejection("bad_alg", f"hash algorithm {algorithm} not accepted; use sha256, sha384 or sha512")
        if len(digest) != _DIGESTS[algorithm][1]:
            return _rejection("bad_data_format", f"message imprint length {len(digest)} does not fit {algorithm}")
        policy = request["req_policy"].native
        if policy is not None and policy != TSA_POLICY_OID:
            return _rejection("unaccepted_policy", f"policy {policy} not offered; this TSA uses {TSA_POLICY_OID}")
        try:
            nonce = request["nonce"]
            has_nonce = nonce.native is not None
            cert_req = bool(request["cert_req"].native)
        except (ValueError, TypeError) as exc:
            return _rejection("bad_data_format", f"not a TimeStampReq: {exc}")
        return self._grant(imprint.dump(), nonce=nonce.dump() if has_nonce else None, cert_req=cert_req)

    def _grant(self, imprint_der: bytes, *, nonce: bytes | None, cert_req: bool) -> bytes:
        """The DER of a granted TimeStampResp. Everything that is the same in every token was
        encoded once (`_FixedParts`); only the TSTInfo, the signed attributes and the signature
        are encoded here, in the exact DER asn1crypto produces for the same structure."""
        fixed = self._fixed
        now = self._clock.now(timezone.utc).replace(microsecond=0)
        tst_info = _tlv(0x30, b"".join((
            fixed.tst_version, fixed.tst_policy, imprint_der,
            core.Integer(secrets.randbits(64)).dump(), core.GeneralizedTime(now).dump(),
            fixed.tst_accuracy, nonce or b"", fixed.tst_tsa,
        )))
        # SET OF in DER: members in the order of their encodings.
        attrs = b"".join(sorted((
            fixed.attr_content_type,
            _tlv(0x30, fixed.oid_signing_time + _tlv(0x31, core.UTCTime(now).dump())),
            _tlv(0x30, fixed.oid_message_digest + _tlv(0x31, _tlv(0x04, hashlib.sha256(tst_info).digest()))),
            fixed.attr_signing_certificate_v2,
        )))
        # The signature covers the attributes as a SET; in SignerInfo they are [0] IMPLICIT.
        signature = self._key.sign(_tlv(0x31, attrs), ec.ECDSA(hashes.SHA256()))
        signer_info = _tlv(0x30, b"".join((
            fixed.signer_info_head, _tlv(0xA0, attrs), fixed.signature_algorithm, _tlv(0x04, signature))))
        signed_data = _tlv(0x30, b"".join((
            fixed.signed_data_head,
            _tlv(0x30, fixed.oid_tst_info + _tlv(0xA0, _tlv(0x04, tst_info))),
            fixed.certificates if cert_req else _tlv(0xA0, b""),  # an empty set, as ever
            _tlv(0x31, signer_info),
        )))
        token = _tlv(0x30, fixed.oid_signed_data + _tlv(0xA0, signed_data))
        return _tlv(0x30, fixed.status_granted + token)


@dataclass(frozen=True)
class _FixedParts:
    """DER of the parts of a token that depend only on the TSA's certificates, encoded by
    asn1crypto from the same structures a token is made of."""

    status_granted: bytes
    oid_signed_data: bytes
    oid_tst_info: bytes
    oid_signing_time: bytes
    oid_message_digest: bytes
    tst_version: bytes
    tst_policy: bytes
    tst_accuracy: bytes
    tst_tsa: bytes
    attr_content_type: bytes
    attr_signing_certificate_v2: bytes
    signer_info_head: bytes      # version, sid, digest algorithm
    signature_algorithm: bytes
    signed_data_head: bytes      # version, digest algorithms
    certificates: bytes          # [0] IMPLICIT SET OF, as sent when the request asks for them

    @classmethod
    def of(cls, cert: asn1_x509.Certificate, chain: tuple[asn1_x509.Certificate, ...]) -> _FixedParts:
        tst = tsp.TSTInfo({
            "version": "v1",
            "policy": TSA_POLICY_OID,
            "accuracy": {"seconds": 1},
            "tsa": asn1_x509.GeneralName(name="directory_name", value=cert.subject),
        })
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        })
        signed_data = cms.SignedData({
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "certificates": [cert, *chain],
        })
        return cls(
            status_granted=tsp.PKIStatusInfo({"status": "granted"}).dump(),
            oid_signed_data=cms.ContentType("signed_data").dump(),
            oid_tst_info=cms.ContentType("tst_info").dump(),
            oid_signing_time=cms.CMSAttributeType("signing_time").dump(),
            oid_message_digest=cms.CMSAttributeType("message_digest").dump(),
            tst_version=tst["version"].dump(),
            tst_policy=tst["policy"].dump(),
            tst_accuracy=tst["accuracy"].dump(),
            tst_tsa=tst["tsa"].dump(),
            attr_content_type=simple_cms_attribute("content_type", "tst_info").dump(),
            attr_signing_certificate_v2=simple_cms_attribute(
                "signing_certificate_v2", as_signing_certificate_v2(cert)).dump(),
            signer_info_head=b"".join(signer_info[f].dump()
                                      for f in ("version", "sid", "digest_algorithm")),
            signature_algorithm=signer_info["signature_algorithm"].dump(),
            signed_data_head=signed_data["version"].dump() + signed_data["digest_algorithms"].dump(),
            certificates=signed_data["certificates"].dump(),
        )


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _der_length(len(content)) + content


def _rejection(failure: str, text: str) -> bytes:
    # asn1crypto insists on a token, which a rejection must not carry: frame the SEQUENCE by hand.
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text],
                                "fail_info": tsp.PKIFailureInfo({failure})}).dump()
    return core.Sequence.load(b"\x30" + _der_length(len(status)) + status).dump()


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def response_status(response_der: bytes) -> tuple[str, frozenset[str], str]:
    """(status, failure flags, text) of a TimeStampResp, readable even when it carries no token."""
    try:
        outer = core.Sequence.load(response_der)
        status = tsp.PKIStatusInfo.load(outer[0].dump())
        return (status["status"].native, frozenset(status["fail_info"].native or ()),
                "; ".join(status["status_string"].native or []))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SigningError(f"the timestamp authority sent something that is not a TimeStampResp ({exc})") from exc


def _checked(response_der: bytes) -> tsp.TimeStampResp:
    status, _, text = response_status(response_der)
    if status not in ("granted", "granted_with_mods"):
        raise SigningError(f"the timestamp authority refused the request: {status} ({text or 'no reason given'})")
    return tsp.TimeStampResp.load(response_der)


class AuthorityTimeStamper(TimeStamper):
    """pyHanko's TimeStamper talking DER to an in-process authority (the node's own TSA)."""

    def __init__(self, authority: TimestampAuthority) -> None:
        super().__init__(include_nonce=True)
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return _checked(self.authority.respond(req.dump()))


class HttpTimeStamper(TimeStamper):
    """RFC 3161 over HTTP (RFC 3161 §3.4) with the standard library, for a TSA beside the node."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        super().__init__(include_nonce=True)
        self.url = url
        self.timeout = timeout

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        http_request = urllib.request.Request(self.url, data=req.dump(), method="POST",
                                              headers={"Content-Type": CONTENT_TYPE_QUERY})
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as answer:  # noqa: S310 (loopback URL)
                body = answer.read()
        except (urllib.error.URLError, OSError) as exc:
            raise SigningError(f"timestamp authority at {self.url} unreachable ({exc}); is the node's TSA running?") \
                from exc
        return _checked(body)


class TsaHttpServer:
    """The authority on an HTTP port (loopback by default), in a daemon thread."""

    def __init__(self, authority: TimestampAuthority, *, host: str = "127.0.0.1", port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                if self.headers.get("Content-Type", "").split(";")[0].strip() != CONTENT_TYPE_QUERY:
                    self.send_error(415, f"send {CONTENT_TYPE_QUERY}")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= 64 * 1024:
                    self.send_error(413 if length else 411, "a TimeStampReq is a few hundred bytes")
                    return
                body = authority.respond(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_REPLY)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # the node's access log is for gRPC; a TSA hit per seal is noise

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tsa-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/tsa"

    def start(self) -> TsaHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
