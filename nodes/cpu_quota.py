"""A share of the cores for a group of processes (a Linux cgroup's CPU quota), so that one machine
can stand in for several: `tongban bench --replica-cores 0.15` gives each replica of the
competent province's node 0.15 of a core, as a machine of its own would bring cores of its own.
On a 2-core machine shared by every process of the run, adding a replica cannot add cores, so
without a quota it cannot add throughput either; with one, it brings its share (docs/performance.md).

cgroup v2 (`cpu.max`) where the unified hierarchy has the cpu controller, else cgroup v1
(`cpu.cfs_quota_us`). Each quota is a leaf group under one parent, `tongban-bench`: cgroup v2
lets a group hand the cpu controller to its children only while it holds no process itself.
Needs the right to make groups there (root, or a delegated subtree)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PERIOD_US = 100_000  # the kernel's default period: a quota of 0.15 cores is 15 ms in every 100 ms
PARENT = "tongban-bench"


class CpuQuotaUnavailable(Exception):
    """No cgroup CPU controller this process may use."""


def _v2_root(root: Path) -> Path | None:
    for candidate in (root, root / "unified"):
        controllers = candidate / "cgroup.controllers"
        if controllers.is_file() and "cpu" in controllers.read_text().split():
            return candidate
    return None


def _hand_cpu_to_children(group: Path) -> None:
    control = group / "cgroup.subtree_control"
    if "cpu" not in control.read_text().split():
        control.write_text("+cpu")


class CpuQuota:
    """One group capped at `cores` (e.g. 0.15, or 1.5 for one and a half cores); processes are
    added with their children, and processes they start later are in it too."""

    def __init__(self, directory: Path, *, hierarchy: Path) -> None:
        self.directory = directory
        self.hierarchy = hierarchy  # the root group, where processes go back to

    @classmethod
    def create(cls, name: str, *, cores: float, root: Path = Path("/sys/fs/cgroup")) -> CpuQuota:
        if not 0 < cores <= (os.cpu_count() or 1):
            raise ValueError(f"a CPU quota is more than 0 and at most the {os.cpu_count()} cores here, got {cores}")
        quota_us = max(1000, round(cores * PERIOD_US))  # the kernel's least quota is 1 ms
        v2 = _v2_root(root)
        hierarchy = v2 if v2 is not None else root / "cpu"
        if v2 is None and not (hierarchy / "cpu.cfs_quota_us").is_file():
            raise CpuQuotaUnavailable(f"no cgroup CPU controller under {root} (neither cgroup v2 with cpu nor "
                                      "v1's cpu hierarchy is mounted); run without a CPU quota")
        parent = hierarchy / PARENT
        directory = parent / name
        made = False
        try:
            if v2 is not None:
                _hand_cpu_to_children(hierarchy)
            parent.mkdir(exist_ok=True)
            if v2 is not None:
                _hand_cpu_to_children(parent)
            directory.mkdir()
            made = True
            if v2 is not None:
                (directory / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
            else:
                (directory / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (directory / "cpu.cfs_quota_us").write_text(str(quota_us))
        except OSError as exc:
            if made:
                _remove_group(directory)
            raise CpuQuotaUnavailable(f"could not make a CPU quota group {directory} ({exc.strerror or exc}); "
                                      "the bench needs the right to make cgroups there (root, or a delegated "
                                      "subtree), or run it without a CPU quota") from exc
        return cls(directory, hierarchy=hierarchy)

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
        """Move whatever still runs in the group back to the root group, then delete the group,
        and the parent if no other quota is left in it. Whatever the kernel refuses is left in
        place: a group that holds no process costs nothing."""
        try:
            pids = (self.directory / "cgroup.procs").read_text().split()
        except OSError:
            pids = []
        for pid in pids:
            try:
                (self.hierarchy / "cgroup.procs").write_text(pid)
            except OSError:
                pass  # it ended meanwhile
        _remove_group(self.directory)
        _remove_group(self.directory.parent)


def _remove_group(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass
