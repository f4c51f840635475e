"""Server interceptors, one per concern: who is calling, whether a refusal is recorded, how
often a caller may call, deadlines, what errors mean, what is logged, whether fields are
well-formed. The order is set in nodes/server.py (outermost first)."""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from eventsourcing.persistence import IntegrityError

from exchange import errors
from exchange.errors import InvalidRequest
from nodes.refusals import Refusal, RefusalLog
from nodes.request_rules import check_request
from signing.errors import SigningError
from signing.identity import CertIdentity, identity_from_certificate, load_certificate
from signing.pki import Federation

log = logging.getLogger("tongban.rpc")

caller: contextvars.ContextVar[CertIdentity] = contextvars.ContextVar("tongban_caller")
# The client certificate CallerIdentityInterceptor verified for the current call (and who it speaks
# for), so that the refusal record names a province only for a caller that province's CA vouches
# for. RefusalRecordingInterceptor clears it at the start of each call.
_verified: contextvars.ContextVar[tuple[bytes, CertIdentity] | None] = contextvars.ContextVar(
    "tongban_verified_certificate", default=None)

# Which role each service serves; health checking and reflection are open to any
# certificate of the federation (mutual TLS has already checked that).
SERVICE_ROLES = {
    "tongban.v1.PeerService": "node",
    "tongban.v1.WindowService": "window",
    "tongban.v1.DepartmentService": "officer",
    "tongban.v1.AuditService": "auditor",
    "tongban.v1.DirectoryService": "node",
    "tongban.v1.WitnessService": "node",
    "tongban.v1.CoordinationService": "node",
}
# Operators act only at their own province's node; nodes are partners from elsewhere.
OWN_PROVINCE_ROLES = {"window", "officer", "auditor"}

Behavior = Callable[[Any, grpc.ServicerContext], Any]


def sending_province(claimed: str, context: grpc.ServicerContext) -> str:
    """The calling node's province, from its certificate; a message claiming another is refused."""
    province = caller.get().province_code
    if claimed != province:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, _claim_refused(claimed, province))
    return province


def _claim_refused(claimed: str, province: str) -> str:
    shown = repr(claimed[:12]) if claimed else "(nobody)"
    return f"the message claims to come from {shown} but the caller's certificate is for province {province}"


def peer_actor(node: str, sender: str) -> dict[str, str]:
    """Who records a step that a partner node's message caused."""
    return {"node": node, "department": "", "operator": f"peer:{sender}"}


