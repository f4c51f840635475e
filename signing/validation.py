"""The one place a pyHanko validation context is built, so signing and verifying apply the
same strict policy: only our root is trusted and every certificate needs a current CRL."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from cryptography import x509
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

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
    return _context(roots=list(_PARSED.get(("certs", trust.root_pem), _certs)),
                    others=[c for pem in trust.intermediate_pems for c in _PARSED.get(("certs", pem), _certs)],
                    crls=[_PARSED.get(("crl", der), _crl) for der in trust.crls_der],
                    moment=moment)


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
