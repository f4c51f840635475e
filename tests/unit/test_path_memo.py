"""signing.path_memo answers a chain from an earlier pass only while nothing that decided it can
have changed: a revocation, an expiry, a stale CRL or another thread each get pyHanko's own
answer, and every report is the one pyHanko alone gives. Each test runs with the memo installed
(and empty) and leaves it as it found it."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing import path_memo
from signing.pki import Federation, _crl
from signing.seal import DepartmentSealer
from signing.validation import strict_context
from signing.verify import Reason, VerificationReport, verify_sealed_pdf
from tests.fixtures.signing_assets import COMPETENT, OTHER, make_federation, request


@pytest.fixture(autouse=True)
def memo_installed() -> Iterator[None]:
    installed_before = path_memo._original is not None  # by a node's wiring in an earlier test
    path_memo.install()
    path_memo._memo().clear()
    yield
    path_memo._memo().clear()
    if not installed_before:
        path_memo.uninstall()


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    """Its own, not the session's (tests/conftest.py): that one is shared with other tests and
    their nodes, and on it the counts below came out differently in the full suite (what the
    memo may answer depends on the CRLs' issue times against the seal's)."""
    return make_federation(tmp_path_factory.mktemp("fed"))


@pytest.fixture(scope="module")
def sealed(federation: Federation) -> bytes:
    return DepartmentSealer(federation=federation, province_code=COMPETENT).issue(request())


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The chains pyHanko itself validated (the memo did not answer)."""
    calls: list[Any] = []
    original = path_memo._original

    async def counting(context: Any, path: Any, parameters: Any = None) -> Any:
        calls.append(path)
        return await original(context, path, parameters)

    monkeypatch.setattr(path_memo, "_original", counting)
    return calls


def verify(federation: Federation, pdf: bytes, *, now: dt.datetime | None = None) -> VerificationReport:
    return verify_sealed_pdf(pdf, trust=federation.trust(), competent_province=COMPETENT,
                             competent_department="market", issued_sha256=None, now=now)


def test_a_chain_verified_again_is_answered_from_the_memo_with_the_same_report(
        federation: Federation, sealed: bytes, validated: list[Any]) -> None:
    first = verify(federation, sealed)
    assert first.passed and len(validated) == 2  # the seal's chain and its timestamp's
    second = verify(federation, sealed)
    assert len(validated) == 2  # neither validated again
    assert second.passed and (second.reason, second.detail, second.signer, second.level) == \
        (first.reason, first.detail, first.signer, first.level)


def test_a_seal_made_again_is_answered_from_the_memo(federation: Federation, validated: list[Any]) -> None:
    sealer = DepartmentSealer(federation=federation, province_code=COMPETENT)
    sealer.issue(request())
    before = len(validated)
    assert before >= 1
    pdf = sealer.issue(request(case_number="KS-330000-20251123-000043"))
    assert len(validated) == before
    assert verify(federation, pdf).passed


@pytest.mark.parametrize("after", [
    dt.timedelta(days=-2),            # before the CRLs were issued
    dt.timedelta(days=8),             # the CRLs are past their next update
    dt.timedelta(days=3 * 365 + 30),  # the seal certificate has expired
])
def test_a_remembered_chain_gives_pyhankos_own_report_at_any_other_time(
        federation: Federation, sealed: bytes, after: dt.timedelta) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    assert verify(federation, sealed, now=now).passed  # remembered
    remembered = verify(federation, sealed, now=now + after)
    path_memo.uninstall()
    try:
        alone = verify(federation, sealed, now=now + after)
    finally:
        path_memo.install()
    assert not alone.passed
    assert (remembered.verdict, remembered.reason) == (alone.verdict, alone.reason), remembered.render()


def test_a_seal_revoked_after_a_pass_is_refused_at_once_and_can_seal_no_more(tmp_path: Path) -> None:
    federation = make_federation(tmp_path / "fed")
    sealer = DepartmentSealer(federation=federation, province_code=COMPETENT)
    pdf = sealer.issue(request())
    assert verify(federation, pdf).passed and verify(federation, pdf).passed  # the second from the memo
    seal_cert, _ = federation.seal_paths(COMPETENT, "market")
    federation.revoke(COMPETENT, cert_pem=seal_cert.read_bytes())
    report = verify(federation, pdf)
    assert report.reason is Reason.REVOKED and not report.passed, report.render()
    with pytest.raises(Exception, match="failed"):
        sealer.issue(request())


def test_a_failed_chain_is_never_remembered(federation: Federation, sealed: bytes, validated: list[Any]) -> None:
    stale = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=8)  # every CRL past its next update
    assert not verify(federation, sealed, now=stale).passed
    assert validated and not path_memo._memo()
    tried = len(validated)
    assert not verify(federation, sealed, now=stale).passed
    assert len(validated) == 2 * tried  # validated by pyHanko again, and refused again


