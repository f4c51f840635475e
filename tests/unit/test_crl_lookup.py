"""signing.crl_lookup answers every revocation question as pyHanko's own walk of the CRL does,
from an index, and checks a CRL's signature once per issuer key; a node still refuses a seal
revoked in a CRL of thousands of entries. Each test runs with the lookup installed and leaves it
as it found it."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko_certvalidator.errors import CRLValidationError
from pyhanko_certvalidator.revinfo import validate_crl
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

from signing import crl_lookup
from signing.pki import Federation, Province, _crl
from signing.seal import DepartmentSealer
from signing.verify import Reason, verify_sealed_pdf
from tests.fixtures.signing_assets import COMPETENT, OTHER, make_federation, request

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
OTHER_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Delegating CA")])


@pytest.fixture(autouse=True)
def lookup_installed() -> Iterator[None]:
    installed_before = crl_lookup._original is not None  # by a node's wiring in an earlier test
    crl_lookup.install()
    yield
    if not installed_before:
        crl_lookup.uninstall()


def entry(serial: int, *, days_ago: int = 3, reason: x509.ReasonFlags | None = None,
          issuer: x509.Name | None = None, unknown_critical: bool = False) -> x509.RevokedCertificate:
    builder = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - dt.timedelta(days=days_ago))
    if reason is not None:
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    if issuer is not None:
        builder = builder.add_extension(x509.CertificateIssuer([x509.DirectoryName(issuer)]), critical=True)
    if unknown_critical:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), critical=True)
    return builder.build()


def certificate_list(entries: list[x509.RevokedCertificate], *, key: ec.EllipticCurvePrivateKey = CA_KEY) -> asn1_crl.CertificateList:
    builder = x509.CertificateRevocationListBuilder().issuer_name(CA_NAME).last_update(NOW) \
        .next_update(NOW + dt.timedelta(days=7))
    for revoked in entries:
        builder = builder.add_revoked_certificate(revoked)
    return asn1_crl.CertificateList.load(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def certificate(serial: int) -> asn1_x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"seal {serial}")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(CA_NAME).public_key(CA_KEY.public_key())
            .serial_number(serial).not_valid_before(NOW - dt.timedelta(days=30))
            .not_valid_after(NOW + dt.timedelta(days=30)).sign(CA_KEY, hashes.SHA256()))
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def both_answers(serial: int, issuer: x509.Name, listing: asn1_crl.CertificateList) -> list[tuple[object, object]]:
    """(pyHanko's walk, the index), each as (date, reason name); the same CRL object for both."""
    cert = certificate(serial)
    issuer_name = asn1_x509.Name.load(issuer.public_bytes())
    authority = asn1_x509.Name.load(CA_NAME.public_bytes())
    answers = []
    for lookup in (crl_lookup._original, crl_lookup.find_cert_in_list):
        date, reason = lookup(cert, issuer_name, listing, authority)
        answers.append((date, reason.native if reason is not None else None))
    return answers


def test_a_revoked_serial_is_found_with_its_date_and_reason_among_thousands() -> None:
    rng = random.Random(7)
    entries = [entry(rng.getrandbits(64) | 1 << 70) for _ in range(3000)]
    entries.insert(1234, entry(4242, days_ago=9, reason=x509.ReasonFlags.key_compromise))
    entries.insert(2000, entry(4343))
    listing = certificate_list(entries)
    walk, index = both_answers(4242, CA_NAME, listing)
    assert walk == index == (NOW - dt.timedelta(days=9), "key_compromise")
    walk, index = both_answers(4343, CA_NAME, listing)
    assert walk == index == (NOW - dt.timedelta(days=3), "unspecified")
    assert both_answers(5151, CA_NAME, listing) == [(None, None)] * 2


def test_an_indirect_crl_names_the_issuer_of_each_entry_as_pyhanko_reads_it() -> None:
    listing = certificate_list([
        entry(11),                                                    # the CRL's own CA
        entry(12, issuer=OTHER_NAME, reason=x509.ReasonFlags.superseded),  # from here on: the other CA
        entry(11, days_ago=5, reason=x509.ReasonFlags.affiliation_changed),
        entry(13, issuer=CA_NAME),                                    # back to the CRL's own CA
        entry(14),
    ])
    cases = [(11, CA_NAME), (11, OTHER_NAME), (12, CA_NAME), (12, OTHER_NAME), (13, CA_NAME), (14, CA_NAME),
             (14, OTHER_NAME), (15, CA_NAME)]
    for serial, issuer in cases:
        walk, index = both_answers(serial, issuer, listing)
        assert walk == index, (serial, issuer)
    assert both_answers(11, OTHER_NAME, certificate_list([entry(11, issuer=OTHER_NAME, days_ago=5)]))[1][0] \
        == NOW - dt.timedelta(days=5)


def test_an_entry_with_an_unknown_critical_extension_is_refused_as_pyhanko_refuses_it() -> None:
    listing = certificate_list([entry(21), entry(22, unknown_critical=True), entry(23)])
    args = (asn1_x509.Name.load(CA_NAME.public_bytes()), listing, asn1_x509.Name.load(CA_NAME.public_bytes()))
    for lookup in (crl_lookup._original, crl_lookup.find_cert_in_list):
        with pytest.raises(NotImplementedError):
            lookup(certificate(22), *args)
        assert lookup(certificate(23), *args)[0] is not None


def test_a_crl_signature_is_checked_once_per_issuer_key_and_a_bad_one_every_time() -> None:
    listing = certificate_list([entry(31)])
    good = asn1_keys.PublicKeyInfo.load(CA_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    stranger = asn1_keys.PublicKeyInfo.load(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    checked = []
    original = crl_lookup._original_signature_check

    def counting(*args: object) -> None:
        checked.append(args[1])
        original(*args)

    crl_lookup._original_signature_check = counting
    try:
        for _ in range(3):
            validate_crl._verify_crl_signature(listing, good, DefaultSignatureValidator())
            with pytest.raises(CRLValidationError):
                validate_crl._verify_crl_signature(listing, stranger, DefaultSignatureValidator())
    finally:
        crl_lookup._original_signature_check = original
    assert checked.count(good) == 1 and checked.count(stranger) == 3


def test_a_seal_revoked_in_a_crl_of_thousands_is_refused_and_cannot_seal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    indexed = []
    index_of = crl_lookup._entries_by_serial

    def noting(listing: asn1_crl.CertificateList) -> object:
        index = index_of(listing)
        indexed.append(index is not None and len(listing["tbs_cert_list"]["revoked_certificates"]))
        return index

    monkeypatch.setattr(crl_lookup, "_entries_by_serial", noting)
    small = make_federation(tmp_path / "fed", provinces=[
        Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}),
        Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"})])
    sealer = DepartmentSealer(federation=small, province_code=COMPETENT)
    pdf = sealer.issue(request())
    seal_cert, _ = small.seal_paths(COMPETENT, "market")
    grow_crl(small, COMPETENT, strangers=4000)
    assert verify_sealed_pdf(pdf, trust=small.trust(), competent_province=COMPETENT, competent_department="market",
                             issued_sha256=None).passed
    small.revoke(COMPETENT, cert_pem=seal_cert.read_bytes())  # appended after the 4 000
    report = verify_sealed_pdf(pdf, trust=small.trust(), competent_province=COMPETENT, competent_department="market",
                               issued_sha256=None)
    assert report.reason is Reason.REVOKED and not report.passed, report.render()
    assert 4001 in indexed  # answered from the index of the grown CRL, not by pyHanko's walk
    with pytest.raises(Exception, match="failed"):
        sealer.issue(request())


def test_an_index_is_used_only_by_the_thread_that_built_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsed CRLs are kept per thread (asn1crypto parses lazily); one that reached another
    thread anyway is answered by pyHanko's own walk there."""
    listing = certificate_list([entry(41, reason=x509.ReasonFlags.key_compromise)])
    assert both_answers(41, CA_NAME, listing)[1][1] == "key_compromise"  # indexed in this thread
    walked = []
    original = crl_lookup._original
    monkeypatch.setattr(crl_lookup, "_original", lambda *args: walked.append(args) or original(*args))
    answers: list[object] = []
    thread = threading.Thread(target=lambda: answers.append(crl_lookup.find_cert_in_list(
        certificate(41), asn1_x509.Name.load(CA_NAME.public_bytes()), listing,
        asn1_x509.Name.load(CA_NAME.public_bytes()))))
    thread.start()
    thread.join()
    assert len(walked) == 1 and answers[0][1].native == "key_compromise"  # type: ignore[index]


def test_uninstall_gives_pyhanko_its_own_lookups_back() -> None:
    ours = (validate_crl.find_cert_in_list, validate_crl._verify_crl_signature)
    assert ours == (crl_lookup.find_cert_in_list, crl_lookup.verify_crl_signature)
    theirs = (crl_lookup._original, crl_lookup._original_signature_check)
    crl_lookup.uninstall()
    try:
        assert (validate_crl.find_cert_in_list, validate_crl._verify_crl_signature) == theirs
    finally:
        crl_lookup.install()


def grow_crl(fed: Federation, code: str, *, strangers: int) -> None:
    ca_cert, ca_key, folder = fed._ca(code)
    old = x509.load_pem_x509_crl((folder / "crl.pem").read_bytes())
    number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    rng = random.Random(11)
    extra = [entry(rng.getrandbits(100) | 1 << 110, days_ago=1) for _ in range(strangers)]
    (folder / "crl.pem").write_bytes(
        _crl(issuer=ca_cert, key=ca_key, number=number, revoked=list(old) + extra).public_bytes(serialization.Encoding.PEM))
