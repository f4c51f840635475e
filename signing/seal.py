"""Sealing: the competent department signs the result certificate (PAdES, certification
signature that allows no further changes)."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from asn1crypto import parser as asn1_parser
from asn1crypto import tsp
from cryptography.hazmat.primitives import serialization
from pyhanko.keys import load_cert_from_pemder, load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec, SigningCertificateV2Provider
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from exchange.ports import CertificateRequest
from signing.appearance import seal_style
from signing.errors import SigningError
from signing.hsm import Pkcs11Token, seal_key_label
from signing.loops import run_coroutine
from signing.identity import identity_from_certificate
from signing.pki import Federation, load_private_key
from signing.render import SEAL_BOX, render_certificate
from signing.tsa import AuthorityTimeStamper, TimestampAuthority
from signing.validation import reusing_context

SEAL_FIELD = "TongbanSeal"
# The generous reservation, for a seal certificate's first seal (and any that does not fit the
# measured one). Room (in hex digits) for what the CMS container holds besides its
# certificates: signed attributes, an ECDSA signature and DER framing take well under 1 KB.
# Reserving a precomputed size saves pyHanko a dry-run signature per seal.
CMS_OVERHEAD_HEX = 2048
# The signature timestamp token carries the TSA certificate, its CA and a signed TSTInfo
# (about 1.6 KB, so 3.2 K hex digits); the margin covers longer names.
TIMESTAMP_OVERHEAD_HEX = 2 * 2 * 1100 + 2048
# Later seals of the same certificate reserve what the first one measured plus this (hex
# digits): verifiers parse /Contents character by character, padding included. Between two
# seals only the two ECDSA signatures (up to 2 bytes each), the TSA's serial number (up to 8)
# and DER lengths that cross a boundary vary; a seal that still does not fit is made again with
# the generous reservation.
MEASURED_MARGIN_HEX = 2 * 64


class PadesLevel(StrEnum):
    B_LT = "B-LT"    # timestamped, revocation data embedded in the signed revision
    B_LTA = "B-LTA"  # plus a document timestamp over everything, for the archive


@dataclass
class _LoadedSeal:
    signer: signers.Signer
    department_name: str
    generous_hex: int
    # Set from a seal made with the generous reservation: its CMS size plus the margin. A plain
    # attribute, replaced whole, so threads sealing at once read one value or the other.
    measured_hex: int | None = None


class _EncodedSigningCertificateV2(SigningCertificateV2Provider):
    """pyHanko's signing-certificate-v2 attribute, encoded once per seal certificate. asn1crypto
    re-encodes a structure built from values every time something containing it is dumped, and
    a seal dumps its signed attributes many times: rebuilt per seal, this 200-byte attribute cost
    a third of a seal's CPU. A value loaded from DER dumps as the bytes it was loaded from."""

    def __init__(self, signing_cert: Any) -> None:
        super().__init__(signing_cert=signing_cert)
        self._der = as_signing_certificate_v2(signing_cert).dump()

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._der)  # a fresh object per seal: threads share nothing


class _SealSignedAttributes(SignedAttributeProviderSpec):
    """The signed attributes pyHanko's PAdES spec (CAdESSignedAttributeProviderSpec with
    is_pades) gives a seal: signing-certificate-v2 only, as PAdES forbids signing-time and the
    seal's metadata asks for no CAdES attributes; pyHanko adds content-type and message-digest
    itself. If the seal's metadata ever sets cades_signed_attr_spec, drop this spec."""

    def __init__(self, signing_cert: Any) -> None:
        self._signing_certificate = _EncodedSigningCertificateV2(signing_cert)

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str) -> Iterable[CMSAttributeProvider]:
        yield self._signing_certificate


