"""Distinguished-name comparison with a fast path for identical encodings.

asn1crypto compares two names as RFC 5280 §7.1 says: every attribute value is string-prepped
(case folded, spaces collapsed, Unicode normalised) at every comparison, nothing kept. pyHanko
compares names many times per seal and per verification (issuer-and-serial matches, the ESS
signing-certificate check, path building, CRL issuers); in a verification under load that was
about a sixth of its CPU. Two names with the same DER encoding are equal under any rule, so
`install()` answers those with one byte comparison and hands every other pair to asn1crypto's
own comparison: names that differ only in case or spacing still match, different names still
differ.

The same string preparation makes a name's `hashable` form, the key pyHanko's certificate
registry and revocation checks look names up by: 35 times per verification, 1.2 ms of its
9.5 ms. That form depends on the encoding alone, so it is kept per encoding (a bounded table;
the federation has a few dozen names) and each name is prepared once per process. Only names of
up to 1 KiB are kept: a document to verify brings certificates of its signer's choosing, and
4 096 names of a megabyte each would hold gigabytes.

Installed by the node's wiring (main process and signing workers), not on import, so that
benchmarks of bare pyHanko in the same process stay bare."""

from __future__ import annotations

import threading
from typing import Any

from asn1crypto import x509

_original: Any = None
_original_hashable: Any = None
_lock = threading.Lock()
_hashables: dict[bytes, str] = {}
_MAX_HASHABLES = 4096  # a federation's names fit many times over; a flood of strangers cannot grow it
_MAX_KEPT_NAME = 1024  # bytes of DER: the federation's names are a few hundred; a document may bring any


def _equal(self: x509.RDNSequence, other: Any) -> bool:
    if isinstance(other, x509.RDNSequence) and self.dump() == other.dump():
        return True
    return bool(_original(self, other))


def _hashable(self: x509.RDNSequence) -> str:
    der = self.dump()
    if len(der) > _MAX_KEPT_NAME:  # a stranger's certificate may carry any name: not kept
        return _original_hashable(self)
    known = _hashables.get(der)
    if known is None:
        known = _original_hashable(self)
        if len(_hashables) >= _MAX_HASHABLES:
            _hashables.clear()
        _hashables[der] = known
    return known


def install() -> None:
    """Idempotent; safe from any thread."""
    global _original, _original_hashable
    with _lock:
        if _original is None:
            _original = x509.RDNSequence.__eq__
            x509.RDNSequence.__eq__ = _equal  # type: ignore[method-assign,assignment]
            _original_hashable = x509.RDNSequence.hashable.fget
            x509.RDNSequence.hashable = property(_hashable)  # type: ignore[method-assign,assignment]
