"""tongban bench reports each call's handler CPU from the nodes' access logs: the lines the
access log writes are read back, only calls that ended OK and only those logged during the load."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from nodes.bench import call_cpu_cell, calls_during_load
from nodes.interceptors import ACCESS_LINE, handler_cpu_ms

NODE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # nodes.cli's logging format


def access_line(method: str, outcome: str, cpu_ms: float) -> str:
    record = logging.LogRecord("tongban.rpc", logging.INFO, __file__, 1, ACCESS_LINE,
                               (method, "340000/window/clerk-hefei-001", outcome, 12.3, cpu_ms), None)
    return logging.Formatter(NODE_FORMAT).format(record)


def test_the_access_logs_lines_are_read_back_by_method_counting_only_calls_that_ended_ok() -> None:
    lines = [
        access_line("/tongban.v1.WindowService/SubmitApplication", "OK", 7.25),
        access_line("/tongban.v1.WindowService/SubmitApplication", "OK", 8.5),
        access_line("/tongban.v1.WindowService/SubmitApplication", "StatusCode.INVALID_ARGUMENT", 0.4),
        access_line("/grpc.health.v1.Health/Check", "OK", 0.03),
        "2026-12-06 05:00:00,000 INFO tongban.node: node 340000 listening on port 1234",
        "Validation/revocation info will be embedded, but fetching is not allowed.",
    ]
    assert handler_cpu_ms(lines) == {"SubmitApplication": [7.25, 8.5], "Check": [0.03]}


def test_only_calls_logged_during_the_load_are_counted_and_replicas_of_a_province_together(tmp_path: Path) -> None:
    def node(name: str, province: str, before: list[str], during: list[str]) -> Any:
        path = tmp_path / f"{name}.log"
        path.write_text("".join(line + "\n" for line in before), encoding="utf-8")
        offset = path.stat().st_size
        with path.open("a", encoding="utf-8") as log:
            log.write("".join(line + "\n" for line in during))
        return SimpleNamespace(config=SimpleNamespace(province=province), log_path=path), offset

    warm_up = [access_line("/tongban.v1.DepartmentService/ApproveCase", "OK", 99.0)]
    window, w_at = node("window", "340000", warm_up, [access_line("/tongban.v1.WindowService/PrintResult", "OK", 3.5)])
    first, f_at = node("replica-1", "330000", warm_up, [access_line("/tongban.v1.DepartmentService/ApproveCase", "OK", 6.0)])
    second, s_at = node("replica-2", "330000", [], [access_line("/tongban.v1.DepartmentService/ApproveCase", "OK", 5.0)])
    topology = SimpleNamespace(nodes=[window, first, second])
    offsets = {window.log_path: w_at, first.log_path: f_at, second.log_path: s_at}
    assert calls_during_load(topology, offsets) == {  # type: ignore[arg-type]
        "window 340000": {"PrintResult": [3.5]},
        "competent 330000": {"ApproveCase": [6.0, 5.0]},
    }


def test_a_calls_row_gives_its_median_its_calls_per_case_and_its_cost_per_case() -> None:
    assert call_cpu_cell([1.0, 2.0, 9.0], cases=2) == "2.00 ×1.5 → 6.00"
    assert call_cpu_cell(None, cases=2) == "-"
    assert call_cpu_cell([4.0], cases=0) == "4.00 ×1.0 → 4.00"
