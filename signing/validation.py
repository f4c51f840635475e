"""The one place a pyHanko validation context is built, so signing and verifying apply the
same strict policy: only our root is trusted and every certificate needs a current CRL."""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from cryptography import x509
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

from signing import path_memo
from signing.errors import SigningError
from signing.identity import identity_from_certificate
from signing.trust import TrustMaterial

# CRL_REQUIRED rather than "hard-fail": hard-fail only checks what a certificate declares,
# and "soft-fail" accepts a revoked seal when no CRL is at hand.
STRICT_REVOCATION = CertRevTrustPolicy(
    RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.CRL_REQUIRED,
        intermediate_ca_cert_rule=RevocationCheckingRule.CRL_REQUIRED,
    )
)


def strict_context(trust: TrustMaterial, *, moment: datetime | None = None) -> ValidationContext:
    """Parses the trust material afresh: what any pyHanko user would write (the bench's baseline)."""
    return _context(roots=list(load_certs_from_pemder_data(trust.root_pem)),
                    others=[c for pem in trust.intermediate_pems for c in load_certs_from_pemder_data(pem)],
                    crls=list(trust.crls_der), moment=moment)


def reusing_context(trust: TrustMaterial, *, moment: datetime | None = None) -> ValidationContext:
    """The same policy over the same material as `strict_context`, from certificates and CRLs
    already parsed by an earlier call. The context itself is new (its moment, its caches of
    validated paths), and the parsed objects are looked up by their exact bytes, so a changed CRL
    file is parsed and used at once. What is reused is what asn1crypto computes lazily and keeps
    on the object: parsed fields, normalised names for comparison, hashes."""
    context = _context(roots=list(_PARSED.get(("certs", trust.root_pem), _certs)),
                       others=[c for pem in trust.intermediate_pems for c in _PARSED.get(("certs", pem), _certs)],
                       crls=[_PARSED.get(("crl", der), _crl) for der in trust.crls_der],
                       moment=moment)
    # The exact material it was built from: what signing.path_memo keys a remembered chain on.
    return path_memo.mark(context, inputs=(trust.root_pem, trust.intermediate_pems, trust.crls_der))


def _context(*, roots: list[Any], others: list[Any], crls: list[Any], moment: datetime | None) -> ValidationContext:
    return ValidationContext(
        trust_roots=roots,
        other_certs=others,
        crls=crls,
        revinfo_policy=STRICT_REVOCATION,
        allow_fetching=False,
        moment=moment,
    )


def _certs(pem: bytes) -> list[Any]:
    return list(load_certs_from_pemder_data(pem))


def _crl(der: bytes) -> Any:
    return asn1_crl.CertificateList.load(der)


class _ParsedByContent:
    """Parsed objects keyed by the bytes they were parsed from, one cache per thread: asn1crypto
    parses lazily and fills a structure's fields one by one, so a thread reading an object that
    another thread is still parsing could see half of it. Sealing and verifying run on pooled
    threads, so each parses the trust material once. Bounded, so CRLs replaced over months of
    uptime do not accumulate."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._local = threading.local()

    def get(self, key: tuple[str, bytes], parse: Callable[[bytes], Any]) -> Any:
        items: OrderedDict[tuple[str, bytes], Any] | None = getattr(self._local, "items", None)
        if items is None:
            items = self._local.items = OrderedDict()
        found = items.get(key)
        if found is not None:
            items.move_to_end(key)
            return found
        value = items[key] = parse(key[1])
        while len(items) > self._size:
            items.popitem(last=False)
        return value


# A federation of a few dozen provinces has a root, a CA per province and a CRL per CA.
_PARSED = _ParsedByContent(size=256)


@dataclass(frozen=True)
class CrlScope:
    """The CRLs that can matter for a chain of one province: a certificate can only be revoked
    by its issuer's CRL, so a seal of province P and P's TSA need P's CA CRL, and P's CA the
    root's. pyHanko examines every CRL of a context for every certificate it checks, so giving it
    only these keeps a verification from growing with the federation. Certificates of any other
    province then have no CRL at hand and cannot pass; `foreign_province` tells that case apart
    so it is reported as such and not as a CRL to wait for."""

    province_code: str | None
    trust: TrustMaterial  # the same roots and CAs, only the CRLs of the scope
    issuers: frozenset[bytes]  # subjects (DER) of the root and the province's CA
    other_cas: Mapping[bytes, str]  # subjects (DER) of the federation's other province CAs -> province

    def foreign_province(self, issuer_der: bytes) -> str | None:
        """The province whose CA issued a certificate outside this scope, None otherwise
        (inside the scope, or not issued by a CA of the federation at all)."""
        return None if issuer_der in self.issuers else self.other_cas.get(issuer_der)

    def with_crls(self, extra_der: tuple[bytes, ...]) -> TrustMaterial:
        """The scope's trust with those of `extra_der` (CRLs found in a file) that come from its issuers."""
        kept = tuple(der for der in extra_der if _crl_issuer(der) in self.issuers)
        return dataclasses.replace(self.trust, crls_der=(*self.trust.crls_der, *kept))


