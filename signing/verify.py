"""Fail-closed verification of a sealed result before a window prints it. A bad document never
raises: every outcome is a report, and only a report with verdict TOTAL_PASSED may be printed."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from cryptography import x509 as cx509
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.generic import ArrayObject
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signing.errors import SigningError
from signing.identity import CertIdentity, identity_from_certificate
from signing.loops import outside_event_loop, run_coroutine
from signing.trust import Province, TrustMaterial
from signing.validation import CrlScope, crl_problem, crl_scope, province_of_ca, reusing_context, strict_context

__all__ = ["Reason", "SealVerifier", "SignerInfo", "TrustMaterial", "Verdict", "VerificationReport",
           "verify_sealed_pdf"]


class Verdict(StrEnum):  # StrEnum: str() and f-strings give the bare name, as the port expects
    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class Reason(StrEnum):
    NO_SIGNATURE = "NO_SIGNATURE"
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    TRY_LATER = "TRY_LATER"
    NOT_COMPETENT_SIGNER = "NOT_COMPETENT_SIGNER"
    NOT_THE_ISSUED_DOCUMENT = "NOT_THE_ISSUED_DOCUMENT"
    MODIFIED_AFTER_SIGNING = "MODIFIED_AFTER_SIGNING"
    EXTRA_SIGNATURE = "EXTRA_SIGNATURE"


_DO_NOT_PRINT = "请勿打印，"
EXPLANATIONS_ZH: Mapping[Reason, str] = {
    Reason.NO_SIGNATURE: "文件没有电子印章，" + _DO_NOT_PRINT + "联系承办地重新出具。",
    Reason.FORMAT_FAILURE: "文件已损坏或格式不正确，无法核验，" + _DO_NOT_PRINT + "联系承办地重新发送。",
    Reason.HASH_FAILURE: "文件内容与电子印章不符（盖章后被篡改），" + _DO_NOT_PRINT + "联系承办地重新出具。",
    Reason.SIG_CRYPTO_FAILURE: "电子印章的签名无效，" + _DO_NOT_PRINT + "联系承办地重新出具。",
    Reason.NO_CERTIFICATE_CHAIN_FOUND:
        "电子印章不是由跨省通办联盟签发的证书加盖的，无法确认盖章单位，" + _DO_NOT_PRINT + "联系承办地核实。",
    Reason.REVOKED: "电子印章证书已被吊销，" + _DO_NOT_PRINT + "联系承办地重新出具。",
    Reason.EXPIRED: "电子印章证书已过期或尚未生效，" + _DO_NOT_PRINT + "联系承办地重新出具。",
    Reason.TRY_LATER:
        "暂时无法确认电子印章证书是否有效（证书吊销列表缺失或已过期），" + _DO_NOT_PRINT
        + "请稍后重试；如仍失败请联系系统管理员更新吊销列表。",
    Reason.NOT_COMPETENT_SIGNER: "盖章单位不是本事项的承办部门，" + _DO_NOT_PRINT + "联系承办地核实。",
    Reason.NOT_THE_ISSUED_DOCUMENT: "文件与承办地登记出具的文件不一致，" + _DO_NOT_PRINT + "联系承办地重新发送。",
    Reason.MODIFIED_AFTER_SIGNING: "文件在盖章后被修改，" + _DO_NOT_PRINT + "联系承办地重新出具。",
    Reason.EXTRA_SIGNATURE: "文件上有多余的签章（可能在出具后被加盖），" + _DO_NOT_PRINT + "联系承办地重新出具。",
}

# An untrusted chain is final for us, not "indeterminate": the federation's trust list is closed,
# so waiting will not make a foreign root trusted. Only TRY_LATER is worth retrying.
_VERDICTS: Mapping[Reason, Verdict] = {
    **{r: Verdict.TOTAL_FAILED for r in Reason},
    Reason.TRY_LATER: Verdict.INDETERMINATE,
}


@dataclass(frozen=True)
class SignerInfo:
    common_name: str
    province_code: str
    department_key: str | None
    fingerprint_sha256: str


@dataclass(frozen=True)
class VerificationReport:
    """Satisfies exchange.ports.VerificationOutcome (Verdict and Reason are str)."""

    verdict: Verdict
    reason: Reason | None
    explanation_zh: str
    detail: str
    document_sha256: str
    signer: SignerInfo | None
    signed_at: datetime | None
    checked_at: datetime
    timestamp_at: datetime | None = None  # proven by the province TSA's RFC 3161 token
    timestamp_authority: str | None = None
    level: str | None = None  # PAdES level found: B-B, B-T, B-LT or B-LTA
    long_term: bool = False  # passed on embedded revocation data at the timestamp time
    case_number: str | None = None  # as printed in the sealed document (its keywords)
    verification_code: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.TOTAL_PASSED

    def summary(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "verdict": self.verdict.value,
            "reason": self.reason.value if self.reason else None,
            "explanation_zh": self.explanation_zh,
            "detail": self.detail,
            "document_sha256": self.document_sha256,
            "signer": None if self.signer is None else {
                "common_name": self.signer.common_name,
                "province_code": self.signer.province_code,
                "department_key": self.signer.department_key,
                "fingerprint_sha256": self.signer.fingerprint_sha256,
            },
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "timestamp_at": self.timestamp_at.isoformat() if self.timestamp_at else None,
            "timestamp_authority": self.timestamp_authority,
            "level": self.level,
            "long_term": self.long_term,
            "case_number": self.case_number,
            "verification_code": self.verification_code,
            "checked_at": self.checked_at.isoformat(),
        }

    def render(self) -> str:
        mark = {"TOTAL_PASSED": "✔ 通过，可以打印", "TOTAL_FAILED": "✘ 不通过，请勿打印",
                "INDETERMINATE": "？ 无法确定，请勿打印"}[self.verdict.value]
        rows = [
            ("核验结果 verdict", f"{mark}  [{self.verdict.value}" + (f" / {self.reason.value}]" if self.reason else "]")),
            ("说明 explanation", self.explanation_zh),
            ("盖章单位 signer", "—" if self.signer is None else
             f"{self.signer.common_name} ({self.signer.province_code}/{self.signer.department_key or '-'})"),
            ("盖章时间 signed at", _local(self.signed_at) + ("（签章人自报）" if self.signed_at else "")),
            ("时间戳 timestamp", _local(self.timestamp_at) + (f"（{self.timestamp_authority}）"
                                                               if self.timestamp_authority else "")),
            ("案件 case", f"{self.case_number or '—'}  校验码 {self.verification_code or '—'}"),
            ("签章级别 level", (self.level or "—") + ("，长期验证（内嵌吊销信息）" if self.long_term else "")),
            ("核验时间 checked at", _local(self.checked_at)),
            ("文件摘要 sha256", self.document_sha256),
            ("证书指纹 cert sha256", self.signer.fingerprint_sha256 if self.signer else "—"),
            ("技术细节 detail", self.detail),
        ]
        return "\n".join(f"{label:<{_label_width(label)}}  {value}" for label, value in rows)


def _local(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    beijing = moment.astimezone(timezone(timedelta(hours=8)))
    return f"{beijing:%Y-%m-%d %H:%M:%S} 北京时间 ({moment.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ})"


def _label_width(label: str) -> int:
    # CJK characters take two columns in a terminal: pad to the same visual width.
    wide = sum(1 for ch in label if ord(ch) > 0x2E80)
    return 24 - wide


class _Refusal(Exception):
    """Internal: ends verification with a reason; never leaves this module."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _identity(status: PdfSignatureStatus) -> CertIdentity | None:
    try:
        return identity_from_certificate(status.signing_cert.dump())
    except SigningError:
        return None


