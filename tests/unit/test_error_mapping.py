"""What the error-mapping interceptor makes of what a handler raises: a caller that went away
mid-stream is CANCELLED and logged as such, anything unexplained is INTERNAL with a reference."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from exchange.errors import PeerBusy, PeerUnavailable
from nodes.interceptors import ErrorMappingInterceptor
from storage.errors import ObjectStoreUnavailable
from tests.fixtures.rpc import RpcRefusal


class Aborted(Exception):
    pass


class Context:
    def __init__(self, *, active: bool) -> None:
        self.active = active
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def code(self) -> grpc.StatusCode | None:
        return None

    def is_active(self) -> bool:
        return self.active

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise Aborted(details)


class Details:
    method = "/tongban.v1.PeerService/PushMaterial"


def _call(raised: BaseException, context: Context) -> None:
    def behavior(request: Any, ctx: Any) -> None:
        raise raised

    handler = ErrorMappingInterceptor().intercept_service(
        lambda _: grpc.unary_unary_rpc_method_handler(behavior), Details())
    with pytest.raises(Aborted):
        handler.unary_unary(object(), context)


def test_a_caller_gone_mid_stream_is_cancelled_not_an_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    context = Context(active=False)
    with caplog.at_level(logging.INFO, logger="tongban.rpc"):
        _call(RpcRefusal(grpc.StatusCode.CANCELLED, "the stream broke"), context)

    assert context.aborted is not None and context.aborted[0] == grpc.StatusCode.CANCELLED
    assert "went away" in caplog.text and "internal error" not in caplog.text


def test_a_broken_stream_while_the_caller_still_waits_is_an_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    context = Context(active=True)
    with caplog.at_level(logging.INFO, logger="tongban.rpc"):
        _call(RpcRefusal(grpc.StatusCode.UNAVAILABLE, "a partner call nobody mapped"), context)

    assert context.aborted is not None and context.aborted[0] == grpc.StatusCode.INTERNAL
    assert "reference" in context.aborted[1] and "internal error" in caplog.text


@pytest.mark.parametrize(("raised", "code"), [
    (ObjectStoreUnavailable("S3 endpoint http://minio:9000 bucket 'tongban': connection refused"),
     grpc.StatusCode.UNAVAILABLE),  # before: FAILED_PRECONDITION, which a sending node treats as final
    (PeerUnavailable("the node of 330000 is unreachable"), grpc.StatusCode.UNAVAILABLE),
    (PeerBusy("the node of 330000 could not forward the case just now"), grpc.StatusCode.ABORTED),
])
def test_what_can_be_retried_is_answered_so(raised: BaseException, code: grpc.StatusCode) -> None:
    context = Context(active=True)
    _call(raised, context)
    assert context.aborted == (code, str(raised))
