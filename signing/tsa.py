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
        return self._grant(request, imprint).dump()

    def _grant(self, request: tsp.TimeStampReq, imprint: tsp.MessageImprint) -> tsp.TimeStampResp:
        now = self._clock.now(timezone.utc).replace(microsecond=0)
        info: dict[str, object] = {
            "version": "v1",
            "policy": TSA_POLICY_OID,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(64),
            "gen_time": now,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName(name="directory_name", value=self.cert.subject),
        }
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"]
        tst_info = tsp.TSTInfo(info).dump()
        signed_attrs = cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(now)})),
            simple_cms_attribute("message_digest", hashlib.sha256(tst_info).digest()),
            simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(self.cert)),
        ])
        signature = self._key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        certificates = [self.cert, *self.chain] if request["cert_req"].native else []
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": self.cert.issuer, "serial_number": self.cert.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        })
        signed_data = cms.SignedData({
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": cms.ParsableOctetString(tst_info)},
            "certificates": certificates,
            "signer_infos": [signer_info],
        })
        return tsp.TimeStampResp({
            "status": {"status": "granted"},
            "time_stamp_token": cms.ContentInfo({"content_type": "signed_data", "content": signed_data}),
        })


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
