"""Validated certificate paths, remembered while nothing that decided them can have changed.

Every seal and every verification validates the same few chains: a department's seal and the
province's TSA under the province CA under the federation root, each with the province's and
the root's CRL. pyhanko-certvalidator checks each chain from scratch (two certificate
signatures, two CRL signatures, two CRL lookups, policy processing): about a quarter of a
node's seal and a third of its verification (docs/performance-history.md).

What decides whether a chain passes is: the chain's certificates, the trust roots, the CAs and
CRLs the context was given, the context's policy, and the time. `install()` puts a memo in
front of pyhanko-certvalidator's `async_validate_path` that answers a chain from an earlier
pass only when all of that is the same:

- only for contexts built by signing.validation (`mark`), which all apply one policy
  (STRICT_REVOCATION, no fetching, the default algorithm policy and time tolerance) and carry
  the exact bytes of their roots, CAs and CRLs; the memo's key is those bytes and the DER of
  every certificate of the chain, trust anchor included. A new CRL is a new key: the first
  verification after a revocation validates afresh. A context whose CRLs or settings are no
  longer the very objects it was built with (pyHanko evicted or added one, say) is not
  answered from the memo;
- only at a validation time and a signature time inside the window in which every certificate
  of the chain is within its validity and every CRL of the context is current (thisUpdate ≤ t
  < nextUpdate): narrower than pyHanko's own checks, which allow a second's tolerance;
- only chains that passed, only if every CRL of the context was found signed by a certificate
  of the chain itself (so no other certificate's validity or revocation took part), and only if
  no certificate of the chain has its serial number listed on any CRL of the context (whatever
  the revocation date or issuer: such a chain is always checked in full);
- one memo per thread, as signing.validation keeps its parsed objects.

A failed chain is never remembered, so every refusal is pyHanko's own. A hit sets on the path
what a pass sets (its qualified policies) and returns what a pass returns (its last
certificate). Chains validated for a CRL's issuer or an OCSP responder inside pyHanko do not go
through this function and are not remembered; neither are past-time validations
(pyhanko_certvalidator.ltv), which import the function themselves.

Installed by the node's wiring (main process and signing workers), not on import, so that
benchmarks of bare pyHanko in the same process stay bare."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyhanko_certvalidator
from asn1crypto import x509
from pyhanko_certvalidator.authority import AuthorityWithCert, TrustQualifiers

_MARK = "_tongban_path_memo_mark"  # kept on a context built by signing.validation
_SERIALS = "_tongban_listed_serials"  # (building thread, serials), kept on a parsed CRL
# Chains per thread: a window verifies the seals of every department of every province (a few
# hundred chains), each under the CRL versions in force.
_SIZE = 1024

_UNQUALIFIED = TrustQualifiers()

_original: Any = None
_lock = threading.Lock()
_local = threading.local()


@dataclass(frozen=True)
class _Mark:
    inputs: tuple[Any, ...]  # the bytes of the roots, CAs and CRLs it was built from
    crls: tuple[Any, ...]  # the parsed CRLs it holds, compared by identity at each use
    settings: tuple[Any, ...]  # its policy objects, compared by identity at each use


@dataclass(frozen=True)
class _Pass:
    valid_from: datetime
    valid_until: datetime
    qualified_policies: Any  # a frozenset, as pyHanko set it on the path it passed


def _settings(context: Any) -> tuple[Any, ...]:
    return (context.revinfo_policy, context.algorithm_policy, context.sig_validator, context.timing_params,
            context.acceptable_ac_targets, context.certificate_registry, context.revinfo_manager)


def mark(context: Any, *, inputs: tuple[bytes, tuple[bytes, ...], tuple[bytes, ...]]) -> Any:
    """Tag a context just built by signing.validation with the bytes of its roots, CAs and CRLs."""
    setattr(context, _MARK, _Mark(inputs=inputs, crls=tuple(context.crls), settings=_settings(context)))
    return context


def _memo() -> OrderedDict[tuple[Any, ...], _Pass]:
    memo = getattr(_local, "memo", None)
    if memo is None:
        memo = _local.memo = OrderedDict()
    return memo


def _same_objects(these: tuple[Any, ...], those: Any) -> bool:
    those = tuple(those)
    return len(these) == len(those) and all(a is b for a, b in zip(these, those))


def _key(context: Any, path: Any) -> tuple[Any, ...] | None:
    marked = context.__dict__.get(_MARK)
    if marked is None or not _same_objects(marked.crls, context.crls) \
            or not _same_objects(marked.settings, _settings(context)):
        return None
    anchor = path.trust_anchor.authority
    if not isinstance(anchor, AuthorityWithCert) or path.pkix_len < 1 or not isinstance(path.leaf, x509.Certificate):
        return None
    if path.trust_anchor.trust_qualifiers != _UNQUALIFIED:  # the federation's root has none
        return None
    chain = tuple(cert.dump() for cert in path.iter_certs(include_root=True))
    return (marked.inputs, chain, context.time_tolerance)


def _listed_serials(certificate_list: Any) -> frozenset[int] | None:
    """The serial numbers a parsed CRL lists, read once per CRL in the thread that parsed it
    (see signing.validation); None for a CRL another thread built the set of."""
    thread = threading.get_ident()
    kept = certificate_list.__dict__.get(_SERIALS)
    if kept is None:
        serials = frozenset(entry["user_certificate"].native
                            for entry in certificate_list["tbs_cert_list"]["revoked_certificates"])
        kept = certificate_list.__dict__.setdefault(_SERIALS, (thread, serials))
    owner, serials = kept
    return serials if owner == thread else None


def _window(context: Any, path: Any) -> tuple[datetime, datetime] | None:
    """When the chain's certificates and the context's CRLs are all in force; None if a
    certificate of the chain is listed on any CRL, a CRL has no next update or was not found
    signed by a certificate of the chain, or anything cannot be read (then pyHanko answers
    every time)."""
    try:
        certs = list(path.iter_certs(include_root=True))
        chain = {cert.dump() for cert in certs}
        starts = [c["tbs_certificate"]["validity"]["not_before"].native for c in certs]
        ends = [c["tbs_certificate"]["validity"]["not_after"].native for c in certs]
        serials = {c["tbs_certificate"]["serial_number"].native for c in certs}
        for certificate_list in context.crls:
            issuer = context.revinfo_manager.check_crl_issuer(certificate_list)
            listed = _listed_serials(certificate_list)
            tbs = certificate_list["tbs_cert_list"]
            next_update = tbs["next_update"].native
            if issuer is None or issuer.dump() not in chain or listed is None or serials & listed \
                    or next_update is None:
                return None
            starts.append(tbs["this_update"].native)
            ends.append(next_update)
        return max(starts), min(ends)
    except Exception:  # noqa: BLE001 - not remembering is always safe
        return None


async def validate_path(validation_context: Any, path: Any, parameters: Any = None) -> Any:
    """pyhanko_certvalidator's `async_validate_path`, answered from an earlier pass when it may be."""
    key = None if parameters is not None else _key(validation_context, path)
    if key is None:
        return await _original(validation_context, path, parameters)
    memo = _memo()
    moment, signed = validation_context.moment, validation_context.best_signature_time
    known = memo.get(key)
    if known is not None and known.valid_from <= moment < known.valid_until \
            and known.valid_from <= signed < known.valid_until:
        memo.move_to_end(key)
        path._set_qualified_policies(known.qualified_policies)
        return path.last
    result = await _original(validation_context, path, parameters)
    window = _window(validation_context, path)
    if window is not None and window[0] <= moment < window[1] and window[0] <= signed < window[1]:
        memo[key] = _Pass(valid_from=window[0], valid_until=window[1],
                          qualified_policies=path.qualified_policies())
        while len(memo) > _SIZE:
            memo.popitem(last=False)
    return result


def install() -> None:
    """Idempotent; safe from any thread."""
    global _original
    with _lock:
        if _original is None:
            _original = pyhanko_certvalidator.async_validate_path
            pyhanko_certvalidator.async_validate_path = validate_path


def uninstall() -> None:
    """pyHanko's own validation of every chain again (benchmarks measure both; tests restore)."""
    global _original
    with _lock:
        if _original is not None:
            pyhanko_certvalidator.async_validate_path = _original
            _original = None
