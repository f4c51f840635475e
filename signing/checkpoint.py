"""Signed checkpoints of a node's log and witnesses' co-signatures (ECDSA with node keys).

A checkpoint says: the log of province P had `size` entries, whose Merkle tree head is `root`
and whose hash chain ends in `chain_head`. The node signs it with its node key; a partner node
that has checked it extends the last checkpoint it saw co-signs the same text. Verifying needs
only certificates: the signer's node certificate, its province CA and the federation root."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.errors import SigningError
from signing.identity import identity_from_certificate, load_certificate

CHECKPOINT_TAG = "tongban-checkpoint-v1"
COSIGNATURE_TAG = "tongban-cosignature-v1"


def parse_json(text: str, *, what: str) -> object:
    """JSON from elsewhere; arrays nested past the parser's recursion limit are malformed, not
    an internal error (the json module raises RecursionError for them)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise SigningError(f"malformed {what}: nested too deeply") from None


@dataclass(frozen=True)
class Checkpoint:
    log: str  # the province code whose log this is
    size: int
    root: str  # hex Merkle tree head over the first `size` entries
    chain_head: str  # hex chain hash of entry `size` (zeros for an empty log)
    signed_at: str  # ISO 8601, UTC

    def body(self) -> bytes:
        return "\n".join((CHECKPOINT_TAG, self.log, str(self.size), self.root, self.chain_head,
                          self.signed_at)).encode("ascii")


