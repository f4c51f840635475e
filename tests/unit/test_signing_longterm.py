"""Timestamps from the province TSA and long-term validation (PAdES B-T, B-LT, B-LTA)."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import algos, tsp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers

from signing.errors import SigningError
from signing.pki import Federation, Province
from signing.render import render_certificate
from signing.seal import DepartmentSealer, PadesLevel
from signing.tsa import (
    AuthorityTimeStamper, HttpTimeStamper, TimestampAuthority, TsaHttpServer, response_status,
)
from signing.verify import Reason, Verdict, VerificationReport, verify_sealed_pdf
from tests.fixtures.signing_assets import COMPETENT, OTHER, make_federation, overwrite_applicant_name, request


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return make_federation(tmp_path_factory.mktemp("longterm") / "fed", provinces=[
        Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局", "health": "浙江省卫生健康委员会"}),
        Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"})])


def check(pdf: bytes, fed: Federation, *, now: datetime | None = None) -> VerificationReport:
    return verify_sealed_pdf(pdf, trust=fed.trust(), competent_province=COMPETENT, competent_department="market",
                             issued_sha256=None, now=now)


def pdfsig(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdfsig") is None:
        pytest.skip("poppler-utils (pdfsig) not installed")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False).stdout


@pytest.fixture(scope="module")
def short_lived(fed: Federation, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The same certificate sealed three ways with a seal certificate that expires in minutes:
    B-LT by the sealer, and by bare pyHanko without a timestamp (B-B) and with one but without
    revocation data (B-T)."""
    fed.reissue_seal(COMPETENT, "market", not_after=datetime.now(timezone.utc) + timedelta(minutes=10))
    sealer = DepartmentSealer(federation=fed, province_code=COMPETENT)
    pdf = render_certificate(request(), province_name="浙江省")
    cert, key = fed.seal_paths(COMPETENT, "market")
    bare = signers.SimpleSigner.load(str(key), str(cert))
    assert bare is not None

    def bare_sign(timestamper: AuthorityTimeStamper | None) -> bytes:
        meta = signers.PdfSignatureMetadata(field_name="Seal", subfilter=fields.SigSeedSubFilter.PADES)
        return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=bare,
                                timestamper=timestamper).getvalue()

    stamper = AuthorityTimeStamper(TimestampAuthority.of_province(fed, COMPETENT))
    lta = DepartmentSealer(federation=fed, province_code=COMPETENT, level=PadesLevel.B_LTA)
    sealed = {"B-LT": sealer.seal(pdf, department_key="market"), "B-LTA": lta.seal(pdf, department_key="market"),
              "B-B": bare_sign(None), "B-T": bare_sign(stamper)}
    fed.reissue_seal(COMPETENT, "market")  # later tests seal with a normal certificate again
    return sealed


def test_a_seal_carries_a_timestamp_from_the_issuing_province_tsa(fed: Federation) -> None:
    report = check(DepartmentSealer(federation=fed, province_code=COMPETENT).issue(request()), fed)
    assert report.passed, report.render()
    assert report.level == "B-LT"
    assert (report.case_number, report.verification_code) == ("KS-330000-20251123-000042", "7Q4K-9XW2-MD3P")
    assert report.timestamp_authority == "浙江省跨省通办时间戳服务"
    assert report.timestamp_at is not None and report.signed_at is not None
    assert abs(report.timestamp_at - report.signed_at) < timedelta(seconds=5)
    assert "时间戳证明" in report.explanation_zh and "北京时间" in report.render()


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_an_expired_seal_still_passes_on_its_embedded_long_term_data_and_timestamp(
    fed: Federation, short_lived: dict[str, bytes], level: str,
) -> None:
    after_expiry = datetime.now(timezone.utc) + timedelta(days=1)
    report = check(short_lived[level], fed, now=after_expiry)
    assert report.passed, report.render()
    assert report.long_term and report.level == level
    assert "现已过期" in report.explanation_zh


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_an_expired_seal_without_timestamp_or_embedded_crls_is_refused_as_expired(
    fed: Federation, short_lived: dict[str, bytes], level: str,
) -> None:
    assert check(short_lived[level], fed).passed  # before expiry all three are fine
    report = check(short_lived[level], fed, now=datetime.now(timezone.utc) + timedelta(days=1))
    assert (report.verdict, report.reason, report.level) == (Verdict.TOTAL_FAILED, Reason.EXPIRED, level), \
        report.render()


def test_an_expired_seal_revoked_since_is_refused_even_with_long_term_data(tmp_path: Path) -> None:
    small = make_federation(tmp_path / "fed", provinces=[Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}),
                                                      Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"})])
    cert_pem = small.reissue_seal(COMPETENT, "market", not_after=datetime.now(timezone.utc) + timedelta(minutes=10))
    pdf = DepartmentSealer(federation=small, province_code=COMPETENT).issue(request())
    small.revoke(COMPETENT, cert_pem=cert_pem)
    report = check(pdf, small, now=datetime.now(timezone.utc) + timedelta(days=1))
    assert (report.verdict, report.reason) == (Verdict.TOTAL_FAILED, Reason.REVOKED), report.render()


