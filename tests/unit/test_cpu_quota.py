"""CPU quotas for the bench's replicas (nodes/cpu_quota.py), against cgroup folders laid out as the
kernel lays them out, and `tongban bench --scale-out`'s scenarios and report line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from nodes.bench import (
    SCALE_OUT_CONCURRENCY, SCALE_OUT_CORES, BenchOptions, BenchResult, add_arguments, main, scale_out_lines,
    scenarios_from,
)
from nodes.cpu_quota import PARENT, PERIOD_US, CpuQuota, CpuQuotaUnavailable


def _v1(root: Path) -> Path:
    (root / "cpu").mkdir(parents=True)
    for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us", "cgroup.procs"):
        (root / "cpu" / name).write_text("")
    return root


def _v2(root: Path, *, controllers: str = "cpuset cpu io memory pids", enabled: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text(controllers)
    (root / "cgroup.subtree_control").write_text(enabled)
    (root / "cgroup.procs").write_text("")
    (root / PARENT).mkdir()  # the kernel gives every new group its files; a folder needs this one
    (root / PARENT / "cgroup.subtree_control").write_text("")
    return root


def test_a_v1_quota_is_a_share_of_each_period_in_a_group_under_tongban_bench(tmp_path: Path) -> None:
    quota = CpuQuota.create("replica-1", cores=0.15, root=_v1(tmp_path))
    assert quota.directory == tmp_path / "cpu" / PARENT / "replica-1"
    assert (quota.directory / "cpu.cfs_period_us").read_text() == str(PERIOD_US)
    assert (quota.directory / "cpu.cfs_quota_us").read_text() == str(15_000)


def test_a_v2_quota_is_a_leaf_under_a_parent_that_hands_it_the_cpu_controller(tmp_path: Path) -> None:
    root = _v2(tmp_path)
    quota = CpuQuota.create("replica-1", cores=1.5, root=root)
    assert (root / "cgroup.subtree_control").read_text() == "+cpu"
    assert (root / PARENT / "cgroup.subtree_control").read_text() == "+cpu"
    assert (quota.directory / "cpu.max").read_text() == f"150000 {PERIOD_US}"


def test_the_unified_hierarchy_of_a_hybrid_mount_is_used_when_it_has_the_cpu_controller(tmp_path: Path) -> None:
    _v2(tmp_path / "unified", enabled="cpu")
    quota = CpuQuota.create("replica-1", cores=0.5, root=tmp_path)
    assert quota.directory == tmp_path / "unified" / PARENT / "replica-1"


def test_no_cpu_controller_is_said_plainly(tmp_path: Path) -> None:
    _v2(tmp_path, controllers="memory pids")
    with pytest.raises(CpuQuotaUnavailable, match="no cgroup CPU controller"):
        CpuQuota.create("replica-1", cores=0.15, root=tmp_path)


def test_a_group_that_cannot_be_made_says_what_to_do(tmp_path: Path) -> None:
    root = _v1(tmp_path)
    (root / "cpu" / PARENT / "replica-1").mkdir(parents=True)  # as when a name is taken
    with pytest.raises(CpuQuotaUnavailable, match="the right to make cgroups"):
        CpuQuota.create("replica-1", cores=0.15, root=root)


def test_a_group_whose_quota_the_kernel_refuses_is_not_left_behind(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = _v1(tmp_path)
    real_write = Path.write_text

    def refusing(self: Path, data: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.parent.name == "replica-1":  # its first file: a real group is removed with its files
            raise OSError(22, "Invalid argument")  # as when the parent's own quota is smaller
        return real_write(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refusing)
    with pytest.raises(CpuQuotaUnavailable, match="Invalid argument"):
        CpuQuota.create("replica-1", cores=0.15, root=root)
    assert not (root / "cpu" / PARENT / "replica-1").exists()


@pytest.mark.parametrize("cores", [0, -1, 10_000])
def test_a_quota_of_no_cores_or_more_than_the_machine_has_is_refused(tmp_path: Path, cores: float) -> None:
    with pytest.raises(ValueError, match="CPU quota"):
        CpuQuota.create("replica-1", cores=cores, root=_v1(tmp_path))


def test_periods_are_read_from_cpu_stat_and_removal_hands_processes_to_the_root_group(tmp_path: Path) -> None:
    root = _v2(tmp_path)
    quota = CpuQuota.create("replica-1", cores=0.15, root=root)
    (quota.directory / "cpu.stat").write_text("usage_usec 5\nnr_periods 200\nnr_throttled 150\nthrottled_usec 9\n")
    assert quota.periods() == (200, 150)
    (quota.directory / "cgroup.procs").write_text("4242\n")
    quota.remove()  # the kernel would delete the emptied groups; plain folders with files stay, quietly
    assert (root / "cgroup.procs").read_text() == "4242"


def test_scale_out_runs_one_then_two_replicas_on_s3_under_the_same_quota() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    one, two = scenarios_from(parser.parse_args(["--scale-out"]))
    assert (one.replicas, two.replicas) == (1, 2)
    assert one.object_store == two.object_store == "s3"
    assert one.replica_cores == two.replica_cores == SCALE_OUT_CORES
    assert one.concurrency == SCALE_OUT_CONCURRENCY
    assert scenarios_from(parser.parse_args(["--replicas", "1"]))[0].concurrency == BenchOptions.concurrency
    capped = scenarios_from(parser.parse_args(["--scale-out", "--replica-cores", "0.3", "--concurrency", "4"]))
    assert [(o.replica_cores, o.concurrency) for o in capped] == [(0.3, 4), (0.3, 4)]
    assert scenarios_from(parser.parse_args(["--scale-out", "--replica-cores", "0"]))[0].replica_cores == 0


@pytest.mark.parametrize("extra", [["--replicas", "1"], ["--object-store", "local"]])
def test_scale_out_refuses_what_cannot_show_it(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(["--scale-out", *extra])) == 2
    assert "--scale-out" in capsys.readouterr().err


def test_a_quota_of_no_cores_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(["--scale-out", "--replica-cores", "0"])) == 2
    assert "--replica-cores" in capsys.readouterr().err


def _result(replicas: int, completed: int) -> BenchResult:
    options = BenchOptions(replicas=replicas, object_store="s3", replica_cores=0.15)
    return BenchResult(options=options, elapsed=10.0, completed=completed, failed=0, retries=0, polls=0,
                       latencies={}, bytes_moved=0, usage=[], machine_busy=0.5, load_average=(1.0, 1.0, 1.0),
                       events_per_case=11.0, s3=True)


def test_the_report_sets_two_replicas_against_one() -> None:
    (line,) = scale_out_lines([_result(1, 20), _result(2, 38)])
    assert "2 replicas" in line and "0.15 of a core" in line and "x1.90" in line
    assert scale_out_lines([_result(2, 38)]) == []  # nothing to set it against