def _signer_info(identity: CertIdentity | None) -> SignerInfo | None:
    if identity is None:
        return None
    return SignerInfo(common_name=identity.common_name, province_code=identity.province_code,
                      department_key=identity.department_key, fingerprint_sha256=identity.fingerprint_sha256)


_EXPIRY_INDICATIONS = (AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
                       AdESIndeterminate.NOT_YET_VALID, AdESFailure.NOT_YET_VALID, AdESIndeterminate.EXPIRED)


def _check_integrity(status: PdfSignatureStatus, *, archive_updates_allowed: bool) -> None:
    if not status.intact:
        raise _Refusal(Reason.HASH_FAILURE, "the digest of the signed byte ranges does not match the signature")
    if not status.valid:
        raise _Refusal(Reason.SIG_CRYPTO_FAILURE, "the signature value does not verify with the signer's key")
    # Checked before trust: an appended revision is forgery evidence whatever the chain says,
    # and `intact`/`trusted` alone do not see it.
    archived = (archive_updates_allowed and status.coverage is SignatureCoverageLevel.ENTIRE_REVISION
                and status.modification_level is ModificationLevel.LTA_UPDATES)
    if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE and not archived:
        level = status.modification_level.name if status.modification_level else "unknown"
        raise _Refusal(Reason.MODIFIED_AFTER_SIGNING,
                       f"signature coverage is {status.coverage.name if status.coverage else None}, "
                       f"modification level {level}: bytes were appended after signing")


