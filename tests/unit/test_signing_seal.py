"""Sealing and fail-closed verification, with a real federation PKI and real PDFs."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from signing.errors import SigningError
from signing.pki import Federation, Province
from signing.render import SEAL_BOX, render_certificate
from signing.seal import DepartmentSealer
from signing.verify import Reason, SealVerifier, Verdict, VerificationReport, verify_sealed_pdf
from tests.fixtures.signing_assets import (
    COMPETENT, OTHER, flip_byte_in_page_content, make_federation, overwrite_applicant_name, request,
)


@pytest.fixture(scope="session")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return make_federation(tmp_path_factory.mktemp("signing-federation"))


@pytest.fixture(scope="session")
def foreign_fed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return make_federation(tmp_path_factory.mktemp("signing-foreign"))


@pytest.fixture(scope="session")
def sealed(fed: Federation) -> bytes:
    return DepartmentSealer(federation=fed, province_code=COMPETENT).issue(request())


def check(pdf: bytes, fed: Federation, *, department: str = "market", issued: str | None = None,
          now: datetime | None = None) -> VerificationReport:
    return verify_sealed_pdf(pdf, trust=fed.trust(), competent_province=COMPETENT, competent_department=department,
                             issued_sha256=issued, now=now)


def assert_refused(report: VerificationReport, reason: Reason, verdict: Verdict = Verdict.TOTAL_FAILED) -> None:
    assert (report.verdict, report.reason) == (verdict, reason), report.render()
    assert not report.passed
    assert "请勿打印" in report.explanation_zh


def test_a_freshly_issued_certificate_passes_verification(fed: Federation, sealed: bytes) -> None:
    report = SealVerifier(trust=fed.trust()).verify(
        sealed, competent_province=COMPETENT, competent_department="market",
        issued_sha256=hashlib.sha256(sealed).hexdigest())
    assert report.passed, report.render()
    assert report.verdict == "TOTAL_PASSED" and report.reason is None
    assert report.signer is not None
    assert (report.signer.common_name, report.signer.province_code, report.signer.department_key) == (
        "浙江省市场监督管理局", COMPETENT, "market")
    assert report.signed_at is not None
    assert "可以打印" in report.explanation_zh
    summary = report.summary()
    assert summary["verdict"] == "TOTAL_PASSED" and summary["signer"]["department_key"] == "market"


def test_poppler_also_finds_the_seal_cryptographically_valid(sealed: bytes, tmp_path: Path) -> None:
    if shutil.which("pdfsig") is None:
        pytest.skip("poppler-utils (pdfsig) not installed")
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False).stdout
    assert "Signature is Valid" in out, out
    assert "Total document signed" in out, out


def test_the_seal_is_a_pades_certification_that_forbids_changes(sealed: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(sealed))
    (sig,) = reader.embedded_signatures
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    perms = reader.root["/Perms"]["/DocMDP"]
    assert perms["/Reference"][0]["/TransformParams"]["/P"] == 1
    rect = [float(v) for v in sig.sig_field["/Rect"]]
    assert rect == pytest.approx(list(SEAL_BOX))
    assert "/DSS" in reader.root  # CRLs travel in the signed revision


def test_window_refuses_a_file_with_one_byte_changed_in_the_text(fed: Federation, sealed: bytes) -> None:
    assert_refused(check(flip_byte_in_page_content(sealed), fed), Reason.HASH_FAILURE)


def test_window_refuses_a_name_rewritten_in_an_incremental_update(fed: Federation, sealed: bytes) -> None:
    forged = overwrite_applicant_name(sealed)
    assert forged.startswith(sealed)
    assert_refused(check(forged, fed), Reason.MODIFIED_AFTER_SIGNING)


def test_window_refuses_a_seal_from_another_province(fed: Federation) -> None:
    pdf = render_certificate(request(), province_name="浙江省")
    other = DepartmentSealer(federation=fed, province_code=OTHER).seal(pdf, department_key="market")
    assert_refused(check(other, fed), Reason.NOT_COMPETENT_SIGNER)


def test_window_refuses_a_seal_of_the_right_province_but_wrong_department(fed: Federation) -> None:
    pdf = render_certificate(request(), province_name="浙江省")
    health = DepartmentSealer(federation=fed, province_code=COMPETENT).seal(pdf, department_key="health")
    assert_refused(check(health, fed), Reason.NOT_COMPETENT_SIGNER)


def test_window_refuses_a_seal_from_a_foreign_federation(fed: Federation, foreign_fed: Federation) -> None:
    forged = DepartmentSealer(federation=foreign_fed, province_code=COMPETENT).issue(request())
    report = check(forged, fed)
    assert_refused(report, Reason.NO_CERTIFICATE_CHAIN_FOUND)


def test_window_refuses_a_second_signature_added_later(
    fed: Federation, sealed: bytes, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.signers.pdf_signer import PdfSigner

    # An attacker's tool ignores the "no changes" certification, which pyHanko would enforce.
    monkeypatch.setattr(PdfSigner, "_enforce_certification_constraints", lambda self, reader: None)
    cert, key = fed.seal_paths(COMPETENT, "health")
    signer = signers.SimpleSigner.load(str(key), str(cert))
    assert signer is not None
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False),
        signers.PdfSignatureMetadata(field_name="Extra", subfilter=fields.SigSeedSubFilter.PADES),
        signer=signer, new_field_spec=fields.SigFieldSpec("Extra", box=(72, 72, 152, 152)),
    )
    assert_refused(check(out.getvalue(), fed), Reason.EXTRA_SIGNATURE)


def test_window_refuses_a_valid_seal_on_a_document_other_than_the_issued_one(fed: Federation, sealed: bytes) -> None:
    other = DepartmentSealer(federation=fed, province_code=COMPETENT).issue(request(applicant_name="李四"))
    assert check(other, fed).passed
    assert_refused(check(other, fed, issued=hashlib.sha256(sealed).hexdigest()), Reason.NOT_THE_ISSUED_DOCUMENT)


def test_window_refuses_an_unsigned_pdf(fed: Federation) -> None:
    assert_refused(check(render_certificate(request(), province_name="浙江省"), fed), Reason.NO_SIGNATURE)


@pytest.mark.parametrize("garbage", [b"", b"not a pdf at all", b"%PDF-1.7\n" + bytes(range(256)) * 4])
def test_window_refuses_garbage_without_raising(fed: Federation, garbage: bytes) -> None:
    assert_refused(check(garbage, fed), Reason.FORMAT_FAILURE)


def test_a_stale_crl_makes_the_verdict_indeterminate_not_passed(fed: Federation, sealed: bytes) -> None:
    later = datetime.now(timezone.utc) + timedelta(days=8)  # past every CRL's next_update
    report = check(sealed, fed, now=later)
    assert_refused(report, Reason.TRY_LATER, Verdict.INDETERMINATE)


def test_a_missing_crl_makes_the_verdict_indeterminate(fed: Federation, sealed: bytes) -> None:
    import dataclasses

    trust = dataclasses.replace(fed.trust(), crls_der=())
    report = verify_sealed_pdf(sealed, trust=trust, competent_province=COMPETENT, competent_department="market",
                               issued_sha256=None)
    assert_refused(report, Reason.TRY_LATER, Verdict.INDETERMINATE)


def test_window_refuses_a_seal_whose_certificate_was_revoked(tmp_path: Path) -> None:
    small = make_federation(tmp_path / "fed", provinces=[
        Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}),
        Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"})])
    sealer = DepartmentSealer(federation=small, province_code=COMPETENT)
    pdf = sealer.issue(request())
    assert check(pdf, small).passed
    seal_cert, _ = small.seal_paths(COMPETENT, "market")
    small.revoke(COMPETENT, cert_pem=seal_cert.read_bytes())
    assert_refused(check(pdf, small), Reason.REVOKED)
    with pytest.raises(SigningError, match="failed"):
        sealer.issue(request())  # a revoked seal cannot seal any more


def test_a_sealer_only_issues_for_its_own_province(fed: Federation) -> None:
    with pytest.raises(SigningError, match="send it to that province's node"):
        DepartmentSealer(federation=fed, province_code=OTHER).issue(request())


def test_an_unknown_department_cannot_seal(fed: Federation) -> None:
    with pytest.raises(SigningError, match="no department"):
        DepartmentSealer(federation=fed, province_code=COMPETENT).seal(b"%PDF", department_key="tax")


def test_report_renders_for_people_and_machines(fed: Federation, sealed: bytes) -> None:
    import json

    report = check(overwrite_applicant_name(sealed), fed)
    text = report.render()
    assert "MODIFIED_AFTER_SIGNING" in text and "文件在盖章后被修改" in text
    summary = json.loads(json.dumps(report.summary()))
    assert summary["passed"] is False and summary["reason"] == "MODIFIED_AFTER_SIGNING"
    assert f"{report.reason}" == "MODIFIED_AFTER_SIGNING"  # the port formats reasons as plain text


def test_the_seal_signs_the_attributes_pyhanko_itself_would(fed: Federation) -> None:
    """The sealer hands pyHanko a pre-encoded signing-certificate-v2 attribute (for speed): the
    signed attributes must be those of pyHanko's own PAdES attribute spec."""
    pdf = render_certificate(request(), province_name="浙江省")
    ours = DepartmentSealer(federation=fed, province_code=COMPETENT)
    pyhankos = DepartmentSealer(federation=fed, province_code=COMPETENT)
    pyhankos._load("market").signer.signed_attr_prov_spec = None  # pyHanko picks its default spec

    def signed_attributes(sealed: bytes) -> dict[str, bytes]:
        signature = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0]
        found = {a["type"].native: a["values"].dump(force=True) for a in signature.signer_info["signed_attrs"]}
        assert len(found) == len(signature.signer_info["signed_attrs"])
        found.pop("message_digest")  # of each file's own bytes
        return found

    attributes = signed_attributes(ours.seal(pdf, department_key="market"))
    assert set(attributes) == {"content_type", "signing_certificate_v2"}
    assert attributes == signed_attributes(pyhankos.seal(pdf, department_key="market"))