def crl_scope(trust: TrustMaterial, province_code: str | None) -> CrlScope:
    """The scope of `province_code`'s chain; None (or a province without a CA here) keeps only the root's CRL."""
    roots = frozenset(subject for _, subject in _ca_subjects(trust.root_pem))
    mine: set[bytes] = set()
    others: dict[bytes, str] = {}
    for pem in trust.intermediate_pems:
        for code, subject in _ca_subjects(pem):
            if code is None:
                continue
            if code == province_code:
                mine.add(subject)
            else:
                others[subject] = code
    issuers = roots | mine
    for subject in issuers:  # a name claimed by two CAs is in scope, whatever the other claims
        others.pop(subject, None)
    crls = tuple(der for der in trust.crls_der if _crl_issuer(der) in issuers)
    return CrlScope(province_code=province_code, trust=dataclasses.replace(trust, crls_der=crls),
                    issuers=frozenset(issuers), other_cas=others)


def province_of_ca(trust: TrustMaterial, issuer_der: bytes) -> str | None:
    """The province whose CA has this subject, if it is one of the federation's CAs."""
    for pem in trust.intermediate_pems:
        for code, subject in _ca_subjects(pem):
            if code is not None and subject == issuer_der:
                return code
    return None


# What is kept are bytes and strings, immutable, so unlike parsed asn1crypto objects they can be
# shared between threads. Bounded for the same reason as _PARSED.
@functools.lru_cache(maxsize=256)
def _ca_subjects(pem: bytes) -> tuple[tuple[str | None, bytes], ...]:
    """(province code if a province CA, subject DER) of each certificate in `pem`."""
    found = []
    for cert in x509.load_pem_x509_certificates(pem) if pem.lstrip().startswith(b"-----") \
            else [x509.load_der_x509_certificate(pem)]:
        try:
            identity = identity_from_certificate(cert)
            code = identity.province_code if identity.role == "province-ca" else None
        except SigningError:
            code = None
        found.append((code, cert.subject.public_bytes()))
    return tuple(found)


@functools.lru_cache(maxsize=256)
def _crl_issuer(der: bytes) -> bytes:
    try:
        return x509.load_der_x509_crl(der).issuer.public_bytes()
    except ValueError:
        return b""  # unreadable: in no scope, so never handed to pyHanko


def crl_problem(trust: TrustMaterial, *, issuer_names_der: list[bytes], moment: datetime) -> str | None:
    """Why the CRLs at hand cannot vouch for certificates of these issuers at this moment, or None.

    pyHanko reports a missing or stale CRL as a generic chain failure; this tells that case
    apart so the window hears "try later" rather than "forged"."""
    crls = [x509.load_der_x509_crl(der) for der in trust.crls_der]
    for name in issuer_names_der:
        own = [c for c in crls if c.issuer.public_bytes() == name]
        if not own:
            return f"no CRL from {_issuer_label(name)}"
        if not any(c.last_update_utc <= moment < (c.next_update_utc or moment) for c in own):
            latest = max(own, key=lambda c: c.last_update_utc)
            return f"the CRL from {_issuer_label(name)} is not current (next update {latest.next_update_utc})"
    return None


def _issuer_label(name_der: bytes) -> str:
    from asn1crypto import x509 as asn1_x509

    return str(asn1_x509.Name.load(name_der).human_friendly)