@dataclass(frozen=True)
class Signature:
    signer: str  # province code
    signed_at: str
    signature: str  # base64 DER ECDSA-SHA256
    certificate: str  # PEM of the signer's node certificate


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signature: Signature
    cosignatures: tuple[Signature, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {
            "checkpoint": vars(self.checkpoint),
            "signature": vars(self.signature),
            "cosignatures": [vars(c) for c in self.cosignatures],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> SignedCheckpoint:  # type: ignore[type-arg]
        try:
            signed = cls(
                checkpoint=Checkpoint(**data["checkpoint"]),
                signature=Signature(**data["signature"]),
                cosignatures=tuple(Signature(**c) for c in data.get("cosignatures", [])),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise SigningError(f"malformed checkpoint document ({exc!r})") from exc
        # A document from elsewhere: every field must have the type it claims before it is used.
        for part in (signed.checkpoint, signed.signature, *signed.cosignatures):
            for name, value in vars(part).items():
                wanted = int if name == "size" else str
                if type(value) is not wanted:
                    raise SigningError(f"malformed checkpoint document: {name} is {type(value).__name__}, "
                                       f"not {wanted.__name__}")
        return signed

    @classmethod
    def from_json(cls, text: str) -> SignedCheckpoint:
        return cls.from_dict(parse_json(text, what="checkpoint document"))

    def with_cosignature(self, cosignature: Signature) -> SignedCheckpoint:
        others = tuple(c for c in self.cosignatures if c.signer != cosignature.signer)
        return SignedCheckpoint(self.checkpoint, self.signature, others + (cosignature,))


def cosignature_body(checkpoint: Checkpoint, *, witness: str, signed_at: str) -> bytes:
    return "\n".join((COSIGNATURE_TAG, witness, signed_at)).encode("ascii") + b"\n" + checkpoint.body()


def _sign(data: bytes, key_pem: bytes) -> str:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningError("a node key must be an EC key")
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode("ascii")


def sign_checkpoint(checkpoint: Checkpoint, *, cert_pem: bytes, key_pem: bytes) -> SignedCheckpoint:
    return SignedCheckpoint(
        checkpoint=checkpoint,
        signature=Signature(signer=checkpoint.log, signed_at=checkpoint.signed_at,
                            signature=_sign(checkpoint.body(), key_pem), certificate=cert_pem.decode("ascii")),
    )


def cosign(checkpoint: Checkpoint, *, witness: str, signed_at: str, cert_pem: bytes, key_pem: bytes) -> Signature:
    body = cosignature_body(checkpoint, witness=witness, signed_at=signed_at)
    return Signature(signer=witness, signed_at=signed_at, signature=_sign(body, key_pem),
                     certificate=cert_pem.decode("ascii"))


@dataclass(frozen=True)
class TrustAnchors:
    """Public material only: the federation root, the province CAs and their revocation lists."""

    root_pem: bytes
    province_ca_pems: Sequence[bytes]
    province_crl_pems: Sequence[bytes] = ()

    def check_node_certificate(self, cert_pem: str, *, province: str, signed_at: str = "") -> x509.Certificate:
        """The node certificate of `province`, chained to the root and not revoked by the time
        it signed (`signed_at`): a key revoked as compromised signs nothing that counts after."""
        cert, ca = self._chained_node_certificate(cert_pem, province=province)
        revoked_on = self._revoked_on(cert, ca=ca)
        if revoked_on is not None and not _signed_before(signed_at, revoked_on):
            raise SigningError(f"the node certificate of {province} was revoked on {revoked_on.isoformat()}; "
                               f"what it signed at {signed_at or 'an unknown time'} does not count")
        return cert

    def _revoked_on(self, cert: x509.Certificate, *, ca: x509.Certificate) -> datetime | None:
        """When the CA that issued `cert` (found by the chain check) revoked it, if it did."""
        for crl_pem in self.province_crl_pems:
            crl = x509.load_pem_x509_crl(crl_pem)
            if crl.issuer != ca.subject:
                continue
            if not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
                raise SigningError(f"the revocation list of {crl.issuer.rfc4514_string()} is not signed by its CA")
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                return entry.revocation_date_utc
        return None

    def _chained_node_certificate(self, cert_pem: str, *, province: str) -> tuple[x509.Certificate, x509.Certificate]:
        """The node certificate of `province` and the province CA that issued it."""
        cert = load_certificate(cert_pem.encode("ascii"))
        identity = identity_from_certificate(cert)
        if identity.role != "node" or identity.province_code != province:
            raise SigningError(f"certificate {identity.common_name} is a {identity.role} certificate of "
                               f"{identity.province_code}, not the node certificate of {province}")
        root = load_certificate(self.root_pem)
        for ca_pem in self.province_ca_pems:
            ca = load_certificate(ca_pem)
            if ca.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(ca)
                ca.verify_directly_issued_by(root)
            except (ValueError, TypeError, InvalidSignature):
                continue
            if identity_from_certificate(ca).province_code != province:
                continue
            return cert, ca
        raise SigningError(f"the node certificate of {province} does not chain to the federation root")


def verify_signature(signature: Signature, body: bytes, *, anchors: TrustAnchors, province: str) -> None:
    """Raise SigningError unless `signature` is `province`'s node key signing `body`."""
    if signature.signer != province:
        raise SigningError(f"signature claims signer {signature.signer}, expected {province}")
    cert = anchors.check_node_certificate(signature.certificate, province=province, signed_at=signature.signed_at)
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    try:
        public.verify(base64.b64decode(signature.signature), body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise SigningError(f"the signature of {province} does not match what it claims to sign") from exc


def verify_signed_checkpoint(signed: SignedCheckpoint, *, anchors: TrustAnchors) -> list[str]:
    """Check the node's signature and every co-signature; return the witnesses that co-signed.
    Raise SigningError on the first bad signature."""
    cp = signed.checkpoint
    verify_signature(signed.signature, cp.body(), anchors=anchors, province=cp.log)
    witnesses = []
    for co in signed.cosignatures:
        if co.signer == cp.log:
            raise SigningError(f"{cp.log} cannot witness its own log")
        verify_signature(co, cosignature_body(cp, witness=co.signer, signed_at=co.signed_at),
                         anchors=anchors, province=co.signer)
        witnesses.append(co.signer)
    return witnesses


def _signed_before(signed_at: str, revoked_on: datetime) -> bool:
    """The signature claims a time before the revocation. A key thief could claim an earlier
    time; the witnesses' co-signatures, each under its own key and time, are what pin it."""
    try:
        when = datetime.fromisoformat(signed_at)
    except ValueError:
        return False
    if when.tzinfo is None:
        return False
    return when < revoked_on