def _check_scope(status: PdfSignatureStatus, scope: CrlScope, *, archive_updates_allowed: bool) -> None:
    """A seal issued under another province's CA had none of its CRLs consulted, so pyHanko
    cannot pass it; say why, once what a forgery would show has been checked."""
    foreign = scope.foreign_province(status.signing_cert.issuer.dump())
    if foreign is None:
        return
    _check_integrity(status, archive_updates_allowed=archive_updates_allowed)
    raise _Refusal(Reason.NOT_COMPETENT_SIGNER,
                   f"sealed under the CA of province {foreign}, but the competent province is {scope.province_code}"
                   " (only the competent province's chain is checked against CRLs)")


def _check_trust(status: PdfSignatureStatus, *, trust: TrustMaterial, moment: datetime,
                 archive_updates_allowed: bool = False) -> None:
    """Map pyHanko's findings to a reason, most fundamental first."""
    _check_integrity(status, archive_updates_allowed=archive_updates_allowed)
    if status.revoked:
        when = status.revocation_details.revocation_date if status.revocation_details else None
        raise _Refusal(Reason.REVOKED, f"the signer's certificate chain was revoked (revocation date {when})")
    indic = status.trust_problem_indic
    if indic is not None:
        name = indic.name
        if indic is AdESIndeterminate.TRY_LATER:
            raise _Refusal(Reason.TRY_LATER, "no current CRL for a certificate in the chain: " + name)
        if indic in (AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE):
            raise _Refusal(Reason.REVOKED, "the signer's certificate chain is revoked: " + name)
        if indic in _EXPIRY_INDICATIONS:
            raise _Refusal(Reason.EXPIRED, "a certificate in the chain is outside its validity period: " + name)
        if indic in (AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                     AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE):
            root = load_certs_from_pemder_data(trust.root_pem)
            problem = crl_problem(trust, moment=moment, issuer_names_der=[
                status.signing_cert.issuer.dump(), *(c.subject.dump() for c in root)])
            if problem is not None:
                raise _Refusal(Reason.TRY_LATER, f"{problem} ({name})")
        raise _Refusal(Reason.NO_CERTIFICATE_CHAIN_FOUND,
                       f"no trusted chain from the signer to the federation root ({name})")
    if not status.trusted:
        raise _Refusal(Reason.NO_CERTIFICATE_CHAIN_FOUND, "no validation path to the federation root")
    if not status.bottom_line:  # belt and braces: DocMDP, seed values and anything pyHanko adds later
        if status.docmdp_ok is False:
            raise _Refusal(Reason.MODIFIED_AFTER_SIGNING, "the document changed in a way its DocMDP level forbids")
        raise _Refusal(Reason.SIG_CRYPTO_FAILURE, "pyHanko's overall judgement (bottom_line) is negative")