def test_every_seal_of_a_department_carries_one_seal_image(fed: Federation) -> None:
    """The seal drawing is imported into each document afresh: nothing from earlier seals
    (their XObject names) may ride along into later ones."""
    sealer = DepartmentSealer(federation=fed, province_code=COMPETENT)
    pdf = render_certificate(request(), province_name="浙江省")
    sealed = [sealer.seal(pdf, department_key="market") for _ in range(4)]
    assert [s.count(b"/Import") for s in sealed] == [2, 2, 2, 2]  # the resource and the `Do` drawing it
    assert len({len(s) for s in sealed[1:]}) == 1  # the first seal reserves more room for its signature


def test_a_seal_of_another_province_presented_as_the_competent_ones_fails_closed(tmp_path: Path) -> None:
    """The verifier hands pyHanko only the CRLs of the competent province's chain, so another
    province's seal has none of its CRLs consulted: it must be refused as not competent (not
    passed, and not "try later"), whether that province's CRLs are sound or not."""
    small = make_federation(tmp_path / "fed", provinces=[
        Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}),
        Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"})])
    pdf = render_certificate(request(), province_name="浙江省")
    other = DepartmentSealer(federation=small, province_code=OTHER).seal(pdf, department_key="market")
    report = verify_sealed_pdf(other, trust=small.trust(), competent_province=OTHER, competent_department="market",
                               issued_sha256=None)
    assert report.passed, report.render()  # a sound seal of its own province
    report = check(other, small)
    assert_refused(report, Reason.NOT_COMPETENT_SIGNER)
    assert OTHER in report.detail and COMPETENT in report.detail
    later = datetime.now(timezone.utc) + timedelta(days=8)  # every CRL stale: still not "try later"
    assert_refused(check(other, small, now=later), Reason.NOT_COMPETENT_SIGNER)
    seal_cert, _ = small.seal_paths(OTHER, "market")
    small.revoke(OTHER, cert_pem=seal_cert.read_bytes())
    assert_refused(check(other, small), Reason.NOT_COMPETENT_SIGNER)
    assert_refused(check(flip_byte_in_page_content(other), small), Reason.HASH_FAILURE)  # forgery shows first
    assert_refused(check(overwrite_applicant_name(other), small), Reason.MODIFIED_AFTER_SIGNING)


