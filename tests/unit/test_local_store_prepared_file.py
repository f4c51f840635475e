"""A received upload's data file enters the local store where it lies: no copy, no temp file,
and nothing of it is left behind whether it is committed, already there, or refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from exchange.errors import MaterialIntegrityError
from storage.local import LocalFolderStore
from storage.sealing import NodeKeyring, Sealer

PDF = "application/pdf"


def _prepared(tmp_path: Path, store: LocalFolderStore, data: bytes) -> tuple[Path, str]:
    segments, envelope = store._sealer.begin()  # type: ignore[union-attr]
    received = tmp_path / "transfers" / "340000-20260101-A1.received.data"
    received.parent.mkdir(exist_ok=True)
    received.write_bytes(b"".join(segments.stream([data])))
    return received, envelope


@pytest.fixture
def store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "objects", sealer=Sealer(NodeKeyring.open(tmp_path / "keys.json")))


def test_a_received_file_is_renamed_into_the_store_not_copied(tmp_path: Path, store: LocalFolderStore) -> None:
    data = b"%PDF- a scan received from another province " * 40_000
    received, envelope = _prepared(tmp_path, store, data)
    inode = received.stat().st_ino

    stored = store.put_prepared([], stored_file=received, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                                media_type=PDF, metadata={"kind": "id_card"}, envelope=envelope)

    assert not received.exists()
    assert (store.root / stored.key).stat().st_ino == inode
    assert store.read_bytes(stored.sha256) == data and dict(stored.metadata) == {"kind": "id_card"}
    assert list((store.root / ".incoming").iterdir()) == []


def test_a_received_file_for_a_material_already_stored_is_dropped(tmp_path: Path, store: LocalFolderStore) -> None:
    data = b"%PDF- the same scan, sent for a second case " * 40_000
    first = store.put_bytes(data, media_type=PDF)
    received, envelope = _prepared(tmp_path, store, data)

    again = store.put_prepared([], stored_file=received, sha256=first.sha256, size=len(data), media_type=PDF,
                               metadata={}, envelope=envelope)

    assert again.sha256 == first.sha256 and not received.exists()
    assert store.read_bytes(first.sha256) == data


def test_a_received_file_of_the_wrong_size_is_refused_and_leaves_nothing(tmp_path: Path, store: LocalFolderStore) -> None:
    data = b"%PDF- a scan cut short " * 40_000
    received, envelope = _prepared(tmp_path, store, data)

    with pytest.raises(MaterialIntegrityError, match="sealed bytes"):
        store.put_prepared([], stored_file=received, sha256=hashlib.sha256(data).hexdigest(), size=len(data) + 1,
                           media_type=PDF, metadata={}, envelope=envelope)

    assert not received.exists() and store.stat(hashlib.sha256(data).hexdigest()) is None
    assert list((store.root / ".incoming").iterdir()) == []
