"""Guards of materials at rest: a data key never seals two plaintexts under one nonce, a
partial upload damaged by a power cut can still be completed, and temp files a killed upload
left do not stay forever. Real files and real AES-GCM throughout."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import storage.sealing
import storage.transfers
from storage.keys import object_key
from storage.local import LocalFolderStore
from storage.sealing import SEALED_SEGMENT, SEGMENT, SEGMENT_AAD, NodeKeyring, Sealer, segment_nonce
from storage.transfers import PartialUploads

CASE = "340000-20260101-A1"
REPO = Path(__file__).resolve().parents[2]
TWO_DAYS = 2 * 24 * 3600


def _node(tmp_path: Path) -> tuple[Sealer, LocalFolderStore, PartialUploads]:
    sealer = Sealer(NodeKeyring.open(tmp_path / "keys.json"))
    store = LocalFolderStore(tmp_path / "objects", sealer=sealer)
    return sealer, store, PartialUploads(tmp_path / "transfers", store=store, sealer=sealer)


def _material(size: int) -> tuple[bytes, str]:
    data = b"%PDF-1.7\n" + os.urandom(size - 9)
    return data, hashlib.sha256(data).hexdigest()


def _declared(data: bytes) -> dict[str, object]:
    return {"size": len(data), "media_type": "application/pdf", "kind": "id_card",
            "file_name": "张三-身份证.pdf", "from_province": "340000"}


def _backdate(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# -- no key seals two plaintexts under one nonce ----------------------------------------------


class _RecordingAESGCM:
    """AESGCM that notes, for every (key, nonce) it seals under, which plaintexts it sealed."""

    sealed: dict[tuple[bytes, bytes], set[bytes]] = {}
    generate_key = staticmethod(AESGCM.generate_key)

    def __init__(self, key: bytes) -> None:
        self._key = bytes(key)
        self._aead = AESGCM(key)

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        plaintexts = self.sealed.setdefault((self._key, bytes(nonce)), set())
        plaintexts.add(hashlib.sha256(data).digest())
        return self._aead.encrypt(nonce, data, aad)

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        return self._aead.decrypt(nonce, data, aad)


@pytest.fixture
def every_seal(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[bytes, bytes], set[bytes]]:
    seen: dict[tuple[bytes, bytes], set[bytes]] = {}
    monkeypatch.setattr(_RecordingAESGCM, "sealed", seen)
    monkeypatch.setattr(storage.sealing, "AESGCM", _RecordingAESGCM)
    monkeypatch.setattr(storage.transfers, "AESGCM", _RecordingAESGCM)
    return seen


def test_no_key_seals_two_plaintexts_under_one_nonce(tmp_path: Path, every_seal) -> None:
    sealer, store, uploads = _node(tmp_path)
    data, sha = _material(2 * SEGMENT + 3000)
    upload = uploads.open(case_number=CASE, sha256=sha, declared=_declared(data))
    upload.append(data[:SEGMENT])
    upload.close()  # the stream breaks; the sender resumes
    upload = uploads.open(case_number=CASE, sha256=sha, declared=_declared(data))
    upload.append(data[SEGMENT:])
    assert upload.sha256() == sha
    upload.commit(sha256=sha, metadata={"case": CASE, "kind": "id_card", "file_name": "张三-身份证.pdf"})
    upload.discard()
    upload.close()

    assert store.read_bytes(sha) == data and store.stat(sha).metadata["file_name"] == "张三-身份证.pdf"
    assert len(every_seal) > 3, "the data key's seals were seen: segments, declaration, metadata"
    reused = [pair for pair, plaintexts in every_seal.items() if len(plaintexts) > 1]
    assert reused == [], "a (key, nonce) pair sealed two different plaintexts: AES-GCM nonce reuse"


def test_metadata_sealed_before_this_change_still_opens(tmp_path: Path) -> None:
    """Existing objects' sidecars (and S3 headers) hold metadata sealed under the data key with
    the fixed metadata nonce; they must keep opening. (A guard: passes before the fix too.)"""
    sealer, store, _ = _node(tmp_path)
    data, sha = _material(5000)
    store.put_bytes(data, media_type="application/pdf", metadata={"file_name": "placeholder"})
    obj = tmp_path / "objects" / object_key(sha)
    sidecar = obj.with_name(obj.name + ".meta.json")  # where the filesystem keeps no user attributes
    record = json.loads(sidecar.read_bytes() if sidecar.exists() else os.getxattr(obj, "user.tongban.meta"))
    data_key = sealer.keyring.unwrap(record["sealed"]["envelope"])
    text = json.dumps({"file_name": "旧-身份证.pdf"}, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    old_way = AESGCM(data_key).encrypt(b"\xff" * 11 + b"\x02", text, b"tongban/metadata/v1")
    record["sealed"]["metadata"] = base64.b64encode(old_way).decode("ascii")
    if sidecar.exists():
        sidecar.write_text(json.dumps(record, ensure_ascii=False))
    else:
        os.setxattr(obj, "user.tongban.meta", json.dumps(record, ensure_ascii=False).encode())

    assert store.stat(sha).metadata == {"file_name": "旧-身份证.pdf"}


def _old_format_partial_upload(tmp_path: Path, sealer: Sealer, data: bytes, sha: str, segments: int) -> tuple[Path, Path]:
    """A partial upload as written before: the declaration sealed under the data key itself."""
    envelope = sealer.begin()[1]
    as_text = {k: json.dumps(v) for k, v in _declared(data).items()}
    header = tmp_path / "transfers" / f"{CASE}.{sha}.header.json"
    header.write_text(json.dumps({"envelope": envelope, "sealed_declared": sealer.seal_metadata(envelope, as_text)}))
    aead = AESGCM(sealer.keyring.unwrap(envelope))
    stored = tmp_path / "transfers" / f"{CASE}.{sha}.data"
    stored.write_bytes(b"".join(
        aead.encrypt(segment_nonce(i, final=False), data[i * SEGMENT:(i + 1) * SEGMENT], SEGMENT_AAD)
        for i in range(segments)
    ))
    return header, stored


def test_a_partial_upload_sealed_the_old_way_is_dropped_at_start(tmp_path: Path) -> None:
    sealer, _, uploads = _node(tmp_path)
    data, sha = _material(3 * SEGMENT)
    header, stored = _old_format_partial_upload(tmp_path, sealer, data, sha, segments=2)

    assert uploads.sweep(older_than=timedelta(days=7)) == 1
    assert not header.exists() and not stored.exists()


def test_a_partial_upload_sealed_the_old_way_is_started_afresh_rather_than_committed(tmp_path: Path) -> None:
    """Committing it would seal the object's metadata under the key and nonce its declaration
    was sealed under; its sender resends from the start instead."""
    sealer, store, uploads = _node(tmp_path)
    data, sha = _material(3 * SEGMENT)
    header, _ = _old_format_partial_upload(tmp_path, sealer, data, sha, segments=2)
    old_envelope = json.loads(header.read_text())["envelope"]

    assert uploads.confirmed_offset(case_number=CASE, sha256=sha) == 0
    upload = uploads.open(case_number=CASE, sha256=sha, declared=_declared(data))
    assert upload.confirmed == 0
    assert json.loads(header.read_text())["envelope"] != old_envelope
    upload.append(data)
    upload.commit(sha256=sha, metadata={"file_name": "张三-身份证.pdf"})
    upload.discard()
    upload.close()
    assert store.read_bytes(sha) == data


# -- a damaged partial upload resumes from before the damage ---------------------------------


def test_a_partial_upload_with_a_bad_segment_in_the_middle_resumes_from_before_it(tmp_path: Path) -> None:
    _, store, uploads = _node(tmp_path)
    data, sha = _material(6 * SEGMENT - 7)
    upload = uploads.open(case_number=CASE, sha256=sha, declared=_declared(data))
    upload.append(data[:4 * SEGMENT])
    upload.close()  # the sender's connection drops after 4 MiB
    # A power cut: the file kept its size, but the pages of its second segment were never written.
    with upload.data_path.open("r+b") as handle:
        handle.seek(SEALED_SEGMENT)
        handle.write(b"\0" * SEALED_SEGMENT)

    assert uploads.confirmed_offset(case_number=CASE, sha256=sha) == SEGMENT
    resumed = uploads.open(case_number=CASE, sha256=sha, declared=_declared(data))
    assert resumed.confirmed == SEGMENT
    assert resumed.data_path.stat().st_size == SEALED_SEGMENT, "the bad segment and all after it are cut off"
    resumed.append(data[SEGMENT:])
    assert resumed.sha256() == sha
    resumed.commit(sha256=sha, metadata={"file_name": "张三-身份证.pdf"})
    resumed.discard()
    resumed.close()
    assert store.read_bytes(sha) == data


def test_taking_over_an_upload_a_killed_stream_left_makes_it_durable_before_adding_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only then can recovery trust every segment but the last few a stream wrote since its
    last fsync: without it, kills before each fsync would leave ever more of the file unsynced."""
    _, _, uploads = _node(tmp_path)
    data, sha = _material(4 * SEGMENT)
    upload = uploads.open(case_number=CASE, sha256=sha, declared=_declared(data))
    upload.append(data[:2 * SEGMENT])
    upload._out.flush()  # the process is killed: its writes reached the page cache, no fsync ran
    upload._out.close()
    upload.release()

    synced: list[int] = []
    real_fsync = os.fsync

    def noting_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", noting_fsync)
    resumed = uploads.open(case_number=CASE, sha256=sha, declared=_declared(data))
    assert resumed.confirmed == 2 * SEGMENT
    assert resumed.data_path.stat().st_ino in synced
    resumed.close()