def test_the_sealed_file_embeds_exactly_the_two_crls_of_its_chain(fed: Federation, sealed: bytes) -> None:
    from cryptography import x509
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    assert len(fed.provinces) > 2
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(sealed)))
    embedded = sorted(ref.get_object().data for ref in dss.crls)
    chain = sorted(x509.load_pem_x509_crl(fed.crl_pem(code)).public_bytes(serialization.Encoding.DER)
                   for code in (None, COMPETENT))
    assert embedded == chain


def test_the_verifier_gives_pyhanko_only_the_crls_of_the_competent_chain(fed: Federation) -> None:
    from cryptography import x509

    from signing.validation import crl_scope

    trust = fed.trust()
    scope = crl_scope(trust, COMPETENT)
    issuers = {x509.load_der_x509_crl(der).issuer for der in scope.trust.crls_der}
    root = x509.load_pem_x509_certificate(fed.root_pem()).subject
    province_ca = x509.load_pem_x509_certificate(fed.province_ca_pem(COMPETENT)).subject
    assert issuers == {root, province_ca} and len(scope.trust.crls_der) == 2
    assert scope.trust.intermediate_pems == trust.intermediate_pems  # certificates as before
    other_ca = x509.load_pem_x509_certificate(fed.province_ca_pem(OTHER)).subject.public_bytes()
    assert scope.foreign_province(other_ca) == OTHER
    assert scope.foreign_province(province_ca.public_bytes()) is None


