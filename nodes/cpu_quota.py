"""A share of the cores for a group of processes (a Linux cgroup's CPU quota), so that one machine
can stand in for several: `tongban bench --replica-cores 0.15` gives each replica of the
competent province's node 0.15 of a core, as a machine of its own would bring cores of its own.
On a 2-core machine shared by every process of the run, adding a replica cannot add cores, so
without a quota it cannot add throughput either; with one, it brings its share (docs/performance.md).

cgroup v2 (`cpu.max`) where the unified hierarchy has the cpu controller, else cgroup v1
(`cpu.cfs_quota_us`). Needs the right to make a group (root, or a delegated subtree)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PERIOD_US = 100_000  # the kernel's default period: a quota of 0.15 cores is 15 ms in every 100 ms


class CpuQuotaUnavailable(Exception):
    """No cgroup CPU controller this process may use."""


def _v2_root(root: Path) -> Path | None:
    for candidate in (root, root / "unified"):
        controllers = candidate / "cgroup.controllers"
        if controllers.is_file() and "cpu" in controllers.read_text().split():
            return candidate
    return None


class CpuQuota:
    """One group capped at `cores` (e.g. 0.15, or 1.5 for one and a half cores); processes are
    added with their children, and processes they start later are in it too."""

    def __init__(self, directory: Path, *, version: int) -> None:
        self.directory = directory
        self.version = version

    @classmethod
    def create(cls, name: str, *, cores: float, root: Path = Path("/sys/fs/cgroup")) -> CpuQuota:
        if not 0 < cores <= (os.cpu_count() or 1):
            raise ValueError(f"a CPU quota is more than 0 and at most the {os.cpu_count()} cores here, got {cores}")
        quota_us = max(1000, round(cores * PERIOD_US))  # the kernel's least quota is 1 ms
        try:
            v2 = _v2_root(root)
            if v2 is not None:
                # The cpu controller must be on for the parent's children, the new group among them.
                control = v2 / "cgroup.subtree_control"
                if "cpu" not in control.read_text().split():
                    control.write_text("+cpu")
                directory = v2 / name
                directory.mkdir()
                (directory / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
                return cls(directory, version=2)
            v1 = root / "cpu"
            if (v1 / "cpu.cfs_quota_us").is_file():
                directory = v1 / name
                directory.mkdir()
                (directory / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (directory / "cpu.cfs_quota_us").write_text(str(quota_us))
                return cls(directory, version=1)
        except OSError as exc:
            raise CpuQuotaUnavailable(f"could not make a CPU quota group under {root} ({exc.strerror or exc}); "
                                      "run as root, or without a CPU quota") from exc
        raise CpuQuotaUnavailable(f"no cgroup CPU controller under {root} (neither cgroup v2 with cpu nor "
                                  "v1's cpu hierarchy is mounted); run without a CPU quota")

    def add(self, pids: Iterable[int]) -> None:
        """Move these processes (each with all its threads) into the group."""
        for pid in pids:
            try:
                (self.directory / "cgroup.procs").write_text(str(pid))
            except ProcessLookupError:
                pass  # it ended meanwhile

    def periods(self) -> tuple[int, int]:
        """Quota periods so far in which the group ran, and those in which it used up its quota
        and was held back until the next."""
        try:
            stat = dict(line.split() for line in (self.directory / "cpu.stat").read_text().splitlines())
        except OSError:
            return 0, 0
        return int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0))

    def remove(self) -> None:
        """Move whatever still runs in the group back to its parent, then delete the group (left
        in place, empty or not, if the kernel will not: it holds no process of ours then)."""
        parent = self.directory.parent / "cgroup.procs"
        try:
            for pid in (self.directory / "cgroup.procs").read_text().split():
                try:
                    parent.write_text(pid)
                except ProcessLookupError:
                    pass
            self.directory.rmdir()
        except OSError:
            pass