def test_a_chain_listed_on_a_crl_even_for_a_later_date_is_validated_by_pyhanko_every_time(
        tmp_path: Path, validated: list[Any]) -> None:
    federation = make_federation(tmp_path / "fed")
    pdf = DepartmentSealer(federation=federation, province_code=COMPETENT).issue(request())
    seal_path, _ = federation.seal_paths(COMPETENT, "market")
    seal = x509.load_pem_x509_certificate(seal_path.read_bytes())
    # A revocation announced for later: listed, though not yet in effect.
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    ca_cert, ca_key, folder = federation._ca(COMPETENT)
    old = x509.load_pem_x509_crl((folder / "crl.pem").read_bytes())
    number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    listed = x509.RevokedCertificateBuilder().serial_number(seal.serial_number).revocation_date(later).build()
    (folder / "crl.pem").write_bytes(_crl(issuer=ca_cert, key=ca_key, number=number, revoked=[*old, listed])
                                     .public_bytes(serialization.Encoding.PEM))
    seal_der = seal.public_bytes(serialization.Encoding.DER)

    def seal_chains() -> int:
        return sum(1 for path in validated if path.leaf.dump() == seal_der)

    before = seal_chains()  # the seal itself validated its chain
    first = verify(federation, pdf)
    tried = seal_chains() - before
    second = verify(federation, pdf)
    assert tried >= 1 and seal_chains() - before == 2 * tried  # pyHanko validated it again
    assert (second.verdict, second.reason) == (first.verdict, first.reason)


def test_contexts_not_built_for_the_memo_are_validated_by_pyhanko_every_time(
        federation: Federation, sealed: bytes, validated: list[Any]) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    import io

    for _ in range(2):
        (seal,) = PdfFileReader(io.BytesIO(sealed), strict=False).embedded_signatures
        context = strict_context(federation.trust())
        assert validate_pdf_signature(seal, signer_validation_context=context, ts_validation_context=context).bottom_line
    assert len(validated) == 4 and not path_memo._memo()


def test_each_thread_keeps_a_memo_of_its_own(federation: Federation, sealed: bytes, validated: list[Any]) -> None:
    assert verify(federation, sealed).passed
    reports: list[VerificationReport] = []
    thread = threading.Thread(target=lambda: reports.append(verify(federation, sealed)))
    thread.start()
    thread.join()
    assert reports[0].passed and len(validated) == 4  # validated again in the other thread


def test_uninstall_gives_pyhanko_its_own_validation_back() -> None:
    import pyhanko_certvalidator

    assert pyhanko_certvalidator.async_validate_path is path_memo.validate_path
    original = path_memo._original
    path_memo.uninstall()
    try:
        assert pyhanko_certvalidator.async_validate_path is original
    finally:
        path_memo.install()


def test_a_province_sealing_for_another_is_still_refused(federation: Federation) -> None:
    pdf = DepartmentSealer(federation=federation, province_code=OTHER).issue(
        request(province_code=OTHER, department_name="安徽省市场监督管理局"))
    for _ in range(2):
        report = verify(federation, pdf)
        assert not report.passed and report.reason is Reason.NOT_COMPETENT_SIGNER, report.render()


def test_a_context_whose_crls_or_settings_changed_after_it_was_built_is_not_answered(federation: Federation) -> None:
    from pyhanko.keys import load_cert_from_pemder, load_certs_from_pemder_data
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.path import ValidationPath
    from pyhanko_certvalidator.ltv.poe import digest_for_poe
    from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

    from signing.validation import reusing_context

    seal_path, _ = federation.seal_paths(COMPETENT, "market")
    root = next(iter(load_certs_from_pemder_data(federation.root_pem())))
    ca = next(iter(load_certs_from_pemder_data(federation.province_ca_pem(COMPETENT))))
    path = ValidationPath(CertTrustAnchor(root), interm=[ca], leaf=load_cert_from_pemder(str(seal_path)))
    context = reusing_context(federation.chain_trust(COMPETENT))
    assert path_memo._key(context, path) is not None
    evicted = reusing_context(federation.chain_trust(COMPETENT))
    # What pyHanko's past-time validation does to a context it works with.
    evicted.revinfo_manager.evict_crls({digest_for_poe(evicted.crls[0].dump())})
    assert path_memo._key(evicted, path) is None
    other_policy = reusing_context(federation.chain_trust(COMPETENT))
    other_policy.algorithm_policy = DisallowWeakAlgorithmsPolicy()
    assert path_memo._key(other_policy, path) is None