def test_a_seal_reserves_what_its_first_seal_measured_and_retries_once_with_room_to_spare(
    fed: Federation, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyhanko.sign.signers.pdf_signer import PdfSigner

    def contents_hex(sealed: bytes) -> int:
        return 2 * len(PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0].pkcs7_content)

    sealer = DepartmentSealer(federation=fed, province_code=COMPETENT)
    pdf = render_certificate(request(), province_name="浙江省")
    first = sealer.seal(pdf, department_key="market")
    loaded = sealer._load("market")
    measured = loaded.measured_hex
    assert measured is not None and measured < loaded.generous_hex
    assert contents_hex(first) == loaded.generous_hex
    second = sealer.seal(pdf, department_key="market")
    assert contents_hex(second) == measured
    assert check(second, fed).passed

    reserved: list[int] = []
    async_sign_pdf = PdfSigner.async_sign_pdf

    async def spy(self: PdfSigner, *args: object, bytes_reserved: int, **kwargs: object) -> object:
        reserved.append(bytes_reserved)
        return await async_sign_pdf(self, *args, bytes_reserved=bytes_reserved, **kwargs)

    monkeypatch.setattr(PdfSigner, "async_sign_pdf", spy)
    loaded.measured_hex = 1000  # as if this seal's signature had outgrown what the first one measured
    third = sealer.seal(pdf, department_key="market")
    assert reserved == [1000, loaded.generous_hex]
    report = check(third, fed)
    assert report.passed, report.render()
    assert loaded.measured_hex is not None and 1000 < loaded.measured_hex < loaded.generous_hex  # measured again

    reserved.clear()
    loaded.generous_hex, loaded.measured_hex = 1200, 1000
    with pytest.raises(SigningError, match="failed"):  # retried once only, then a plain refusal
        sealer.seal(pdf, department_key="market")
    assert reserved == [1000, 1200]


def test_a_file_with_hundreds_of_objects_is_refused_before_it_is_read(fed: Federation, sealed: bytes) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from signing.verify import MAX_OBJECTS

    # pyHanko's lookups in object streams grow with the square of the objects: 8 000 form fields
    # in a 265 KB file held a verification for minutes. A sealed certificate has about 30.
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    for n in range(MAX_OBJECTS):
        writer.add_object(generic.DictionaryObject({generic.NameObject("/N"): generic.NumberObject(n)}))
    out = io.BytesIO()
    writer.write(out)
    report = check(out.getvalue(), fed)
    assert_refused(report, Reason.FORMAT_FAILURE)
    assert "objects in" in report.detail and "a sealed certificate has a few dozen" in report.detail