def _check_competence(identity: CertIdentity | None, *, competent_province: str | None,
                      competent_department: str | None, provinces: Mapping[str, Province],
                      issuer_province: str | None) -> None:
    if identity is None:
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER, "the signing certificate carries no usable tongban identity")
    if identity.role != "seal":
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER, f"signed by a {identity.role!r} certificate, not a department seal")
    if identity.province_code != issuer_province:
        # A province's CA certifies its own departments only: with no competent province given
        # (offline), nothing else would stop one province's CA from sealing in another's name.
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER,
                       f"the seal certificate names province {identity.province_code} but was issued by the CA of "
                       f"{issuer_province or 'no province'}")
    if competent_province is not None and identity.province_code != competent_province:
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER,
                       f"sealed by province {identity.province_code}, but the competent province is {competent_province}")
    if competent_department is not None and identity.department_key != competent_department:
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER,
                       f"sealed by department {identity.department_key}, but the competent one is {competent_department}")
    known = provinces.get(identity.province_code)
    if known is None or identity.department_key not in known.departments:
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER,
                       f"department {identity.province_code}/{identity.department_key} is not in the federation")


def _check_issued(digest: str, issued_sha256: str | None) -> None:
    if issued_sha256 is not None and issued_sha256.lower() != digest:
        raise _Refusal(Reason.NOT_THE_ISSUED_DOCUMENT,
                       f"document sha256 {digest} differs from the issued sha256 {issued_sha256}")


# A sealed certificate has about 30 objects in 2 or 3 revisions. pyHanko looks objects up in
# object streams in time that grows with the square of their number: a 265 KB file of 8 000
# form fields held a verification for minutes. Such a file is refused before it is read.
MAX_OBJECTS = 400
MAX_REVISIONS = 16


def _check_size_of_structure(reader: PdfFileReader) -> None:
    objects = int(reader.trailer["/Size"])
    revisions = reader.xrefs.total_revisions
    if objects > MAX_OBJECTS or revisions > MAX_REVISIONS:
        raise _Refusal(Reason.FORMAT_FAILURE, f"{objects} objects in {revisions} revisions; a sealed certificate "
                       f"has a few dozen in two or three (at most {MAX_OBJECTS} in {MAX_REVISIONS} are read)")


def _dss_crl_refs(reader: PdfFileReader) -> list[Any]:
    """References only: the CRL streams are decoded in the long-term path, which alone reads them.
    Read from the catalogue's /DSS dictionary itself: pyHanko's DocumentSecurityStore.read_dss
    also parses every certificate and OCSP response there, which nothing here uses (≈ 0.4 ms of
    a 6 ms verification)."""
    try:
        crls = reader.root["/DSS"]["/CRLs"]
    except KeyError:
        return []
    if not isinstance(crls, ArrayObject):
        raise _Refusal(Reason.FORMAT_FAILURE, "the document security store's /CRLs is not an array")
    return [crls.raw_get(i) for i in range(len(crls))]