# -- temp files a killed upload left ----------------------------------------------------------

_KILLED_UPLOAD = r'''
import sys, time
sys.path.insert(0, sys.argv[2])
from storage.local import LocalFolderStore
store = LocalFolderStore(sys.argv[1])
def chunks():
    yield b"%PDF-" + b"x" * (1 << 20)
    print("streaming", flush=True)
    time.sleep(600)  # the clerk's upload is still arriving when the node is killed
    yield b"rest"
store.put_stream(chunks(), media_type="application/pdf")
'''


def _kill_an_upload_midway(root: Path) -> Path:
    child = subprocess.Popen([sys.executable, "-c", _KILLED_UPLOAD, str(root), str(REPO)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "streaming"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    [left] = list((root / ".incoming").glob("put-*.part"))
    return left


def test_temp_files_a_killed_upload_left_are_removed_after_a_day(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    left = _kill_an_upload_midway(root)
    _backdate(left, TWO_DAYS)
    fd, writing_now = tempfile.mkstemp(dir=root / ".incoming", prefix="put-", suffix=".part")
    os.close(fd)  # another process's upload, still arriving

    LocalFolderStore(root)  # the node starts again

    assert not left.exists()
    assert Path(writing_now).exists(), "a fresh temp file may belong to a writer still running"


def test_sidecar_temp_files_a_killed_commit_left_are_removed_after_a_day(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = LocalFolderStore(root)
    data, sha = _material(5000)
    store.put_bytes(data, media_type="application/pdf")
    shard = (root / object_key(sha)).parent
    stale = shard / ".meta-killed.part"
    stale.write_bytes(b'{"format": 1, "sha2')  # the process died while writing a sidecar
    _backdate(stale, TWO_DAYS)
    fresh = shard / ".meta-writing.part"
    fresh.write_bytes(b'{"format": 1')

    reopened = LocalFolderStore(root)

    assert not stale.exists()
    assert fresh.exists(), "a fresh temp file may belong to a writer still running"
    assert reopened.read_bytes(sha) == data
