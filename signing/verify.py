"""Fail-closed verification of a sealed result before a window prints it. A bad document never
raises: every outcome is a report, and only a report with verdict TOTAL_PASSED may be printed."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel

from signing.errors import SigningError
from signing.identity import CertIdentity, identity_from_certificate
from signing.trust import Province, TrustMaterial
from signing.validation import crl_problem, strict_context

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
            "checked_at": self.checked_at.isoformat(),
        }

    def render(self) -> str:
        lines = [
            f"核验结果 / verdict: {self.verdict.value}" + (f" ({self.reason.value})" if self.reason else ""),
            f"说明: {self.explanation_zh}",
            f"detail: {self.detail}",
            f"document sha256: {self.document_sha256}",
        ]
        if self.signer:
            lines.append(f"盖章单位 / signer: {self.signer.common_name} "
                         f"({self.signer.province_code}/{self.signer.department_key or '-'}) "
                         f"cert sha256 {self.signer.fingerprint_sha256}")
        if self.signed_at:
            lines.append(f"盖章时间 / signed at: {self.signed_at.isoformat()}")
        lines.append(f"核验时间 / checked at: {self.checked_at.isoformat()}")
        return "\n".join(lines)


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


def _check_trust(status: PdfSignatureStatus, *, trust: TrustMaterial, moment: datetime) -> None:
    """Map pyHanko's findings to a reason, most fundamental first."""
    if not status.intact:
        raise _Refusal(Reason.HASH_FAILURE, "the digest of the signed byte ranges does not match the signature")
    if not status.valid:
        raise _Refusal(Reason.SIG_CRYPTO_FAILURE, "the signature value does not verify with the signer's key")
    # Checked before trust: an appended revision is forgery evidence whatever the chain says,
    # and `intact`/`trusted` alone do not see it.
    if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
        level = status.modification_level.name if status.modification_level else "unknown"
        raise _Refusal(Reason.MODIFIED_AFTER_SIGNING,
                       f"signature coverage is {status.coverage.name if status.coverage else None}, "
                       f"modification level {level}: bytes were appended after signing")
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
        if indic in (AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
                     AdESIndeterminate.NOT_YET_VALID, AdESFailure.NOT_YET_VALID, AdESIndeterminate.EXPIRED):
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
                      competent_department: str | None, provinces: Mapping[str, Province]) -> None:
    if identity is None:
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER, "the signing certificate carries no usable tongban identity")
    if identity.role != "seal":
        raise _Refusal(Reason.NOT_COMPETENT_SIGNER, f"signed by a {identity.role!r} certificate, not a department seal")
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
    (offline checks); the node always passes both."""
    checked_at = now or datetime.now(timezone.utc)
    digest = hashlib.sha256(pdf).hexdigest()
    signer: SignerInfo | None = None
    signed_at: datetime | None = None
    try:
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            signatures = list(reader.embedded_signatures)
        except Exception as exc:
            raise _Refusal(Reason.FORMAT_FAILURE, f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
        if not signatures:
            raise _Refusal(Reason.NO_SIGNATURE, "the PDF contains no signature")
        if len(signatures) > 1:
            names = ", ".join(s.field_name for s in signatures)
            raise _Refusal(Reason.EXTRA_SIGNATURE, f"{len(signatures)} signatures ({names}); exactly one seal is expected")
        try:
            status = validate_pdf_signature(signatures[0], signer_validation_context=strict_context(trust, moment=now))
        except Exception as exc:
            raise _Refusal(Reason.FORMAT_FAILURE,
                           f"the signature could not be processed ({type(exc).__name__}: {exc})") from exc
        identity = _identity(status)
        signer = _signer_info(identity)
        signed_at = status.signer_reported_dt
        _check_trust(status, trust=trust, moment=checked_at)
        _check_competence(identity, competent_province=competent_province,
                          competent_department=competent_department, provinces=trust.provinces)
        if issued_sha256 is not None and issued_sha256.lower() != digest:
            raise _Refusal(Reason.NOT_THE_ISSUED_DOCUMENT,
                           f"document sha256 {digest} differs from the issued sha256 {issued_sha256}")
    except _Refusal as refusal:
        return VerificationReport(
            verdict=_VERDICTS[refusal.reason], reason=refusal.reason, explanation_zh=EXPLANATIONS_ZH[refusal.reason],
            detail=refusal.detail, document_sha256=digest, signer=signer, signed_at=signed_at, checked_at=checked_at,
        )
    except Exception as exc:  # fail closed on our own bugs too
        return VerificationReport(
            verdict=Verdict.TOTAL_FAILED, reason=Reason.FORMAT_FAILURE, explanation_zh=EXPLANATIONS_ZH[Reason.FORMAT_FAILURE],
            detail=f"unexpected error during verification ({type(exc).__name__}: {exc})", document_sha256=digest,
            signer=signer, signed_at=signed_at, checked_at=checked_at,
        )
    assert signer is not None
    department = trust.provinces[signer.province_code].departments[signer.department_key or ""]
    return VerificationReport(
        verdict=Verdict.TOTAL_PASSED, reason=None,
        explanation_zh=f"电子印章有效：由{department}加盖，盖章后文件未被修改，可以打印。",
        detail="intact, valid, trusted to the federation root, CRLs current, covers the entire file, competent signer",
        document_sha256=digest, signer=signer, signed_at=signed_at, checked_at=checked_at,
    )


class SealVerifier:
    """Implements exchange.ports.ResultVerifier."""

    def __init__(self, *, trust: TrustMaterial) -> None:
        self.trust = trust

    def verify(self, pdf: bytes, *, competent_province: str, competent_department: str,
               issued_sha256: str | None) -> VerificationReport:
        return verify_sealed_pdf(pdf, trust=self.trust, competent_province=competent_province,
                                 competent_department=competent_department, issued_sha256=issued_sha256)