class _Undecodable:
    """What a request that is not a valid protobuf message deserialises to; refused as such."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


class _Sized(NamedTuple):
    """A streamed request message and the size of its encoding, until it is validated: reading a
    bytes field copies it, and a field within its limit in a request no larger need not be read."""

    message: Any
    size: int


Guard = Callable[[Any, grpc.ServicerContext], AbstractContextManager[None]]
_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler, False),
    ("unary_stream", grpc.unary_stream_rpc_method_handler, True),
    ("stream_unary", grpc.stream_unary_rpc_method_handler, False),
    ("stream_stream", grpc.stream_stream_rpc_method_handler, True),
)


def _rebuild(handler: grpc.RpcMethodHandler, factory: Any, behavior: Behavior,
             deserializer: Any = None) -> grpc.RpcMethodHandler:
    return factory(behavior, request_deserializer=deserializer or handler.request_deserializer,
                   response_serializer=handler.response_serializer)


def _guarded(handler: grpc.RpcMethodHandler | None, guard: Guard) -> grpc.RpcMethodHandler | None:
    """Run the handler inside `guard(request, context)`; for a streaming reply the guard stays
    open while the reply is produced, so it sees errors raised half-way through."""
    if handler is None:
        return None
    for kind, factory, streams_out in _KINDS:
        behavior = getattr(handler, kind)
        if behavior is None:
            continue
        if streams_out:
            def wrapped(request: Any, context: grpc.ServicerContext, behavior: Behavior = behavior) -> Any:
                with guard(request, context):
                    yield from behavior(request, context)
        else:
            def wrapped(request: Any, context: grpc.ServicerContext, behavior: Behavior = behavior) -> Any:
                with guard(request, context):
                    return behavior(request, context)
        return _rebuild(handler, factory, wrapped)
    return handler


def _service_of(method: str) -> str:
    return method.lstrip("/").split("/", 1)[0]


def _client_certificate(context: grpc.ServicerContext) -> bytes | None:
    certs = context.auth_context().get("x509_pem_cert") or []
    return certs[0] if certs else None


class CallerIdentityInterceptor(grpc.ServerInterceptor):
    """Derive the caller's province and role from its client certificate and refuse callers
    whose role does not fit the service. No usable certificate is UNAUTHENTICATED; a known
    caller without the right is PERMISSION_DENIED."""

    def __init__(self, *, province: str, federation: Federation | None = None) -> None:
        self.province = province
        self.certificates = ClientCertificates(federation)

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        service = _service_of(handler_call_details.method)
        required = SERVICE_ROLES.get(service)
        if required is None and not service.startswith("tongban."):
            return handler  # health checking and reflection: mutual TLS has already checked the caller
        if required is None:  # fail closed: a tongban service nobody gave a role is open to no one
            required = "(none)"

        @contextmanager
        def checked(request: Any, context: grpc.ServicerContext) -> Iterator[None]:
            identity = self._identify(context)
            if required == "(none)":
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              f"no role may call {service} at this node (it has no entry in SERVICE_ROLES)")
            if identity.role != required:
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"this service is for role {required!r}; your certificate "
                    f"({identity.common_name}) has role {identity.role!r}",
                )
            if required in OWN_PROVINCE_ROLES and identity.province_code != self.province:
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"operators of province {identity.province_code} cannot act at the node "
                    f"of {self.province}; use your own province's node",
                )
            if required == "node" and identity.province_code == self.province:
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    "a node does not call its own peer service",
                )
            # A node's message saying which province sent it is checked before anything else
            # in it (streams: the servicer checks the header with sending_province).
            claimed = getattr(request, "from_province", None)
            if required == "node" and isinstance(claimed, str) and claimed != identity.province_code:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, _claim_refused(claimed, identity.province_code))
            token = caller.set(identity)
            try:
                yield
            finally:
                caller.reset(token)

        return _guarded(self._rechecking_streams(handler), checked)

    def _rechecking_streams(self, handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
        """A stream outlives the check at its start: an upload, a push or a log read goes on
        only while the caller's certificate stays valid and unrevoked, looked at again before
        each message it sends and each reply it is given (the CRLs are re-read at most once a second)."""
        if handler is not None and handler.stream_unary is not None:
            behavior = handler.stream_unary

            def uploading(request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
                def messages() -> Iterator[Any]:
                    for message in request_iterator:
                        self._identify(context)
                        yield message
                return behavior(messages(), context)
            return _rebuild(handler, grpc.stream_unary_rpc_method_handler, uploading)
        if handler is not None and handler.unary_stream is not None:
            replies_of = handler.unary_stream

            def replying(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                for reply in replies_of(request, context):
                    self._identify(context)
                    yield reply
            return _rebuild(handler, grpc.unary_stream_rpc_method_handler, replying)
        return handler

    def _identify(self, context: grpc.ServicerContext) -> CertIdentity:
        cert = _client_certificate(context)
        if cert is None:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "no client certificate: connect with mutual TLS using a federation certificate",
            )
        try:
            identity = self.certificates.identify(cert)
        except SigningError as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"unusable client certificate: {exc}")
            raise AssertionError("unreachable") from None
        _verified.set((cert, identity))
        return identity


class ClientCertificates:
    """Who a client certificate speaks for, worked out once per certificate; whether it is
    within its validity period, and whether it or its CA is revoked, checked on every call (a
    connection outlives the handshake that checked the certificate), against CRLs re-read at
    most every `crl_refresh` seconds.

    A province CA speaks only for its own province: a certificate naming province X must be
    signed by X's CA (mutual TLS only proved it chains to the federation root, so a rogue or
    careless province CA could otherwise issue certificates for its neighbours).

    A CRL that cannot be read refuses the certificates it would vouch for (fail closed): an
    absent list is not an empty one. A CRL past its next update is still used, with a warning.
    Nodes use the same checks for the servers they call (nodes.tls)."""

    MAX_KNOWN = 4096

    def __init__(self, federation: Federation | None, *, crl_refresh: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.federation = federation
        self.crl_refresh = crl_refresh
        self.clock = clock
        self.now = now or (lambda: utc_now())
        # cert -> identity, serial, not valid before, not valid after
        self._known: dict[bytes, tuple[CertIdentity, int, dt.datetime, dt.datetime]] = {}
        self._crls: dict[str | None, tuple[float, bytes, frozenset[int]]] = {}  # issuer -> read at, digest, serials
        self._stale_warned: set[bytes] = set()  # digests of CRLs already reported as past their next update
        self._cas: dict[str, tuple[int, dt.datetime, dt.datetime]] = {}  # province -> CA serial, validity
        self._lock = threading.Lock()

    def identify(self, cert: bytes) -> CertIdentity:
        known = self._known.get(cert)
        if known is None:
            identity = identity_from_certificate(cert)
            leaf = load_certificate(cert)
            if self.federation is not None:
                _check_signed_by_province_ca(leaf, identity=identity, federation=self.federation)
            known = (identity, leaf.serial_number, leaf.not_valid_before_utc, leaf.not_valid_after_utc)
            with self._lock:
                if len(self._known) >= self.MAX_KNOWN:
                    self._known.clear()
                self._known[cert] = known
        identity, serial, not_before, not_after = known
        _check_valid_now(f"certificate {identity.common_name!r}", not_before, not_after, self.now())
        if serial in self.revoked_serials(identity.province_code):
            raise SigningError(f"certificate {identity.common_name!r} has been revoked by the CA of "
                               f"{identity.province_code}; ask for a new one")
        ca = self._ca(identity.province_code)
        if ca is not None:
            _check_valid_now(f"the CA of province {identity.province_code}", ca[1], ca[2], self.now())
            if ca[0] in self.revoked_serials(None):
                raise SigningError(f"the CA of province {identity.province_code} has been revoked by the federation "
                                   "root; none of its certificates is accepted")
        return identity

    def _ca(self, province: str) -> tuple[int, dt.datetime, dt.datetime] | None:
        if self.federation is None:
            return None
        if province not in self._cas:
            ca = load_certificate(self.federation.province_ca_pem(province))
            self._cas[province] = (ca.serial_number, ca.not_valid_before_utc, ca.not_valid_after_utc)
        return self._cas[province]

    def revoked_serials(self, province: str | None) -> frozenset[int]:
        """Serials on a province CA's CRL, or on the root's for None. A CRL that cannot be read
        is a SigningError (the caller is refused), never an empty list."""
        if self.federation is None:
            return frozenset()
        now = self.clock()
        cached = self._crls.get(province)
        if cached is not None and now - cached[0] < self.crl_refresh:
            return cached[2]
        whose = "the federation root" if province is None else f"province {province}"
        try:
            pem = self.federation.crl_pem(province)
        except (OSError, KeyError, SigningError) as exc:
            raise SigningError(
                f"the CRL of {whose} cannot be read ({exc}), so no certificate it would vouch for is "
                "accepted; restore its crl.pem (the directory exchange or `tongban pki`)") from None
        digest = hashlib.sha256(pem).digest()
        if cached is not None and cached[1] == digest:
            serials = cached[2]
        else:
            from cryptography import x509

            try:
                crl = x509.load_pem_x509_crl(pem)
                serials = frozenset(r.serial_number for r in crl)
            except ValueError as exc:
                raise SigningError(
                    f"the CRL of {whose} cannot be read (not a PEM CRL: {exc}), so no certificate it would "
                    "vouch for is accepted; restore its crl.pem (the directory exchange or `tongban pki`)") from None
            next_update = crl.next_update_utc
            if next_update is not None and next_update < self.now() and digest not in self._stale_warned:
                self._stale_warned.add(digest)
                log.warning("the CRL of %s was due to be replaced at %s and has not been; it is still used, "
                            "but revocations since then are unknown here: fetch a newer one", whose,
                            next_update.isoformat(timespec="seconds"))
        with self._lock:
            self._crls[province] = (now, digest, serials)
        return serials


def utc_now() -> dt.datetime:
    """The time certificates and CRLs are checked against (one place, so tests can move it)."""
    return dt.datetime.now(dt.timezone.utc)


def _check_valid_now(what: str, not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime) -> None:
    if now < not_before:
        raise SigningError(f"{what} is not valid before {not_before:%Y-%m-%d %H:%M:%S} UTC "
                           "(or this node's clock is wrong)")
    if now > not_after:
        raise SigningError(f"{what} expired at {not_after:%Y-%m-%d %H:%M:%S} UTC; ask for a new one")


def _check_signed_by_province_ca(leaf: Any, *, identity: CertIdentity, federation: Federation) -> None:
    try:
        ca = load_certificate(federation.province_ca_pem(identity.province_code))
    except (OSError, KeyError, SigningError):
        raise SigningError(f"province {identity.province_code} has no CA in this federation") from None
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise SigningError(
            f"certificate {identity.common_name!r} names province {identity.province_code} but was not "
            f"issued by that province's CA; only a province's own CA may speak for it") from None


class RefusalRecordingInterceptor(grpc.ServerInterceptor):
    """Outermost: whichever layer refused a call for who the caller is, the refusal is recorded
    once, here, with the identity read from the certificate (never from the request)."""

    RECORDED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)

    def __init__(self, refusals: RefusalLog) -> None:
        self.refusals = refusals

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        method = handler_call_details.method

        @contextmanager
        def recording(request: Any, context: grpc.ServicerContext) -> Iterator[None]:
            verified = _verified.set(None)  # nothing verified yet for this call
            try:
                yield
            except BaseException:
                code = context.code()
                if code in self.RECORDED:
                    number = getattr(request, "case_number", "") if not isinstance(request, Iterator) else ""
                    self.refusals.record(Refusal.now(
                        method=method, code=code.name, reason=_text_of(context.details()),
                        case_number=number if isinstance(number, str) else "",
                        **who_called(context)))
                raise
            finally:
                _verified.reset(verified)

        return _guarded(handler, recording)


def _text_of(details: str | bytes | None) -> str:
    if isinstance(details, bytes):
        return details.decode("utf-8", "replace")
    return details or ""


def who_called(context: grpc.ServicerContext) -> dict[str, str]:
    """The caller, for the record; best effort. Province, role and operator only for a
    certificate CallerIdentityInterceptor verified on this call (signed by the CA of the province
    it names, valid, not revoked); any other is recorded by its subject and fingerprint alone, so
    a forged certificate neither blames the province it names nor spends that province's
    refusal allowance."""
    who = {"peer": context.peer() or ""}
    cert = _client_certificate(context)
    if cert is None:
        return who
    verified = _verified.get()
    if verified is not None and verified[0] == cert:
        identity = verified[1]
        return {**who, "province": identity.province_code, "role": identity.role,
                "operator": identity.operator_id or "", "common_name": identity.common_name,
                "fingerprint_sha256": identity.fingerprint_sha256}
    try:
        leaf = load_certificate(cert)
    except SigningError:
        return who
    return {**who, "common_name": leaf.subject.rfc4514_string()[:200],
            "fingerprint_sha256": leaf.fingerprint(hashes.SHA256()).hex()}


class RateLimitInterceptor(grpc.ServerInterceptor):
    """A token bucket per caller (province, role, operator): a call takes one token, whatever
    it streams, so a material stream counts once. An empty bucket is RESOURCE_EXHAUSTED with a
    retry-after hint; the first refusal of each run of them is recorded."""

    def __init__(self, *, rate: float, burst: int, refusals: RefusalLog | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.buckets = TokenBuckets(rate=rate, burst=burst, clock=clock)
        self.refusals = refusals

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if SERVICE_ROLES.get(_service_of(method)) is None or self.buckets.rate <= 0:
            return handler

        @contextmanager
        def limited(request: Any, context: grpc.ServicerContext) -> Iterator[None]:
            who = caller.get(None)
            key = (who.province_code, who.role, who.operator_id or who.common_name) if who else ("?", "?", "?")
            wait, first = self.buckets.take(key)
            if wait > 0:
                reason = (f"too many calls from {'/'.join(key)}: at most {self.buckets.rate:g} a second "
                          f"(bursts of {self.buckets.burst}); retry after {wait:.3f} s")
                context.set_trailing_metadata((("retry-after-ms", str(int(wait * 1000) + 1)),))
                if first and self.refusals is not None:
                    self.refusals.record(Refusal.now(method=method, code="RESOURCE_EXHAUSTED", reason=reason,
                                                     **who_called(context)))
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, reason)
            yield

        return _guarded(handler, limited)


class TokenBuckets:
    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, max(1, burst), clock
        self._state: dict[tuple[str, ...], tuple[float, float, bool]] = {}  # tokens, when, refusing
        self._lock = threading.Lock()

    def take(self, key: tuple[str, ...]) -> tuple[float, bool]:
        """(seconds to wait, 0 if granted; whether this is the first refusal of a run)."""
        with self._lock:
            now = self.clock()
            tokens, then, refusing = self._state.get(key, (float(self.burst), now, False))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now, False)
                return 0.0, False
            self._state[key] = (tokens, now, True)
            return (1.0 - tokens) / self.rate, not refusing


def partner_share(partner_calls: int) -> int:
    """Calls at once every partner node is granted, however busy the others are."""
    return max(1, partner_calls // 4)


class AdmissionInterceptor(grpc.ServerInterceptor):
    """Calls from clerks, officers and auditors take one of `active` turns; up to `queued` of
    them wait for one (until their deadline), more are RESOURCE_EXHAUSTED at once. Partner
    nodes' calls never wait for a turn.

    Why: a desk call that calls a partner (a submission forwarding, an approval delivering, a
    print asking for the issued digest) holds its thread until the partner answers, and the
    answer may need a thread here. With one shared pool, two busy nodes each wait for the
    other until the 30 s peer timeout: measured, 24 clerks and officers on two nodes of 8
    threads took 30 s per case. The server's pool is `active + queued + uploads + partner
    threads` (nodes/server.py), so a partner's call always finds one. Fewer desk calls running
    at once also contend less for the interpreter lock (docs/performance-history.md).

    A stream holds a turn only while it works, not while it waits on the other side: an upload
    (a request stream) while it handles a message it received and while it finishes, not while
    it waits for the next one; a reply stream (an auditor reading the node's log) while it
    makes the next reply, not while the client takes it in. A clerk scanning over a slow link,
    or an auditor's export on one, would otherwise keep a turn from everyone else for the whole
    transfer. Up to `uploads` streams run at once, each on a thread of its own; more are
    RESOURCE_EXHAUSTED at once.

    Partner nodes' calls are counted apart: up to `partner_calls` at once from one partner node
    and twice that from all of them, more are RESOURCE_EXHAUSTED at once (the partner's courier
    tries again); but each partner is always granted its first quarter of `partner_calls`
    (`partner_share`), so two busy partners cannot shut out a third. The server's pool keeps
    threads for all of these (nodes/server.py). Without a cap, a partner
    that opened a hundred material pushes and sent nothing held every thread of the node, and
    no clerk was answered."""

    def __init__(self, *, active: int, queued: int, uploads: int, partner_calls: int = 16) -> None:
        if active < 1 or queued < 0 or uploads < 1 or partner_calls < 1:
            raise ValueError("need at least one turn, one upload, one partner call and no negative queue "
                             f"(got {active}, {queued}, {uploads}, {partner_calls})")
        self.active, self.queued, self.uploads, self.partner_calls = active, queued, uploads, partner_calls
        self._turns = threading.BoundedSemaphore(active)
        self._stream_slots = threading.BoundedSemaphore(uploads)
        self._lock = threading.Lock()
        self._waiting = 0
        self._partners_open: dict[str, int] = {}

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        role = SERVICE_ROLES.get(_service_of(handler_call_details.method))
        if role is None:
            return handler
        if role == "node":
            return _guarded(handler, self._partner_call)
        if handler is not None and handler.stream_unary is not None:
            return _rebuild(handler, grpc.stream_unary_rpc_method_handler, self._upload(handler.stream_unary))
        if handler is not None and handler.unary_stream is not None:
            return _rebuild(handler, grpc.unary_stream_rpc_method_handler, self._replies(handler.unary_stream))
        return _guarded(handler, self._turn)

    def _upload(self, behavior: Behavior) -> Behavior:
        def wrapped(request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
            self._take_stream_slot(context)
            turns = _TurnsBetweenMessages(self._turns, context, late=(
                f"the upload's deadline passed while it waited for one of this node's {self.active} turns "
                "for clerks, officers and auditors; upload the material again"))
            try:
                return behavior(turns.around(request_iterator), context)
            finally:
                turns.give_back()
                self._stream_slots.release()
        return wrapped

    def _replies(self, behavior: Behavior) -> Behavior:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            self._take_stream_slot(context)
            try:
                self._admit(context)  # its first turn as any desk call's: queued, or refused when the queue is full
                turns = _TurnsBetweenMessages(self._turns, context, held=True, late=(
                    f"the reply stream's deadline passed while it waited for one of this node's {self.active} "
                    "turns for clerks, officers and auditors; ask again from the last entry received"))
                try:
                    yield from turns.between_replies(behavior(request, context))
                finally:
                    turns.give_back()
            finally:
                self._stream_slots.release()
        return wrapped

    @contextmanager
    def _partner_call(self, request: Any, context: grpc.ServicerContext) -> Iterator[None]:
        who = caller.get(None)
        province = who.province_code if who else "?"
        with self._lock:
            mine = self._partners_open.get(province, 0)
            admitted = mine < self.partner_calls and (
                mine < partner_share(self.partner_calls) or sum(self._partners_open.values()) < 2 * self.partner_calls)
            if admitted:
                self._partners_open[province] = mine + 1
        if not admitted:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"this node serves at most {self.partner_calls} calls at once from one partner node and "
                          f"{2 * self.partner_calls} from all (the node of {province} has {mine} open); "
                          "nothing was done, try again in a moment")
        try:
            yield
        finally:
            with self._lock:
                left = self._partners_open[province] - 1
                if left:
                    self._partners_open[province] = left
                else:
                    del self._partners_open[province]

    def _take_stream_slot(self, context: grpc.ServicerContext) -> None:
        if not self._stream_slots.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"this node has {self.uploads} streams open already (clerks' uploads, auditors' log "
                          "reads); try again in a moment")

    @contextmanager
    def _turn(self, request: Any, context: grpc.ServicerContext) -> Iterator[None]:
        self._admit(context)
        try:
            yield
        finally:
            self._turns.release()

    def _admit(self, context: grpc.ServicerContext) -> None:
        """A turn now, or a place in the queue until one is free; refused when the queue is full."""
        if self._turns.acquire(blocking=False):
            return
        with self._lock:
            full = self._waiting >= self.queued
            if not full:
                self._waiting += 1
        if full:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"this node is serving {self.active} calls from clerks, officers and auditors and "
                          f"{self.queued} more are waiting; try again in a moment")
        try:
            _wait_for_turn(self._turns, context, f"the call's deadline passed while it waited for one of this "
                           f"node's {self.active} turns for clerks, officers and auditors; nothing was done, try again")
        finally:
            with self._lock:
                self._waiting -= 1


class _TurnsBetweenMessages:
    """A stream's turn: held while it works on a message, given back while it waits on the
    other side. Waiting for a turn mid-stream is never refused for a full queue, which would
    throw away what was received or sent; only the deadline ends it (DEADLINE_EXCEEDED, `late`)."""

    def __init__(self, turns: threading.BoundedSemaphore, context: grpc.ServicerContext, *, late: str,
                 held: bool = False) -> None:
        self._turns, self._context, self._late = turns, context, late
        self._held = held

    def around(self, messages: Iterator[Any]) -> Iterator[Any]:
        """A request stream: the turn is taken when a message has arrived, and when the stream
        has ended (to finish), and given back before waiting for the next."""
        source = iter(messages)
        while True:
            self.give_back()
            try:
                message = next(source)
            except StopIteration:
                self._take()
                return
            self._take()
            yield message

    def between_replies(self, replies: Iterator[Any]) -> Iterator[Any]:
        """A reply stream: the turn is held while the next reply is made, and given back while
        gRPC sends it, which waits for the client to take it in."""
        source = iter(replies)
        try:
            while True:
                self._take()
                try:
                    reply = next(source)
                except StopIteration:
                    return
                self.give_back()
                yield reply
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a client that went away: the handler's own clean-up runs now, not at collection

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._turns.release()

    def _take(self) -> None:
        if not self._held:
            _wait_for_turn(self._turns, self._context, self._late)
            self._held = True


# How often a call waiting for a turn looks whether its client is still there.
_TURN_POLL_SECONDS = 0.25
# gRPC reports a call without a deadline as one with an enormous time remaining.
_NO_DEADLINE_SECONDS = 10 * 365 * 86400.0


def _wait_for_turn(turns: threading.BoundedSemaphore, context: grpc.ServicerContext, late: str) -> None:
    """A turn, waited for until the call's deadline (then DEADLINE_EXCEEDED saying `late`) or
    until its client goes away (then CANCELLED): a call nobody waits for any more neither keeps
    its place in the queue nor runs once a turn is free, as gRPC itself skips such a call."""
    remaining = context.time_remaining()
    deadline = None if remaining is None or remaining > _NO_DEADLINE_SECONDS else time.monotonic() + remaining
    while True:
        left = _TURN_POLL_SECONDS if deadline is None else min(_TURN_POLL_SECONDS, deadline - time.monotonic())
        if turns.acquire(timeout=max(0.0, left)):
            if context.is_active():
                return
            turns.release()
        if not context.is_active():
            context.abort(grpc.StatusCode.CANCELLED, "the client went away while the call waited for a turn")
        if deadline is not None and time.monotonic() >= deadline:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, late)


class CallsInFlight(grpc.ServerInterceptor):
    """Counts the calls whose handler is running, so that a stopping node closes its event store
    only after them: gRPC's stop returns once it has cancelled the calls, not once their
    handlers (a forwarding waiting for its partner, say) have ended."""

    def __init__(self) -> None:
        self._running = 0
        self._idle = threading.Condition()

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        return _guarded(continuation(handler_call_details), self._counted)

    @contextmanager
    def _counted(self, request: Any, context: grpc.ServicerContext) -> Iterator[None]:
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                if self._running == 0:
                    self._idle.notify_all()

    def wait_until_idle(self, *, timeout: float) -> int:
        """Wait for the running handlers to end, at most `timeout` seconds; returns how many still run."""
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0, timeout)
            return self._running


class DeadlineInterceptor(grpc.ServerInterceptor):
    """Node-to-node calls must carry a deadline: a partner that waits forever ties up a worker
    here forever. Operators' tools are people waiting at a screen; their calls are not refused."""

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        if SERVICE_ROLES.get(_service_of(handler_call_details.method)) != "node":
            return handler

        @contextmanager
        def bounded(request: Any, context: grpc.ServicerContext) -> Iterator[None]:
            remaining = context.time_remaining()
            if remaining is None or remaining > MAX_NODE_DEADLINE:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"deadline: calls between nodes must set a deadline of at most "
                              f"{MAX_NODE_DEADLINE:.0f} s (grpc timeout)")
            yield

        return _guarded(handler, bounded)


MAX_NODE_DEADLINE = 6 * 3600.0  # a 2 GiB material over a slow link, with room to spare


class ValidationInterceptor(grpc.ServerInterceptor):
    """Innermost: every field of every request message (streamed ones as they arrive) against
    nodes.request_rules; bytes that are not a message at all are refused the same way."""

    def __init__(self, *, provinces: Collection[str]) -> None:
        self.provinces = frozenset(provinces)

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        if handler is None or SERVICE_ROLES.get(_service_of(handler_call_details.method)) is None:
            return handler
        decode = handler.request_deserializer
        # A streamed request (a material's megabytes) carries the size it arrived in through the
        # interceptors outside this one, which only pass stream messages on; a unary request is
        # the message itself, since they read fields of it (from_province, case_number).
        sized = handler.request_streaming

        def tolerant(data: bytes) -> Any:
            try:
                message = decode(data)
            except Exception as exc:  # DecodeError, bad UTF-8: the caller's bytes, not our fault
                return _Undecodable(f"{type(exc).__name__}: {exc}"[:200])
            return _Sized(message, len(data)) if sized else message

        def checked(request: Any) -> Any:
            if isinstance(request, _Undecodable):
                raise InvalidRequest("request", f"not a valid message of this RPC ({request.problem})")
            message, size = (request.message, request.size) if isinstance(request, _Sized) else (request, None)
            check_request(message, provinces=self.provinces, encoded_size=size)
            return message

        for kind, factory, _ in _KINDS:
            behavior = getattr(handler, kind)
            if behavior is None:
                continue
            if kind.startswith("stream"):
                def wrapped(requests: Any, context: grpc.ServicerContext, behavior: Behavior = behavior) -> Any:
                    return behavior((checked(m) for m in requests), context)
            else:
                def wrapped(request: Any, context: grpc.ServicerContext, behavior: Behavior = behavior) -> Any:
                    return behavior(checked(request), context)
            return _rebuild(handler, factory, wrapped, deserializer=tolerant)
        return handler


_CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (errors.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.MaterialIntegrityError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PrintRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PeerRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NotAuthorised, grpc.StatusCode.PERMISSION_DENIED),
    (errors.PeerBusy, grpc.StatusCode.ABORTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
)


def status_for(exc: BaseException) -> grpc.StatusCode | None:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return None


class ErrorMappingInterceptor(grpc.ServerInterceptor):
    """Turn named domain errors into precise status codes; anything else is our fault and
    becomes INTERNAL with a reference the operator can find in the node's log."""

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        method = handler_call_details.method

        @contextmanager
        def mapped(request: Any, context: grpc.ServicerContext) -> Iterator[None]:
            try:
                yield
            except IntegrityError:
                context.abort(
                    grpc.StatusCode.ABORTED,
                    "the case changed while this request was applied; nothing was saved, try again",
                )
            except errors.TongbanError as exc:
                code = status_for(exc) or grpc.StatusCode.FAILED_PRECONDITION
                context.abort(code, str(exc))
            except Exception as exc:
                if context.code() is not None:  # already aborted deliberately
                    raise
                if isinstance(exc, grpc.RpcError) and not context.is_active():
                    # Reading the request stream failed because the caller went away (it
                    # cancelled, or its process died): nobody waits for an answer, and nothing
                    # here went wrong. What it had sent and was confirmed stays.
                    log.info("%s: the caller went away before its request was complete", method)
                    context.abort(grpc.StatusCode.CANCELLED, "the caller went away before its request was complete")
                ref = uuid.uuid4().hex[:12]
                log.exception("internal error in %s (ref %s)", method, ref)
                context.abort(grpc.StatusCode.INTERNAL, f"internal error; the node's log has reference {ref}")

        return _guarded(handler, mapped)


# The access log's line, and how to read it back (tongban bench reports each call's CPU from it).
ACCESS_LINE = "%s caller=%s outcome=%s %.1fms cpu=%.2fms"
_ACCESS_READ = re.compile(r"tongban\.rpc: /[\w.]+/(\w+) caller=\S+ outcome=(\S+) [\d.]+ms cpu=([\d.]+)ms$")


def handler_cpu_ms(lines: Iterable[str]) -> dict[str, list[float]]:
    """The CPU (ms, of the handler's thread) of every call that ended OK, by method name,
    read from a node's log lines; other lines are skipped."""
    found: dict[str, list[float]] = {}
    for line in lines:
        match = _ACCESS_READ.search(line.rstrip("\n"))
        if match is not None and match.group(2) == "OK":
            found.setdefault(match.group(1), []).append(float(match.group(3)))
    return found


class AccessLogInterceptor(grpc.ServerInterceptor):
    """One line per call: method, caller, outcome, duration. Never request contents."""

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        method = handler_call_details.method

        @contextmanager
        def logged(request: Any, context: grpc.ServicerContext) -> Iterator[None]:
            started = time.perf_counter()
            cpu_started = time.thread_time()
            outcome = "OK"
            try:
                yield
            except BaseException:
                outcome = str(context.code() or "ERROR")
                raise
            finally:
                who = caller.get(None)
                log.info(
                    ACCESS_LINE, method,
                    f"{who.province_code}/{who.role}/{who.common_name}" if who else "-",
                    outcome, (time.perf_counter() - started) * 1000, (time.thread_time() - cpu_started) * 1000,
                )

        return _guarded(handler, logged)
