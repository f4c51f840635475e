"""The one place a pyHanko validation context is built, so signing and verifying apply the
same strict policy: only our root is trusted and every certificate needs a current CRL."""

from __future__ import annotations

from datetime import datetime

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
    return ValidationContext(
        trust_roots=list(load_certs_from_pemder_data(trust.root_pem)),
        other_certs=[c for pem in trust.intermediate_pems for c in load_certs_from_pemder_data(pem)],
        crls=list(trust.crls_der),
        revinfo_policy=STRICT_REVOCATION,
        allow_fetching=False,
        moment=moment,
    )


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