def _check_signature_timestamp(status: PdfSignatureStatus, identity: CertIdentity | None, *,
                               scope: CrlScope, moment: datetime) -> tuple[datetime, str] | None:
    """A signature timestamp, if present, must be sound, trusted and from the signer's own
    province TSA; it then proves when the seal existed."""
    ts = status.timestamp_validity
    if ts is None:
        return None
    if not ts.intact or not ts.valid:
        raise _Refusal(Reason.SIG_CRYPTO_FAILURE, "the signature timestamp token does not verify")
    if not ts.trusted:
        raise _untrusted_tsa(ts.signing_cert, scope=scope, moment=moment, what="the signature timestamp")
    try:
        tsa = identity_from_certificate(ts.signing_cert.dump())
    except SigningError as exc:
        raise _Refusal(Reason.NO_CERTIFICATE_CHAIN_FOUND, f"the timestamp's signer is not a federation TSA ({exc})") \
            from exc
    if tsa.role != "tsa" or (identity is not None and tsa.province_code != identity.province_code):
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER,
                       f"the signature timestamp was issued by {tsa.common_name} ({tsa.province_code}/{tsa.role}), "
                       "not by the timestamp authority of the sealing province")
    return ts.timestamp, tsa.common_name


def _untrusted_tsa(cert: Any, *, scope: CrlScope, moment: datetime, what: str) -> _Refusal:
    """A stale or missing CRL is worth retrying (TRY_LATER); anything else is final."""
    foreign = scope.foreign_province(cert.issuer.dump())
    if foreign is not None:
        return _Refusal(Reason.NOT_COMPETENT_SIGNER, f"{what} was issued under the CA of province {foreign}, not by "
                                                     "the timestamp authority of the sealing province")
    trust = scope.trust
    root = load_certs_from_pemder_data(trust.root_pem)
    problem = crl_problem(trust, moment=moment, issuer_names_der=[cert.issuer.dump(), *(c.subject.dump() for c in root)])
    if problem is not None:
        return _Refusal(Reason.TRY_LATER, f"{what}'s TSA cannot be checked: {problem}")
    return _Refusal(Reason.NO_CERTIFICATE_CHAIN_FOUND, f"{what} comes from a TSA without a trusted chain to the "
                                                       "federation root")


def _revoked_now(status: PdfSignatureStatus, trust: TrustMaterial) -> bool:
    serial, issuer = status.signing_cert.serial_number, status.signing_cert.issuer.dump()
    for der in trust.crls_der:
        crl = cx509.load_der_x509_crl(der)
        if crl.issuer.public_bytes() == issuer and crl.get_revoked_certificate_by_serial_number(serial) is not None:
            return True
    return False


def _check_doc_timestamps(doc_timestamps: list[Any], *, scope: CrlScope, context: ValidationContext,
                          moment: datetime) -> None:
    """B-LTA: each document timestamp must be sound and trusted, and the last must cover the
    whole file, so nothing was appended after the archive timestamp."""
    for ts in doc_timestamps:
        status = run_coroutine(lambda ts=ts: async_validate_pdf_timestamp(ts, validation_context=context),
                               release=(context,))
        if not status.intact or not status.valid:
            raise _Refusal(Reason.HASH_FAILURE, f"document timestamp {ts.field_name} does not verify")
        if not status.trusted:
            raise _untrusted_tsa(status.signing_cert, scope=scope, moment=moment,
                                 what=f"document timestamp {ts.field_name}")
    last = doc_timestamps[-1]
    if last.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
        raise _Refusal(Reason.MODIFIED_AFTER_SIGNING, "bytes were appended after the last document timestamp")


def _validate(seal: Any, context: ValidationContext) -> PdfSignatureStatus:
    """pyHanko's validation of the seal and its timestamp, both against `context`."""
    return run_coroutine(lambda: async_validate_pdf_signature(seal, signer_validation_context=context,
                                                              ts_validation_context=context), release=(context,))


def _printed_identifiers(reader: PdfFileReader) -> dict[str, str]:
    """Case number and verification code from the document's keywords (signing.templates).
    Read only once the seal is known to cover the file, so they are the sealed ones."""
    try:
        keywords = str(reader.trailer["/Info"]["/Keywords"])
    except (KeyError, TypeError, AttributeError):
        return {}
    fields = dict(part.partition("=")[::2] for part in keywords.removeprefix("tongban:").split(";"))
    return {k: v for k, v in (("case_number", fields.get("case")), ("verification_code", fields.get("code"))) if v}


