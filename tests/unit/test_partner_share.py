"""Partner nodes' calls at once: a cap per partner and for all, and a share every partner keeps."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import grpc
import pytest

from nodes.interceptors import AdmissionInterceptor, caller
from tests.fixtures.rpc import RpcRefusal


@dataclass(frozen=True)
class Partner:
    province_code: str


class Context:
    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise PermissionError(code, details)


def call_from(admission: AdmissionInterceptor, calls: ExitStack, province: str) -> None:
    caller.set(Partner(province))  # type: ignore[arg-type]
    calls.enter_context(admission._partner_call(None, Context()))


def test_two_busy_partners_cannot_shut_out_a_third() -> None:
    admission = AdmissionInterceptor(active=1, queued=0, uploads=1, partner_calls=4)
    with ExitStack() as calls:
        for province in ("320000", "330000"):
            for _ in range(4):
                call_from(admission, calls, province)
        with pytest.raises(PermissionError, match="at most 4 calls at once from one partner node"):
            call_from(admission, calls, "320000")
        call_from(admission, calls, "340000")  # before: refused, all 8 places taken by the two others
        with pytest.raises(PermissionError):
            call_from(admission, calls, "340000")  # beyond its share while the others fill the rest
    assert admission._partners_open == {}


def test_a_partner_at_its_cap_is_busy_for_the_courier_and_says_so_to_the_clerk() -> None:
    from exchange.errors import PeerBusy
    from nodes.console import zh
    from nodes.interceptors import status_for
    from nodes.joint import GrpcCoordinationGateway  # noqa: F401 (maps through the same function)
    from nodes.peers import partner_error

    error = partner_error("330000", "record withdrawn for case 340000-20261102-0000000A",
                          RpcRefusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "this node serves at most 16 calls"))
    assert isinstance(error, PeerBusy), "before (CoordinationService): PeerRefused, FAILED_PRECONDITION"
    code = status_for(error)
    assert code == grpc.StatusCode.ABORTED
    assert zh.problem_from_rpc(RpcRefusal(code, str(error))).message == "对方省份节点繁忙，本次未办理，请稍后重试。"
