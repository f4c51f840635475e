"""The bench keeps each run's node folders apart from the inodes earlier runs freed: on an ext4
without a journal every file made scans past those (nodes.bench_parts.journal_less_ext4)."""

from __future__ import annotations

import array
import fcntl
import os
from pathlib import Path

import pytest

from nodes.bench_parts import spread_from_earlier_runs


def _flags(folder: Path) -> int:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, 0x80086601, flags)  # FS_IOC_GETFLAGS
        return flags[0]
    finally:
        os.close(fd)


def test_bench_folder_is_marked_as_the_top_of_a_tree_where_the_filesystem_allows(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    if not spread_from_earlier_runs(folder):
        pytest.skip("this filesystem has no top-directory attribute (ext2/3/4 have)")
    assert _flags(folder) & 0x00020000  # FS_TOPDIR_FL, what `lsattr -d` shows as T
    (folder / "scenario0-bench_0a1b2c3d").mkdir()  # folders made in it are ordinary ones


def test_a_folder_that_cannot_be_marked_is_reported_not_raised(tmp_path: Path) -> None:
    assert spread_from_earlier_runs(tmp_path / "missing") is False
    plain_file = tmp_path / "a-file"
    plain_file.write_bytes(b"")
    assert spread_from_earlier_runs(plain_file) is False