def test_a_b_lta_seal_passes_and_nothing_can_be_appended_after_its_archive_timestamp(fed: Federation) -> None:
    lta = DepartmentSealer(federation=fed, province_code=COMPETENT, level=PadesLevel.B_LTA).issue(request())
    kinds = [s.sig_object["/Type"] for s in PdfFileReader(io.BytesIO(lta)).embedded_signatures]
    assert kinds == ["/Sig", "/DocTimeStamp"]
    report = check(lta, fed)
    assert report.passed and report.level == "B-LTA", report.render()
    forged = check(overwrite_applicant_name(lta), fed)
    assert (forged.verdict, forged.reason) == (Verdict.TOTAL_FAILED, Reason.MODIFIED_AFTER_SIGNING), forged.render()


@pytest.mark.parametrize("level", [PadesLevel.B_LT, PadesLevel.B_LTA])
def test_poppler_finds_timestamped_seals_valid(fed: Federation, level: PadesLevel, tmp_path: Path) -> None:
    out = pdfsig(DepartmentSealer(federation=fed, province_code=COMPETENT, level=level).issue(request()), tmp_path)
    assert "Signature Validation: Signature is Valid." in out, out
    assert "Total document signed" in out, out


def test_a_seal_timestamped_by_another_province_tsa_is_refused(
    fed: Federation, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from signing.validation import reusing_context

    foreign_tsa = AuthorityTimeStamper(TimestampAuthority.of_province(fed, OTHER))
    sealer = DepartmentSealer(federation=fed, province_code=COMPETENT, timestamper=foreign_tsa)
    with pytest.raises(SigningError, match="CRL"):  # the sealer holds only its own chain's CRLs
        sealer.issue(request())
    # A sealer given every CRL of the federation (as tongban's once was) makes such a file.
    monkeypatch.setattr(DepartmentSealer, "_validation_context", lambda self: reusing_context(fed.trust()))
    pdf = sealer.issue(request())
    report = check(pdf, fed)
    assert (report.verdict, report.reason) == (Verdict.TOTAL_FAILED, Reason.NOT_COMPETENT_SIGNER), report.render()
    assert "timestamp" in report.detail


def test_the_tsa_serves_rfc3161_over_http_on_loopback(fed: Federation) -> None:
    server = TsaHttpServer(TimestampAuthority.of_province(fed, COMPETENT)).start()
    try:
        sealer = DepartmentSealer(federation=fed, province_code=COMPETENT, timestamper=HttpTimeStamper(server.url))
        report = check(sealer.issue(request()), fed)
        assert report.passed and report.timestamp_authority == "浙江省跨省通办时间戳服务", report.render()
    finally:
        server.stop()
    with pytest.raises(SigningError, match="unreachable"):
        DepartmentSealer(federation=fed, province_code=COMPETENT, timestamper=HttpTimeStamper(server.url)) \
            .issue(request())


def _status(response_der: bytes) -> tuple[str, set[str]]:
    status, failures, text = response_status(response_der)
    assert text  # a rejection says why
    return status, set(failures)


def test_the_tsa_rejects_bad_requests_with_an_rfc3161_failure_not_an_exception(fed: Federation) -> None:
    tsa = TimestampAuthority.of_province(fed, COMPETENT)
    assert _status(tsa.respond(b"garbage")) == ("rejection", {"bad_data_format"})
    sha1 = tsp.TimeStampReq({"version": 1, "message_imprint": {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha1"}), "hashed_message": bytes(20)}})
    assert _status(tsa.respond(sha1.dump())) == ("rejection", {"bad_alg"})
    short = tsp.TimeStampReq({"version": 1, "message_imprint": {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "hashed_message": bytes(20)}})
    assert _status(tsa.respond(short.dump())) == ("rejection", {"bad_data_format"})
    good = tsp.TimeStampReq({"version": 1, "nonce": 42, "cert_req": True, "message_imprint": {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "hashed_message": bytes(32)}})
    answer = tsp.TimeStampResp.load(tsa.respond(good.dump()))
    assert answer["status"]["status"].native == "granted"
    info = answer["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == 42 and info["message_imprint"]["hashed_message"].native == bytes(32)


def test_a_document_timestamp_from_an_outsider_tsa_is_refused(fed: Federation, tmp_path: Path) -> None:
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper

    outsider = make_federation(tmp_path / "outsider", provinces=[
        Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}), Province(OTHER, "安徽省", {})])
    sealed = DepartmentSealer(federation=fed, province_code=COMPETENT).issue(request())
    out = PdfTimeStamper(AuthorityTimeStamper(TimestampAuthority.of_province(outsider, COMPETENT))).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sealed)), md_algorithm="sha256", in_place=False)
    report = check(out.getvalue(), fed)
    assert (report.verdict, report.reason) == (Verdict.TOTAL_FAILED, Reason.NO_CERTIFICATE_CHAIN_FOUND), \
        report.render()


