"""Revocation lookups by serial number, for pyhanko-certvalidator.

pyhanko-certvalidator looks a certificate up in a CRL by walking the CRL's entries
(`find_cert_in_list`), once per certificate of a chain and CRL: about seven walks per
verification and as many per seal. The federation's CRLs start empty, but a province CA's CRL
grows with every seal re-issued and every operator certificate revoked: at 5 000 entries a node
seal took 46–47 ms and a verification 44–46 ms, against 6–7 and 9–11 ms with an empty CRL
(`bench/bench_crl.py`; `tests/unit/test_crl_lookup.py` holds the lookup to pyHanko's answers).

`install()` puts in front of it a lookup that indexes a parsed CRL's entries by serial number
once and keeps the index on that CRL object; the validation contexts reuse the trust
material's parsed CRLs (signing.validation), so each thread indexes each CRL once. Each entry
is kept with its position and the issuer in effect for it, found the way pyHanko's walk finds
it (an entry's certificate-issuer extension names the issuer of that entry and the entries
after it, in an indirect CRL). So the lookup stops at the entry pyHanko's walk would stop at:
the same revocation date, the same reason, and the same refusal (NotImplementedError) of an
entry with an unknown critical extension. One difference: the index reads every entry first,
so an entry that cannot be read fails every lookup in that CRL, where the walk fails only the
lookups that reach it. Either way nothing passes.

The CRL's own signature is checked once per validation context, which is new per verification:
pyHanko re-encodes the whole to-be-signed list to check it, which walks every entry (2.5 ms per
verification at 5 000 entries). A signature that verified under an issuer key is noted on the
parsed CRL and not checked again for that key; one that fails is checked, and refused, every
time.

Both notes rest on what the trust material's parsed CRLs are: parsed from bytes read from disk
and then only read, by pyHanko and by tongban, never changed in place (asn1crypto would allow
it; nothing here does), and used by the one thread that parsed them (signing.validation keeps
one cache per thread because asn1crypto parses lazily and a second thread could see half a
list). The index is only used by the thread that built it and only when it holds as many
entries as the CRL; any other lookup is pyHanko's own walk.

Installed by the node's wiring (main process and signing workers), not on import, so that
benchmarks of bare pyHanko in the same process stay bare."""

from __future__ import annotations

import threading
from typing import Any

from asn1crypto import crl, keys, x509
from pyhanko_certvalidator.revinfo import validate_crl
from pyhanko_certvalidator.revinfo.constants import KNOWN_CRL_ENTRY_EXTENSIONS
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator, SignatureValidator

_CERTIFICATE_ISSUER = crl.CRLEntryExtensionId("certificate_issuer").dump()
_INDEX = "_tongban_entries_by_serial"  # (building thread, index), kept on the parsed CRL
_VERIFIED_BY = "_tongban_signature_verified_by"  # issuer keys (DER) its signature verified under

_original: Any = None
_original_signature_check: Any = None
_lock = threading.Lock()

Index = dict[bytes, list[tuple[Any, Any]]]


def _entries_by_serial(certificate_list: crl.CertificateList) -> Index | None:
    """serial (DER) -> [(entry, issuer in effect or None for the CRL's own authority)], in
    order; None where pyHanko's walk must answer instead (another thread's CRL)."""
    thread = threading.get_ident()
    kept = certificate_list.__dict__.get(_INDEX)
    if kept is None:
        revoked = certificate_list["tbs_cert_list"]["revoked_certificates"]
        index: Index = {}
        issuer = None
        count = 0
        for entry in revoked:
            # pyHanko's own test for an entry that changes the issuer, kept as it is
            if _CERTIFICATE_ISSUER in entry.dump() and entry.issuer_name:
                issuer = entry.issuer_name
            index.setdefault(entry["user_certificate"].dump(), []).append((entry, issuer))
            count += 1
        if count != len(revoked):  # read while another thread was parsing it: not to be trusted
            return None
        kept = certificate_list.__dict__.setdefault(_INDEX, (thread, index))
    owner, index = kept
    return index if owner == thread else None


def find_cert_in_list(cert: Any, cert_issuer_name: x509.Name, certificate_list: crl.CertificateList,
                      crl_authority_name: x509.Name) -> tuple[Any, Any]:
    """pyHanko's `find_cert_in_list`, answered from the index: (revocation date, reason) of the
    first entry for this serial and issuer, or (None, None)."""
    index = _entries_by_serial(certificate_list)
    if index is None:
        return _original(cert, cert_issuer_name, certificate_list, crl_authority_name)
    if isinstance(cert, x509.Certificate):
        serial = cert["tbs_certificate"]["serial_number"].dump()
    else:
        serial = cert["ac_info"]["serial_number"].dump()
    for entry, issuer in index.get(serial, ()):
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


def uninstall() -> None:
    """pyHanko's own lookups again (benchmarks measure both in one process; tests restore)."""
    global _original, _original_signature_check
    with _lock:
        if _original is not None:
            validate_crl.find_cert_in_list = _original
            validate_crl._verify_crl_signature = _original_signature_check
            _original = _original_signature_check = None
