"""Writers of the same material at once (a clerk's retried upload, one scan sent for two cases)
leave one material that opens, and a retention that only grows. Each test holds the first
writer at the step where another used to slip in, and lets the second run meanwhile."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage.commit_lock import LOCK_FILE, commit_lock
import storage.local as local
from storage.local import LocalFolderStore
from storage.retention import Retention
from storage.sealing import NodeKeyring, Sealer
from tests.fixtures.attributes import refuse_user_attributes

PDF = "application/pdf"
STALL = 0.3  # seconds the first writer waits for the second to finish (it cannot, under the lock)


@pytest.fixture
def store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "objects", sealer=Sealer(NodeKeyring.open(tmp_path / "keys.json")))


@pytest.mark.parametrize("attributes", [True, False], ids=["record in attributes", "record in sidecars"])
def test_two_writers_of_the_same_scan_leave_a_material_that_opens(
    store: LocalFolderStore, monkeypatch: pytest.MonkeyPatch, attributes: bool
) -> None:
    """The first writer stalls right after writing its record; the second, meanwhile, must not
    commit an object beside it (the sidecar of one writer beside the object of another held the
    wrong data key). A record in attributes travels with its own object, so only the commit lock
    keeps the sidecar path right."""
    scan = b"%PDF- the applicant's identity card, uploaded twice " + os.urandom(300_000)
    first_wrote_record, second_done = threading.Event(), threading.Event()

    def stall_if_first() -> None:
        if threading.current_thread().name == "first":
            first_wrote_record.set()
            second_done.wait(STALL)  # before the fix the second writer's sidecar and object landed here

    if attributes:
        label = LocalFolderStore._label

        def record_then_stall(self: LocalFolderStore, fd: int, value: bytes, *, name: str = "user.tongban.meta") -> bool:
            labelled = label(self, fd, value, name=name)
            if name == "user.tongban.meta":
                stall_if_first()
            return labelled

        monkeypatch.setattr(LocalFolderStore, "_label", record_then_stall)
    else:
        refuse_user_attributes(monkeypatch)
        write = local._write_atomically

        def sidecar_then_stall(path: Path, data: bytes) -> None:
            write(path, data)
            if path.name.endswith(".meta.json"):
                stall_if_first()

        monkeypatch.setattr(local, "_write_atomically", sidecar_then_stall)
    first = threading.Thread(target=store.put_bytes, args=(scan,), kwargs={"media_type": PDF}, name="first")
    first.start()
    assert first_wrote_record.wait(5)
    second = threading.Thread(target=lambda: (store.put_bytes(scan, media_type=PDF), second_done.set()), name="second")
    second.start()
    first.join(5)
    second.join(5)

    assert store.read_bytes(hashlib.sha256(scan).hexdigest()) == scan


def test_two_retentions_set_at_once_keep_the_longer(store: LocalFolderStore) -> None:
    sha256 = store.put_bytes(b"%PDF- a licence kept for its matter's period", media_type=PDF).sha256
    now = datetime.now(timezone.utc)
    shorter = Retention(until=now + timedelta(days=30), mode="GOVERNANCE")
    longer = Retention(until=now + timedelta(days=3650), mode="GOVERNANCE")
    first_read, second_done = threading.Event(), threading.Event()
    read = store.retention

    def read_then_stall(digest: str) -> Retention | None:
        current = read(digest)
        if threading.current_thread().name == "first":
            first_read.set()
            second_done.wait(STALL)  # before the fix the longer retention was written here, then cut back
        return current

    store.retention = read_then_stall  # type: ignore[method-assign]
    first = threading.Thread(target=store.retain, args=(sha256, shorter), name="first")
    first.start()
    assert first_read.wait(5)
    second = threading.Thread(target=lambda: (store.retain(sha256, longer), second_done.set()), name="second")
    second.start()
    first.join(5)
    second.join(5)

    assert read(sha256) == longer


def test_another_process_waits_while_a_commit_holds_the_lock(store: LocalFolderStore) -> None:
    sha256 = "ab" + "0" * 62
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, int(sys.argv[2], 16))\n"
        "except OSError:\n"
        "    print('held')\n"
        "else:\n"
        "    print('free')\n"
    )

    def ask() -> str:
        run = subprocess.run([sys.executable, "-c", probe, str(store.root / LOCK_FILE), sha256[:2]],
                             capture_output=True, text=True, timeout=30, check=True)
        return run.stdout.strip()

    with commit_lock(store.root).holding(sha256):
        with commit_lock(store.root).holding(sha256):  # reentrant: a commit applies retention inside
            pass
        assert ask() == "held"
    assert ask() == "free"
