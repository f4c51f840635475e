"""Server interceptors, one per concern: who is calling, what their errors mean, what is logged."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
from eventsourcing.persistence import IntegrityError

from exchange import errors
from signing.errors import SigningError
from signing.identity import CertIdentity, identity_from_certificate

log = logging.getLogger("tongban.rpc")

caller: contextvars.ContextVar[CertIdentity] = contextvars.ContextVar("tongban_caller")

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
        context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            f"the message claims to come from {claimed or '(nobody)'} but the caller's "
            f"certificate is for province {province}",
        )
    return province


def peer_actor(node: str, sender: str) -> dict[str, str]:
    """Who records a step that a partner node's message caused."""
    return {"node": node, "department": "", "operator": f"peer:{sender}"}


def _wrap(handler: grpc.RpcMethodHandler | None, wrap: Callable[[Behavior], Behavior]) -> grpc.RpcMethodHandler | None:
    if handler is None:
        return None
    for kind, factory in (
        ("unary_unary", grpc.unary_unary_rpc_method_handler),
        ("unary_stream", grpc.unary_stream_rpc_method_handler),
        ("stream_unary", grpc.stream_unary_rpc_method_handler),
        ("stream_stream", grpc.stream_stream_rpc_method_handler),
    ):
        behavior = getattr(handler, kind)
        if behavior is not None:
            return factory(
                wrap(behavior),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler


def _service_of(method: str) -> str:
    return method.lstrip("/").split("/", 1)[0]


class CallerIdentityInterceptor(grpc.ServerInterceptor):
    """Derive the caller's province and role from its client certificate and refuse callers
    whose role does not fit the service."""

    def __init__(self, *, province: str) -> None:
        self.province = province

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        required = SERVICE_ROLES.get(_service_of(handler_call_details.method))
        if required is None:
            return handler

        def wrap(behavior: Behavior) -> Behavior:
            def checked(request: Any, context: grpc.ServicerContext) -> Any:
                identity = self._identify(context)
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
                token = caller.set(identity)
                try:
                    return behavior(request, context)
                finally:
                    caller.reset(token)

            return checked

        return _wrap(handler, wrap)

    def _identify(self, context: grpc.ServicerContext) -> CertIdentity:
        certs = context.auth_context().get("x509_pem_cert") or []
        if not certs:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "no client certificate: connect with mutual TLS using a federation certificate",
            )
        try:
            return identity_from_certificate(certs[0])
        except SigningError as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"unusable client certificate: {exc}")
        raise AssertionError("unreachable")


_CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (errors.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.MaterialIntegrityError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PrintRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PeerRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NotAuthorised, grpc.StatusCode.PERMISSION_DENIED),
    (errors.PeerUnavailable, grpc.StatusCode.UNAVAILABLE),
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

        def wrap(behavior: Behavior) -> Behavior:
            def mapped(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    return behavior(request, context)
                except IntegrityError:
                    context.abort(
                        grpc.StatusCode.ABORTED,
                        "the case changed while this request was applied; nothing was saved, try again",
                    )
                except errors.TongbanError as exc:
                    code = status_for(exc) or grpc.StatusCode.FAILED_PRECONDITION
                    context.abort(code, str(exc))
                except Exception:
                    if context.code() is not None:  # already aborted deliberately
                        raise
                    ref = uuid.uuid4().hex[:12]
                    log.exception("internal error in %s (ref %s)", method, ref)
                    context.abort(grpc.StatusCode.INTERNAL, f"internal error; the node's log has reference {ref}")

            return mapped

        return _wrap(handler, wrap)


class AccessLogInterceptor(grpc.ServerInterceptor):
    """One line per call: method, caller, outcome, duration. Never request contents."""

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        method = handler_call_details.method

        def wrap(behavior: Behavior) -> Behavior:
            def logged(request: Any, context: grpc.ServicerContext) -> Any:
                started = time.perf_counter()
                outcome = "OK"
                try:
                    return behavior(request, context)
                except BaseException:
                    outcome = str(context.code() or "ERROR")
                    raise
                finally:
                    who = caller.get(None)
                    log.info(
                        "%s caller=%s outcome=%s %.1fms", method,
                        f"{who.province_code}/{who.role}/{who.common_name}" if who else "-",
                        outcome, (time.perf_counter() - started) * 1000,
                    )

            return logged

        return _wrap(handler, wrap)
