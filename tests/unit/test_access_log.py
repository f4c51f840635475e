"""The access log: one line per call with its outcome, its duration and the CPU its thread
spent on it, so an operator can tell a call that waited from one that worked."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import grpc
import pytest

from nodes.interceptors import AccessLogInterceptor


class Details:
    method = "/tongban.v1.WindowService/GetCase"


class Context:
    def code(self) -> grpc.StatusCode | None:
        return None


def _logged_call(behavior: Any, caplog: pytest.LogCaptureFixture) -> tuple[float, float]:
    handler = AccessLogInterceptor().intercept_service(lambda _: grpc.unary_unary_rpc_method_handler(behavior), Details())
    with caplog.at_level(logging.INFO, logger="tongban.rpc"):
        handler.unary_unary(object(), Context())
    found = re.search(r"GetCase caller=- outcome=OK ([\d.]+)ms cpu=([\d.]+)ms", caplog.text)
    assert found, caplog.text
    return float(found[1]), float(found[2])


def test_a_call_that_waits_is_logged_with_its_time_but_little_cpu(caplog: pytest.LogCaptureFixture) -> None:
    took, cpu = _logged_call(lambda request, context: time.sleep(0.05), caplog)

    assert took >= 50 and cpu < took / 2


def test_a_call_that_works_is_logged_with_the_cpu_it_spent(caplog: pytest.LogCaptureFixture) -> None:
    def busy(request: Any, context: Any) -> None:
        until = time.thread_time() + 0.02
        while time.thread_time() < until:
            pass

    took, cpu = _logged_call(busy, caplog)

    assert cpu >= 20 and took >= 19.9  # the duration is logged to 0.1 ms
