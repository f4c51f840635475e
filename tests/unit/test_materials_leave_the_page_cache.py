"""Materials are written once and read rarely: the local store tells the kernel to drop their
pages once they are on disk and once they have been read (storage.pagecache), so a node's page
cache does not grow by every material it receives."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import storage.local
import storage.transfers
from storage.local import LocalFolderStore
from storage.pagecache import forget_cached
from storage.sealing import NodeKeyring, Sealer

PDF = "application/pdf"


@pytest.fixture
def forgotten(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose pages the store asked the kernel to drop, by name."""
    names: list[str] = []

    def note(fd: int) -> None:
        names.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        forget_cached(fd)

    monkeypatch.setattr(storage.local, "forget_cached", note)
    monkeypatch.setattr(storage.transfers, "forget_cached", note)
    return names


@pytest.fixture
def store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "objects", sealer=Sealer(NodeKeyring.open(tmp_path / "keys.json")))


def test_an_uploaded_material_leaves_the_page_cache_once_it_is_on_disk(store: LocalFolderStore,
                                                                        forgotten: list[str]) -> None:
    store.put_stream([b"%PDF- a scanned identity card " * 30_000], media_type=PDF)

    assert len(forgotten) == 1 and forgotten[0].startswith("put-")  # the temp file, fsynced, before its rename


def test_a_received_file_leaves_the_page_cache_as_it_enters_the_store(tmp_path: Path, store: LocalFolderStore,
                                                                      forgotten: list[str]) -> None:
    data = b"%PDF- a scan pushed by the window's province " * 30_000
    segments, envelope = store._sealer.begin()  # type: ignore[union-attr]
    received = tmp_path / "340000-20260101-A1.received.data"
    received.write_bytes(b"".join(segments.stream([data])))

    store.put_prepared([], stored_file=received, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                       media_type=PDF, metadata={}, envelope=envelope)

    assert forgotten == [received.name]


def test_a_material_read_back_leaves_the_page_cache_after_the_read(store: LocalFolderStore,
                                                                   forgotten: list[str]) -> None:
    data = b"%PDF- forwarded to the competent node " * 30_000
    stored = store.put_bytes(data, media_type=PDF)
    forgotten.clear()

    assert store.read_bytes(stored.sha256) == data
    assert forgotten == [stored.sha256]


def test_dropping_pages_is_only_a_hint_and_never_fails(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()  # posix_fadvise refuses pipes (ESPIPE)
    try:
        forget_cached(read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    with (tmp_path / "empty").open("wb") as out:
        forget_cached(out.fileno())
