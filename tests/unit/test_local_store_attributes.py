"""The folder store keeps an object's record and retention in the object file's extended
attributes: one file per object, committed by one rename. Stores written with sidecar files,
and filesystems without user attributes, keep working."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage.keys import object_key
from storage.local import LocalFolderStore
from storage.retention import Retention, RetentionActive
from storage.sealing import NodeKeyring, Sealer
from tests.fixtures.attributes import refuse_user_attributes

PDF = "application/pdf"
LICENCE = b"%PDF-1.7 a business licence, issued again after the original was lost " + os.urandom(40_000)
IN_TEN_YEARS = datetime.now(timezone.utc) + timedelta(days=3650)


def _sealed_store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "objects", sealer=Sealer(NodeKeyring.open(tmp_path / "keys.json")))


def _files_beside(store: LocalFolderStore, sha256: str) -> list[str]:
    return sorted(p.name for p in (store.root / object_key(sha256)).parent.iterdir())


def _attributes_kept(path: Path) -> None:
    try:
        os.setxattr(path, "user.tongban.probe", b"1")
    except (OSError, AttributeError) as exc:
        pytest.skip(f"the test folder's filesystem (or this Python) keeps no user attributes ({exc})")


def test_a_retained_material_is_one_file_with_its_record_attached(tmp_path: Path) -> None:
    _attributes_kept(tmp_path)
    store = _sealed_store(tmp_path)
    stored = store.put_bytes(LICENCE, media_type=PDF, metadata={"file_name": "营业执照.pdf"})
    store.retain_until(stored.sha256, until=IN_TEN_YEARS)

    assert _files_beside(store, stored.sha256) == [stored.sha256]
    record = json.loads(os.getxattr(store.root / object_key(stored.sha256), "user.tongban.meta"))
    assert record["sha256"] == stored.sha256 and "营业执照" not in json.dumps(record, ensure_ascii=False)
    reopened = _sealed_store(tmp_path)
    assert reopened.read_bytes(stored.sha256) == LICENCE
    assert reopened.stat(stored.sha256).metadata == {"file_name": "营业执照.pdf"}
    assert reopened.retention(stored.sha256).until == IN_TEN_YEARS


def test_a_filesystem_without_user_attributes_keeps_sidecars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_user_attributes(monkeypatch)
    store = _sealed_store(tmp_path)
    stored = store.put_bytes(LICENCE, media_type=PDF, metadata={"file_name": "营业执照.pdf"})
    store.retain_until(stored.sha256, until=IN_TEN_YEARS)

    sha = stored.sha256
    assert _files_beside(store, sha) == [sha, f"{sha}.meta.json", f"{sha}.retention.json"]
    assert store.read_bytes(sha) == LICENCE and store.stat(sha).metadata == {"file_name": "营业执照.pdf"}
    assert store.retention(sha).until == IN_TEN_YEARS


def test_a_store_written_with_sidecars_opens_and_its_retention_only_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as before_attributes:
        refuse_user_attributes(before_attributes)
        old = _sealed_store(tmp_path)
        sha = old.put_bytes(LICENCE, media_type=PDF, metadata={"file_name": "营业执照.pdf"}).sha256
        old.retain_until(sha, until=IN_TEN_YEARS)

    store = _sealed_store(tmp_path)
    assert store.read_bytes(sha) == LICENCE and store.stat(sha).metadata == {"file_name": "营业执照.pdf"}
    assert store.retention(sha).until == IN_TEN_YEARS
    with pytest.raises(RetentionActive, match="shorten"):
        store.retain(sha, Retention(mode="GOVERNANCE", until=IN_TEN_YEARS - timedelta(days=1)))
    store.retain_until(sha, until=IN_TEN_YEARS + timedelta(days=365))
    assert _sealed_store(tmp_path).retention(sha).until == IN_TEN_YEARS + timedelta(days=365)


def test_rotating_the_node_key_rewraps_records_in_attributes_and_in_sidecars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as before_attributes:
        refuse_user_attributes(before_attributes)
        in_sidecar = _sealed_store(tmp_path).put_bytes(b"%PDF- an older scan", media_type=PDF).sha256
    store = _sealed_store(tmp_path)
    in_attribute = store.put_bytes(LICENCE, media_type=PDF).sha256
    store._sealer.keyring.rotate()  # type: ignore[union-attr]

    assert store.rewrap_keys() == 2
    assert store.rewrap_keys() == 0
    assert store.read_bytes(in_sidecar) == b"%PDF- an older scan" and store.read_bytes(in_attribute) == LICENCE


def test_a_longer_retention_the_attribute_cannot_take_still_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _attributes_kept(tmp_path)
    store = _sealed_store(tmp_path)
    sha = store.put_bytes(LICENCE, media_type=PDF).sha256
    now = datetime.now(timezone.utc)
    store.retain(sha, Retention(mode="GOVERNANCE", until=now + timedelta(days=30)))
    set_attribute = os.setxattr

    def full_for_retentions(path: object, name: str, *args: object) -> None:
        if name == "user.tongban.retention":
            raise OSError(errno.ENOSPC, "No space left on device")
        set_attribute(path, name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "setxattr", full_for_retentions)
    store.retain_until(sha, until=IN_TEN_YEARS)  # goes to the sidecar; the 30 days stay in the attribute

    assert store.retention(sha).until == IN_TEN_YEARS
    with pytest.raises(RetentionActive):
        store.delete(sha, now=now + timedelta(days=31))


def test_rotating_the_node_key_goes_past_a_damaged_object(tmp_path: Path) -> None:
    store = _sealed_store(tmp_path)
    damaged = store.put_bytes(b"%PDF- a scan whose file was cut short", media_type=PDF).sha256
    intact = store.put_bytes(LICENCE, media_type=PDF).sha256
    with open(store.root / object_key(damaged), "r+b") as f:
        f.truncate(10)
    store._sealer.keyring.rotate()  # type: ignore[union-attr]

    assert store.rewrap_keys() == 2
    assert store.read_bytes(intact) == LICENCE


@pytest.mark.parametrize("prepared", [False, True], ids=["streamed", "prepared file moved in"])
def test_a_new_material_and_its_record_are_made_durable_by_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prepared: bool
) -> None:
    """The record is set on the file before its fsync, so one fsync makes the bytes and the
    record durable before the rename that commits them (then one of the directory)."""
    _attributes_kept(tmp_path)
    store = LocalFolderStore(tmp_path / "objects")  # unsealed: a prepared file is then the plaintext
    synced: list[str] = []
    fsync = os.fsync

    def noted(fd: int) -> None:
        synced.append("directory" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        fsync(fd)

    if prepared:
        received = store.root / ".incoming" / "received.data"
        received.write_bytes(LICENCE)
        monkeypatch.setattr(os, "fsync", noted)
        sha256 = hashlib.sha256(LICENCE).hexdigest()
        stored = store.put_prepared([], sha256=sha256, size=len(LICENCE), media_type=PDF, metadata=None,
                                    envelope=None, stored_file=received)
    else:
        monkeypatch.setattr(os, "fsync", noted)
        stored = store.put_bytes(LICENCE, media_type=PDF)
    monkeypatch.undo()

    assert synced == ["file", "directory"]
    assert json.loads(os.getxattr(store.root / object_key(stored.sha256), "user.tongban.meta"))["size"] == len(LICENCE)
    assert LocalFolderStore(tmp_path / "objects").read_bytes(stored.sha256) == LICENCE