def _level(status: PdfSignatureStatus, *, doc_timestamps: int, dss_crls: int) -> str:
    if status.timestamp_validity is None:
        return "B-B"
    if not dss_crls:
        return "B-T"
    return "B-LTA" if doc_timestamps else "B-LT"


def verify_sealed_pdf(
    pdf: bytes,
    *,
    trust: TrustMaterial,
    competent_province: str | None,
    competent_department: str | None,
    issued_sha256: str | None,
    now: datetime | None = None,
) -> VerificationReport:
    """None for competent_province/department means "any department of the federation"
    (offline checks); the node always passes both. Safe to call inside a running event loop."""
    return outside_event_loop(lambda: _verify(
        pdf, trust=trust, competent_province=competent_province, competent_department=competent_department,
        issued_sha256=issued_sha256, now=now))


def _verify(
    pdf: bytes,
    *,
    trust: TrustMaterial,
    competent_province: str | None,
    competent_department: str | None,
    issued_sha256: str | None,
    now: datetime | None,
) -> VerificationReport:
    checked_at = now or datetime.now(timezone.utc)
    digest = hashlib.sha256(pdf).hexdigest()
    found: dict[str, Any] = {"signer": None, "signed_at": None}
    stamp: tuple[datetime, str] | None = None
    try:
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            _check_size_of_structure(reader)
            everything = list(reader.embedded_signatures)
        except _Refusal:
            raise
        except Exception as exc:
            raise _Refusal(Reason.FORMAT_FAILURE, f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
        seals = [s for s in everything if s.sig_object.get("/Type") != "/DocTimeStamp"]
        doc_timestamps = [s for s in everything if s.sig_object.get("/Type") == "/DocTimeStamp"]
        if not seals:
            raise _Refusal(Reason.NO_SIGNATURE, "the PDF contains no signature")
        if len(seals) > 1:
            names = ", ".join(s.field_name for s in seals)
            raise _Refusal(Reason.EXTRA_SIGNATURE, f"{len(seals)} signatures ({names}); exactly one seal is expected")
        seal = seals[0]
        if any(ts.signed_revision < seal.signed_revision for ts in doc_timestamps):
            raise _Refusal(Reason.EXTRA_SIGNATURE, "a document timestamp precedes the seal; the seal must come first")
        dss_crls = _dss_crl_refs(reader)
        try:
            # Only the CRLs of the competent province's chain (CrlScope); offline, with no
            # competent province given, those of the chain the seal names.
            scope = crl_scope(trust, competent_province or province_of_ca(trust, seal.signer_cert.issuer.dump()))
            # One context for the seal, its timestamp and any document timestamps (pyHanko's
            # default for a signature and its timestamp): the same roots, CRLs and moment, and
            # the province CA's path, which all their chains share, is validated once.
            context = reusing_context(scope.trust, moment=now)
            status = _validate(seal, context)
        except Exception as exc:
            raise _Refusal(Reason.FORMAT_FAILURE,
                           f"the signature could not be processed ({type(exc).__name__}: {exc})") from exc
        identity = _identity(status)
        found["signer"] = _signer_info(identity)
        found["signed_at"] = status.signer_reported_dt
        found["level"] = _level(status, doc_timestamps=len(doc_timestamps), dss_crls=len(dss_crls))
        _check_scope(status, scope, archive_updates_allowed=bool(doc_timestamps))
        stamp = _check_signature_timestamp(status, identity, scope=scope, moment=checked_at)
        if stamp is not None:
            found["timestamp_at"], found["timestamp_authority"] = stamp
        if doc_timestamps:
            _check_doc_timestamps(doc_timestamps, scope=scope, context=context, moment=checked_at)
        try:
            _check_trust(status, trust=scope.trust, moment=checked_at, archive_updates_allowed=bool(doc_timestamps))
        except _Refusal as refusal:
            if refusal.reason is not Reason.EXPIRED or stamp is None or not dss_crls:
                raise
            # Long-term validation: the seal certificate has expired since, but the TSA proves the
            # seal existed at `stamp`; the CRLs embedded then must vouch for the chain at that time.
            if _revoked_now(status, scope.trust):
                raise _Refusal(Reason.REVOKED, "the signer's certificate is on the current CRL") from None
            # The file's CRLs, kept to those of the scope like the current ones.
            past_trust = scope.with_crls(tuple(ref.get_object().data for ref in dss_crls))
            # Parsed afresh: these CRLs come from the file, and only trusted material is kept parsed.
            past = _validate(seal, strict_context(past_trust, moment=stamp[0]))
            _check_trust(past, trust=past_trust, moment=stamp[0], archive_updates_allowed=bool(doc_timestamps))
            found["long_term"] = True
        _check_competence(identity, competent_province=competent_province,
                          competent_department=competent_department, provinces=trust.provinces,
                          issuer_province=province_of_ca(trust, status.signing_cert.issuer.dump()))
        found.update(_printed_identifiers(reader))
        # Last: a changed seal says more of what happened (altered, resealed) than "not the one issued".
        _check_issued(digest, issued_sha256)
    except _Refusal as refusal:
        return VerificationReport(
            verdict=_VERDICTS[refusal.reason], reason=refusal.reason, explanation_zh=EXPLANATIONS_ZH[refusal.reason],
            detail=refusal.detail, document_sha256=digest, checked_at=checked_at, **found,
        )
    except Exception as exc:  # fail closed on our own bugs too
        return VerificationReport(
            verdict=Verdict.TOTAL_FAILED, reason=Reason.FORMAT_FAILURE,
            explanation_zh=EXPLANATIONS_ZH[Reason.FORMAT_FAILURE],
            detail=f"unexpected error during verification ({type(exc).__name__}: {exc})", document_sha256=digest,
            checked_at=checked_at, **found,
        )
    signer = found["signer"]
    assert signer is not None
    department = trust.provinces[signer.province_code].departments[signer.department_key or ""]
    when = "" if stamp is None else "，盖章时间已由" + stamp[1] + "时间戳证明"
    lt = "（印章证书现已过期，依据内嵌的吊销信息和时间戳验证有效）" if found.get("long_term") else ""
    return VerificationReport(
        verdict=Verdict.TOTAL_PASSED, reason=None,
        explanation_zh=f"电子印章有效：由{department}加盖{when}，盖章后文件未被修改{lt}，可以打印。",
        detail="intact, valid, trusted to the federation root, CRLs current, covers the entire file, competent signer"
               + ("; validated at the timestamp time on embedded revocation data" if found.get("long_term") else ""),
        document_sha256=digest, checked_at=checked_at, **found,
    )


class SealVerifier:
    """Implements exchange.ports.ResultVerifier. It reads the trust material through `trust_source`
    at every verification (a Federation re-reads its CRL files), so CRLs refreshed by the directory
    exchange are used at once instead of the ones the node started with."""

    def __init__(self, *, trust: TrustMaterial | None = None,
                 trust_source: Callable[[], TrustMaterial] | None = None) -> None:
        if (trust is None) == (trust_source is None):
            raise SigningError("give SealVerifier either trust or trust_source, not both or neither")
        self._source: Callable[[], TrustMaterial] = trust_source or (lambda: trust)  # type: ignore[assignment,return-value]

    @property
    def trust(self) -> TrustMaterial:
        return self._source()

    def verify(self, pdf: bytes, *, competent_province: str, competent_department: str,
               issued_sha256: str | None) -> VerificationReport:
        return verify_sealed_pdf(pdf, trust=self._source(), competent_province=competent_province,
                                 competent_department=competent_department, issued_sha256=issued_sha256)