class DepartmentSealer:
    """Implements exchange.ports.ResultIssuer for one province's departments."""

    def __init__(self, *, federation: Federation, province_code: str, timestamper: TimeStamper | None = None,
                 level: PadesLevel = PadesLevel.B_LT, token: Pkcs11Token | None = None) -> None:
        if province_code not in federation.provinces:
            raise SigningError(f"province {province_code} is not in the federation at {federation.directory}; "
                               "check the node's configured province")
        self.federation = federation
        self.province_code = province_code
        self.level = PadesLevel(level)
        self.token = token
        self._token_session: Any = None
        # One PKCS#11 session is not safe for concurrent operations: seal one at a time through it.
        self._token_lock = threading.Lock()
        # Default: the issuing province's own TSA, in-process (the node is that TSA's host).
        self.timestamper = timestamper or AuthorityTimeStamper(
            TimestampAuthority.of_province(federation, province_code))
        self._seals: dict[str, _LoadedSeal] = {}
        self._lock = threading.Lock()

    def _load(self, department_key: str) -> _LoadedSeal:
        with self._lock:
            loaded = self._seals.get(department_key)
            if loaded is not None:
                return loaded
            cert_path, key_path = self.federation.seal_paths(self.province_code, department_key)
            try:
                cert = load_cert_from_pemder(str(cert_path))
            except (OSError, ValueError) as exc:
                raise SigningError(f"cannot read seal certificate {cert_path} ({exc}); re-issue the seal") from exc
            identity = identity_from_certificate(cert.dump())
            if identity.role != "seal" or identity.province_code != self.province_code \
                    or identity.department_key != department_key:
                raise SigningError(f"{cert_path} is not the seal of {self.province_code}/{department_key}; "
                                   "re-issue the seal certificate")
            province_ca = list(load_certs_from_pemder_data(self.federation.province_ca_pem(self.province_code)))
            signer: signers.Signer
            if self.token is not None:
                signer = self._token_signer(cert, province_ca, department_key)
            else:
                # Through load_private_key, which decrypts a key encrypted at rest.
                key_pem = load_private_key(key_path).private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
                signer = signers.SimpleSigner(
                    signing_cert=cert,
                    signing_key=load_private_key_from_pemder_data(key_pem, passphrase=None),
                    cert_registry=SimpleCertificateStore.from_certs(province_ca),
                    # The root is the verifier's own trust anchor; shipping it in every file adds nothing.
                    embed_roots=False,
                )
            signer.signed_attr_prov_spec = _SealSignedAttributes(cert)
            loaded = _LoadedSeal(
                signer=signer,
                department_name=self.federation.provinces[self.province_code].departments[department_key],
                generous_hex=2 * (len(cert.dump()) + len(province_ca[0].dump())) + CMS_OVERHEAD_HEX
                + TIMESTAMP_OVERHEAD_HEX,
            )
            self._seals[department_key] = loaded
            return loaded

    def _token_signer(self, cert: Any, province_ca: list[Any], department_key: str) -> signers.Signer:
        from pyhanko.sign.pkcs11 import PKCS11Signer

        assert self.token is not None
        if self._token_session is None:
            self._token_session = self.token.open_session()
        return PKCS11Signer(self._token_session, key_label=seal_key_label(self.province_code, department_key),
                            signing_cert=cert, ca_chain=province_ca, embed_roots=False,
                            # Hash here, sign the digest with raw CKM_ECDSA: every token has it
                            # (SoftHSM2 lacks CKM_ECDSA_SHA256).
                            use_raw_mechanism=True)

    def close(self) -> None:
        if self._token_session is not None:
            self._token_session.close()
            self._token_session = None

    def _validation_context(self) -> ValidationContext:
        # Read the CRLs at every seal so the embedded ones are current, and so a revoked seal
        # cannot sign: pyHanko validates the signer's chain before embedding. Only files whose
        # bytes changed are parsed again. Only the root's and the province's CRLs: they are all
        # the seal's chain and its TSA's need, and what is in the context ends up in the file.
        return reusing_context(self.federation.chain_trust(self.province_code))

    def seal(
        self,
        pdf: bytes,
        *,
        department_key: str,
        reason: str = "跨省通办办理结果",
        box: tuple[float, float, float, float] = SEAL_BOX,
    ) -> bytes:
        loaded = self._load(department_key)
        meta = signers.PdfSignatureMetadata(
            field_name=SEAL_FIELD,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason,
            name=loaded.department_name,
            location=self.federation.provinces[self.province_code].name,
            certify=True,
            docmdp_permissions=fields.MDPPerm.NO_CHANGES,
            embed_validation_info=True,
            use_pades_lta=self.level is PadesLevel.B_LTA,
            validation_context=self._validation_context(),
            # Keep the CRLs in the signed revision: a DSS in a later revision would make the
            # signature cover less than the whole file, which verification refuses.
            dss_settings=DSSContentSettings(placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE,
                                            include_vri=False),
        )
        pdf_signer = signers.PdfSigner(
            meta, signer=loaded.signer, timestamper=self.timestamper,
            stamp_style=seal_style(department_name=loaded.department_name),
            new_field_spec=fields.SigFieldSpec(sig_field_name=SEAL_FIELD, on_page=0, box=box),
        )

        def sign(reserved: int) -> bytes:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
            with self._token_lock if self.token is not None else contextlib.nullcontext():
                return run_coroutine(
                    lambda: pdf_signer.async_sign_pdf(writer, output=io.BytesIO(), bytes_reserved=reserved),
                    release=(meta.validation_context,)).getvalue()

        measured = loaded.measured_hex
        try:
            try:
                out = sign(measured or loaded.generous_hex)
            except PyHankoSigningError as exc:
                if measured is None or not _did_not_fit(exc):
                    raise
                out = sign(loaded.generous_hex)  # once more with room to spare, then measure again
                measured = None
        except SigningError:
            raise
        except Exception as exc:  # pyHanko raises many kinds; the caller needs one
            raise SigningError(
                f"sealing as {self.province_code}/{department_key} failed ({type(exc).__name__}: {exc}); "
                "check that the PDF is readable and unsigned and that the seal certificate is valid and not revoked"
            ) from exc
        if measured is None:
            loaded.measured_hex = 2 * _signature_size(out) + MEASURED_MARGIN_HEX
        return out

    def issue(self, request: CertificateRequest) -> bytes:
        if request.province_code != self.province_code:
            raise SigningError(f"this node seals for province {self.province_code}, but the certificate is for "
                               f"{request.province_code}; send it to that province's node")
        province = self.federation.provinces[self.province_code]
        pdf = render_certificate(request, province_name=province.name)
        return self.seal(pdf, department_key=request.department_key)


def _did_not_fit(exc: PyHankoSigningError) -> bool:
    # pyHanko has no subclass for it; this is its message when the CMS outgrows /Contents.
    return "larger than expected" in str(exc)


def _signature_size(sealed: bytes) -> int:
    """The DER length of the seal's CMS container (without /Contents' zero padding)."""
    (signature,) = [s for s in PdfFileReader(io.BytesIO(sealed), strict=False).embedded_signatures
                    if s.field_name == SEAL_FIELD]
    _, _, _, header, contents, _ = asn1_parser.parse(signature.pkcs7_content, strict=False)
    return len(header) + len(contents)
