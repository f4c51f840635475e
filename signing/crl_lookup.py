"""Revocation lookups by serial number, for pyhanko-certvalidator.

pyhanko-certvalidator looks a certificate up in a CRL by walking the CRL's entries
(`find_cert_in_list`), once per certificate of a chain and CRL: about seven walks per
verification and as many per seal. The federation's CRLs start empty, but a province CA's CRL
grows with every seal re-issued and every operator certificate revoked: at 1 000 entries a node
verification took 23 ms instead of 12 and a seal 18 ms instead of 9; at 5 000 entries 52 and
57 ms (`tests/unit/test_crl_lookup.py` holds the lookup to pyHanko's answers).

`install()` puts in front of it a lookup that indexes a parsed CRL's entries by serial number
once and keeps the index on that CRL object; the validation contexts reuse the trust
material's parsed CRLs (signing.validation), so each thread indexes each CRL once. Each entry
is kept with its position and the issuer in effect for it, found the way pyHanko's walk finds
it (an entry's certificate-issuer extension names the issuer of that entry and the entries
after it, in an indirect CRL). So the lookup stops at the entry pyHanko's walk would stop at:
the same revocation date, the same reason, and the same refusal (NotImplementedError) of an
entry with an unknown critical extension.

The CRL's own signature is checked once per validation context, which is new per verification:
pyHanko re-encodes the whole to-be-signed list to check it, which walks every entry (2.5 ms per
verification at 5 000 entries). A signature that verified under an issuer key is noted on the
parsed CRL, whose content cannot change, and not checked again for that key; one that fails is
checked, and refused, every time.

Installed by the node's wiring (main process and signing workers), not on import, so that
benchmarks of bare pyHanko in the same process stay bare."""

from __future__ import annotations

import threading
from typing import Any

from asn1crypto import crl, keys, x509
from pyhanko_certvalidator.revinfo import validate_crl
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator, SignatureValidator
from pyhanko_certvalidator.revinfo.constants import KNOWN_CRL_ENTRY_EXTENSIONS

_CERTIFICATE_ISSUER = crl.CRLEntryExtensionId("certificate_issuer").dump()
_INDEX = "_tongban_entries_by_serial"  # kept on the parsed CRL object, which nothing changes
_VERIFIED_BY = "_tongban_signature_verified_by"  # issuer keys (DER) its signature verified under

_original: Any = None
_original_signature_check: Any = None
_lock = threading.Lock()


def _entries_by_serial(certificate_list: crl.CertificateList) -> dict[bytes, list[tuple[Any, Any]]]:
    """serial (DER) -> [(entry, issuer in effect or None for the CRL's own authority)], in order."""
    index = certificate_list.__dict__.get(_INDEX)
    if index is None:
        index = {}
        issuer = None
        for entry in certificate_list["tbs_cert_list"]["revoked_certificates"]:
            # pyHanko's own test for an entry that changes the issuer, kept as it is
            if _CERTIFICATE_ISSUER in entry.dump() and entry.issuer_name:
                issuer = entry.issuer_name
            index.setdefault(entry["user_certificate"].dump(), []).append((entry, issuer))
        certificate_list.__dict__[_INDEX] = index
    return index


def find_cert_in_list(cert: Any, cert_issuer_name: x509.Name, certificate_list: crl.CertificateList,
                      crl_authority_name: x509.Name) -> tuple[Any, Any]:
    """pyHanko's `find_cert_in_list`, answered from the index: (revocation date, reason) of the
    first entry for this serial and issuer, or (None, None)."""
    if isinstance(cert, x509.Certificate):
        serial = cert["tbs_certificate"]["serial_number"].dump()
    else:
        serial = cert["ac_info"]["serial_number"].dump()
    for entry, issuer in _entries_by_serial(certificate_list).get(serial, ()):
        if (crl_authority_name if issuer is None else issuer) != cert_issuer_name:
            continue
        reason = entry.crl_reason_value if entry.crl_reason_value else crl.CRLReason("unspecified")
        if entry.critical_extensions - KNOWN_CRL_ENTRY_EXTENSIONS:
            raise NotImplementedError()  # as pyHanko: such an entry cannot be used
        return entry["revocation_date"].native, reason
    return None, None


def verify_crl_signature(certificate_list: crl.CertificateList, public_key: keys.PublicKeyInfo,
                         sig_validator: SignatureValidator) -> None:
    """pyHanko's `_verify_crl_signature`, once per parsed CRL and issuer key: raises as it does."""
    if type(sig_validator) is not DefaultSignatureValidator:  # a validator with a policy of its own
        _original_signature_check(certificate_list, public_key, sig_validator)
        return
    verified = certificate_list.__dict__.setdefault(_VERIFIED_BY, set())
    key = public_key.dump()
    if key not in verified:
        _original_signature_check(certificate_list, public_key, sig_validator)
        verified.add(key)


def install() -> None:
    """Idempotent; safe from any thread."""
    global _original, _original_signature_check
    with _lock:
        if _original is None:
            _original = validate_crl.find_cert_in_list
            _original_signature_check = validate_crl._verify_crl_signature
            validate_crl.find_cert_in_list = find_cert_in_list
            validate_crl._verify_crl_signature = verify_crl_signature