def test_a_second_seal_by_an_outsider_after_the_archive_timestamp_is_refused(
    fed: Federation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyhanko.sign.signers.pdf_signer import PdfSigner

    outsider = make_federation(tmp_path / "outsider", provinces=[
        Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}), Province(OTHER, "安徽省", {})])
    lta = DepartmentSealer(federation=fed, province_code=COMPETENT, level=PadesLevel.B_LTA).issue(request())
    monkeypatch.setattr(PdfSigner, "_enforce_certification_constraints", lambda self, reader: None)
    cert, key = outsider.seal_paths(COMPETENT, "market")
    signer = signers.SimpleSigner.load(str(key), str(cert))
    assert signer is not None
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(lta), strict=False),
        signers.PdfSignatureMetadata(field_name="Outsider", subfilter=fields.SigSeedSubFilter.PADES),
        signer=signer, new_field_spec=fields.SigFieldSpec("Outsider", box=(72, 72, 152, 152)))
    report = check(out.getvalue(), fed)
    assert (report.verdict, report.reason) == (Verdict.TOTAL_FAILED, Reason.EXTRA_SIGNATURE), report.render()


def test_sealing_and_verifying_work_inside_a_running_event_loop(fed: Federation) -> None:
    import asyncio

    async def inside_a_loop() -> VerificationReport:
        pdf = DepartmentSealer(federation=fed, province_code=COMPETENT).issue(request())
        return check(pdf, fed)

    report = asyncio.run(inside_a_loop())
    assert report.passed, report.render()


def test_a_province_ca_publishes_a_fresh_crl_once_half_its_life_has_passed(tmp_path: Path) -> None:
    from cryptography import x509

    small = make_federation(tmp_path / "fed", provinces=[
        Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}), Province(OTHER, "安徽省", {})])
    assert small.publish_crl_if_due(COMPETENT) is False
    assert small.publish_crl_if_due(COMPETENT, now=datetime.now(timezone.utc) + timedelta(days=4)) is True
    crl = x509.load_pem_x509_crl(small.crl_pem(COMPETENT))
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    (small.directory / "provinces" / COMPETENT / "ca.key").unlink()  # a window node holds no CA key
    assert small.publish_crl_if_due(COMPETENT, now=datetime.now(timezone.utc) + timedelta(days=6)) is False


def test_a_b_lta_seal_with_stale_crls_is_indeterminate_not_passed(fed: Federation) -> None:
    lta = DepartmentSealer(federation=fed, province_code=COMPETENT, level=PadesLevel.B_LTA).issue(request())
    report = check(lta, fed, now=datetime.now(timezone.utc) + timedelta(days=8))
    assert (report.verdict, report.reason) == (Verdict.INDETERMINATE, Reason.TRY_LATER), report.render()


def test_long_term_validation_uses_the_embedded_crls_of_the_chain_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seals made before the sealer kept to its own chain embed every CRL of the federation;
    after expiry they must still pass on the embedded CRLs of their chain, and a seal sealed
    by the current sealer (two CRLs) too."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    from signing.validation import reusing_context

    small = make_federation(tmp_path / "fed", provinces=[
        Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}),
        Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"}),
        Province("320000", "江苏省", {"market": "江苏省市场监督管理局"})])
    small.reissue_seal(COMPETENT, "market", not_after=datetime.now(timezone.utc) + timedelta(minutes=10))
    now = DepartmentSealer(federation=small, province_code=COMPETENT).issue(request())
    with monkeypatch.context() as m:
        m.setattr(DepartmentSealer, "_validation_context", lambda self: reusing_context(small.trust()))
        old = DepartmentSealer(federation=small, province_code=COMPETENT).issue(request())

    def embedded(pdf: bytes) -> int:
        return len(DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf))).crls)

    assert (embedded(now), embedded(old)) == (2, 4)
    after_expiry = datetime.now(timezone.utc) + timedelta(days=1)
    for pdf in (now, old):
        report = check(pdf, small, now=after_expiry)
        assert report.passed and report.long_term, report.render()


def test_a_document_security_store_whose_crls_are_not_a_list_fails_closed(fed: Federation) -> None:
    from pyhanko.pdf_utils.generic import DictionaryObject, NameObject, NumberObject

    sealed = DepartmentSealer(federation=fed, province_code=COMPETENT).issue(request())
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    writer.root[NameObject("/DSS")] = DictionaryObject({NameObject("/CRLs"): NumberObject(7)})
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    report = check(out.getvalue(), fed)
    assert report.verdict is Verdict.TOTAL_FAILED and report.reason is Reason.FORMAT_FAILURE
    assert "/CRLs is not an array" in report.detail
