"""A node's threads run under its cpu_policy; its signing workers under Linux's default."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from exchange.errors import TongbanError
from nodes.bench_parts import child_pids
from nodes.config import NodeConfig, to_toml
from nodes.cpu_policy import apply_cpu_policy, cpu_policy_of
from nodes.launch import loopback_configs, spawn_node, wait_serving
from signing.pki import Federation

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="thread policies are read from /proc")


def _policies(pid: int) -> set[str]:
    found = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            found.add(cpu_policy_of(int(tid)))
        except ProcessLookupError:
            pass  # a thread that ended meanwhile (the pool's warm-up threads end about now)
    return found


def _workers_of(pid: int) -> list[int]:
    # The pool's workers, not multiprocessing's resource tracker (which runs no calls).
    return [p for p in child_pids(pid) if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]


def _serving_node_with_a_worker(tmp_path: Path, federation: Federation, *, started_as: int = os.SCHED_OTHER,
                                **settings: str):  # type: ignore[no-untyped-def]
    config = replace(loopback_configs(tmp_path, ["330000"], pki_dir=federation.directory)["330000"],
                     signing_processes=1, **settings)
    # The node inherits the policy of the thread that starts it (this one, for a moment only).
    os.sched_setscheduler(0, started_as, os.sched_param(0))
    try:
        node = spawn_node(config)
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    wait_serving(node, federation)
    return node


def _settled_workers(node) -> list[int]:  # type: ignore[no-untyped-def]
    """The node's workers once each has started (a worker sets its policy first thing; until
    then it runs under the one it was spawned with)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = _workers_of(node.process.pid)
        if workers and all(_policies(w) == {"normal"} for w in workers):
            break
        time.sleep(0.1)
    return workers


@linux_only
def test_a_node_runs_its_threads_as_batch_and_its_signing_worker_as_normal(tmp_path, federation: Federation) -> None:  # type: ignore[no-untyped-def]
    node = _serving_node_with_a_worker(tmp_path, federation)
    try:
        assert _policies(node.process.pid) == {"batch"}  # gRPC's threads included, started after the setting
        workers = _settled_workers(node)
        assert workers and all(_policies(w) == {"normal"} for w in workers)
    finally:
        node.stop()


@linux_only
def test_a_node_set_to_normal_runs_every_thread_under_linuxs_default(tmp_path, federation: Federation) -> None:  # type: ignore[no-untyped-def]
    node = _serving_node_with_a_worker(tmp_path, federation, started_as=os.SCHED_BATCH, cpu_policy="normal")
    try:
        assert _policies(node.process.pid) == {"normal"}
        workers = _settled_workers(node)
        assert workers and all(_policies(w) == {"normal"} for w in workers)
    finally:
        node.stop()


def test_the_cpu_policy_comes_from_the_config_or_the_environment_and_defaults_to_batch(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('province = "330000"\n', encoding="utf-8")
    assert NodeConfig.load(path, env={}).cpu_policy == "batch"
    assert NodeConfig.load(path, env={"TONGBAN_CPU_POLICY": "normal"}).cpu_policy == "normal"
    path.write_text('province = "330000"\ncpu_policy = "normal"\n', encoding="utf-8")
    written = tmp_path / "written.toml"
    written.write_text(to_toml(NodeConfig.load(path, env={})), encoding="utf-8")
    assert NodeConfig.load(written, env={}).cpu_policy == "normal"  # what launch.spawn_node writes


def test_an_unknown_cpu_policy_is_refused_naming_the_file_and_the_choices(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('province = "330000"\ncpu_policy = "realtime"\n', encoding="utf-8")
    with pytest.raises(TongbanError, match=r"node\.toml.*cpu_policy \(or TONGBAN_CPU_POLICY\) must be one of 'batch', 'normal', got 'realtime'"):
        NodeConfig.load(path, env={})
    with pytest.raises(ValueError, match="cpu_policy must be one of"):
        apply_cpu_policy("fifo")


@linux_only
def test_a_node_started_under_a_policy_its_operator_chose_keeps_it(tmp_path, federation: Federation) -> None:  # type: ignore[no-untyped-def]
    node = _serving_node_with_a_worker(tmp_path, federation, started_as=os.SCHED_IDLE)
    try:
        assert _policies(node.process.pid) == {str(os.SCHED_IDLE)}
        workers = _workers_of(node.process.pid)
        assert workers and all(_policies(w) == {str(os.SCHED_IDLE)} for w in workers)
    finally:
        node.stop()


@linux_only
def test_a_refused_change_leaves_the_node_as_it_was_with_a_warning(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    def refused(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refused)  # as under SELinux, or SCHED_RESET_ON_FORK
    assert apply_cpu_policy("batch") is False
    assert "cpu_policy 'batch' not applied (Operation not permitted)" in caplog.text
    assert cpu_policy_of(0) == "normal"
