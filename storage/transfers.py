"""Partial uploads a receiving node keeps between attempts, so a cut transfer resumes.

Layout under root (the node's data dir, not the object store: nothing here is visible as a
material until the whole object has been re-hashed and put into the store):
    <case number>.<sha256>.header.json   what the sender declared (sealed when keyed, under a
                                          key derived from the data key: file names stay
                                          unreadable), the envelope
    <case number>.<sha256>.data          whole 1 MiB segments, in order (sealed if keyed)
    refusals.jsonl                        one line per refused material: when, who, why

Flat on purpose: a folder per case and material cost two directories made and removed per
material, and on an ext4 without a journal every inode freed makes creations nearby scan past
it for minutes (measured there: up to a sixth of a node's CPU under load went to creating
files). A completed data file is renamed into the store as it is, so an upload frees one inode
(its header) instead of four.

The data file is written in the object store's sealed format (storage.sealing: 1 MiB segments,
the last one flagged final) under a data key wrapped by the node key, so a completed upload is
committed to the store as it is: it is re-hashed (while it arrives, or by one re-read after a
resume) but never decrypted and encrypted again.

Only whole segments are written, so the confirmed offset is always a multiple of 1 MiB (or the
whole size once complete). Files are fsynced every 256 MiB, when a stream ends and when a
stream takes over an upload; a process that is killed loses nothing it wrote (the page cache
survives it), a machine that loses power may lose any of the segments written since the last
fsync — at most the last 256. So after a crash those are read back and the data file is cut
back to the first of them that does not authenticate: the confirmed offset may be less than
before, never more than can be read back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.errors import InvalidRequest, MaterialIntegrityError
from exchange.materials import TransferBusy
from exchange.ports import ObjectStore, StoredObject
from storage.keys import check_sha256
from storage.pagecache import forget_cached
from storage.sealing import SEGMENT, SEGMENT_AAD, TAG, Sealer, segment_nonce

_CASE_NUMBER = re.compile(r"[0-9A-Za-z-]{1,64}")
log = logging.getLogger(__name__)
_HEADER = ".header.json"
_DATA = ".data"
_SYNC_EVERY = 256  # segments: fsync is slow, and the whole-object hash catches what a crash garbles
_SEALED_DECLARATION = "sealed_declaration"
# Headers before 2026-12 sealed the declaration under the data key itself, with the nonce the
# store seals the object's metadata with at commit: committing such an upload would put two
# plaintexts under one key and nonce. They are dropped at start, like the folder-per-case
# layout before them, and their senders resend from the start (under a fresh data key).
_OLD_SEALED_DECLARATION = "sealed_declared"


class PartialUploads:
    """Implements exchange.materials.PartialUploads over a folder."""

    def __init__(self, root: Path, *, store: ObjectStore, sealer: Sealer | None = None) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)
        self._store = store
        self._sealer = sealer
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def confirmed_offset(self, *, case_number: str, sha256: str) -> int:
        header, data = self._paths(case_number, sha256)
        if not header.exists():
            return 0
        # Read-only: a stream may be writing this upload right now (it holds the lock), so
        # whatever is half-written at the end is not counted, and not cut off either.
        upload = self._load(header, data, repair=False)
        return upload.confirmed if upload is not None else 0

    def holds(self, *, case_number: str, sha256: str) -> bool:
        """Whether a partial upload of (case, sha256) is kept here, finished streaming or not."""
        return self._paths(case_number, sha256)[0].exists()

    def open(self, *, case_number: str, sha256: str, declared: Mapping[str, Any]) -> PartialUpload:
        """Resume the partial upload of (case, sha256), or start one. A partial upload whose
        declaration differs (another size or type for the same digest) is started afresh."""
        header_path, data_path = self._paths(case_number, sha256)
        with self._guard:
            lock = self._locks.setdefault((case_number, sha256), threading.Lock())
        if not lock.acquire(blocking=False):
            raise TransferBusy(
                f"material {sha256[:12]}… of case {case_number} is already being received; retry when that stream ends"
            )
        try:
            if header_path.exists():
                upload = self._load(header_path, data_path)
                if upload is not None and dict(upload.declared) == dict(declared):
                    upload.release = lock.release
                    return upload
                data_path.unlink(missing_ok=True)
            header: dict[str, Any] = {"declared": dict(declared)}
            envelope, data_key = None, None
            if self._sealer is not None:
                envelope = self._sealer.begin()[1]
                data_key = self._sealer.keyring.unwrap(envelope)
                as_text = {k: json.dumps(v) for k, v in declared.items()}
                header = {"envelope": envelope, _SEALED_DECLARATION: self._sealer.seal_declaration(envelope, as_text)}
            _write_json(header_path, header)
            # Built from what was just written rather than read back: a fresh upload is most of them.
            upload = PartialUpload(header_path, data_path, declared=dict(declared), data_key=data_key,
                                   envelope=envelope, store=self._store, repair=True)
            upload.release = lock.release
            return upload
        except BaseException:
            lock.release()
            raise

    def sweep(self, *, older_than: timedelta, now: datetime | None = None) -> int:
        """Drop partial uploads nobody has added to for `older_than` (the sender gave up);
        returns how many. Run at node start, before any stream can hold one."""
        cutoff = (now or datetime.now(timezone.utc)).timestamp() - older_than.total_seconds()
        dropped = 0
        for header in sorted(self._root.glob("*" + _HEADER)):
            data = header.with_name(header.name[: -len(_HEADER)] + _DATA)
            last = max(header.stat().st_mtime, data.stat().st_mtime if data.exists() else 0.0)
            if last < cutoff or _sealed_before_declaration_key(json.loads(header.read_text(encoding="utf-8"))):
                data.unlink(missing_ok=True)
                header.unlink(missing_ok=True)
                dropped += 1
        for folder in sorted(p for p in self._root.iterdir() if p.is_dir()):
            # A folder per case is the layout before 2026-11: its senders resend from the start.
            shutil.rmtree(folder, ignore_errors=True)
            dropped += 1
        if dropped:
            log.info("dropped %d abandoned partial uploads older than %s", dropped, older_than)
        return dropped

    def rewrap_keys(self) -> int:
        """Re-wrap the data keys of partial uploads under the current node key."""
        if self._sealer is None:
            return 0
        changed = 0
        for path in sorted(self._root.glob("*" + _HEADER)):
            header = json.loads(path.read_text(encoding="utf-8"))
            envelope = self._sealer.rewrap(header["envelope"]) if "envelope" in header else None
            if envelope is not None:
                header["envelope"] = envelope
                _write_json(path, header)
                changed += 1
        return changed

    def record_refusal(self, *, case_number: str, sha256: str, from_province: str, reason: str) -> None:
        line = json.dumps(
            {
                "at": datetime.now(timezone.utc).isoformat(), "case_number": case_number,
                "sha256": sha256, "from_province": from_province, "reason": reason,
            },
            ensure_ascii=False,
        )
        log.warning("refused material %s of case %s from %s: %s", sha256, case_number, from_province, reason)
        with (self._root / "refusals.jsonl").open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())

    def refusals(self) -> list[dict[str, str]]:
        path = self._root / "refusals.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def _paths(self, case_number: str, sha256: str) -> tuple[Path, Path]:
        if not _CASE_NUMBER.fullmatch(case_number or ""):
            raise InvalidRequest("case_number", f"{case_number!r} is not a case number")
        stem = f"{case_number}.{check_sha256(sha256)}"
        return self._root / (stem + _HEADER), self._root / (stem + _DATA)

    def _load(self, header_path: Path, data_path: Path, *, repair: bool = True) -> PartialUpload | None:
        """The upload the header describes; None for a header sealed the old way, which is
        as good as absent (the sender resends from the start)."""
        header = json.loads(header_path.read_text(encoding="utf-8"))
        if _sealed_before_declaration_key(header):
            return None
        data_key = None
        envelope = header.get("envelope")
        declared = header.get("declared")
        if envelope is not None:
            if self._sealer is None:
                raise InvalidRequest("sha256", "a sealed partial upload cannot be resumed without the node key")
            data_key = self._sealer.keyring.unwrap(envelope)
            opened = self._sealer.open_declaration(envelope, header[_SEALED_DECLARATION])
            declared = {k: json.loads(v) for k, v in opened.items()}
        return PartialUpload(header_path, data_path, declared=declared, data_key=data_key, envelope=envelope,
                             store=self._store, repair=repair)


class PartialUpload:
    """One material being received. Not thread-safe: one stream at a time (open() locks)."""

    def __init__(
        self, header_path: Path, data_path: Path, *, declared: Mapping[str, Any], data_key: bytes | None,
        envelope: str | None, store: ObjectStore, repair: bool = True,
    ) -> None:
        """`repair` cuts the data file back to its whole segments: only for the holder of
        the upload's lock (PartialUploads.open)."""
        self.header_path = header_path
        self.data_path = data_path
        self.declared = declared
        self._envelope = envelope
        self._store = store
        self._aead = AESGCM(data_key) if data_key is not None else None
        self._record = SEGMENT + (TAG if self._aead else 0)
        self._buffer = bytearray()
        self._unsynced = 0
        self.release: Any = None
        self._out: Any = None  # the data file, open for appending while a stream runs
        self._recover(repair=repair)
        # Hashed as it arrives when this stream starts at 0; after a resume, re-read once.
        self._running: Any = hashlib.sha256() if self._segments == 0 else None

    @property
    def size(self) -> int:
        return int(self.declared["size"])

    @property
    def confirmed(self) -> int:
        return min(self._segments * SEGMENT, self.size)

    @property
    def received(self) -> int:
        """Bytes taken so far in this stream: confirmed plus those waiting for a whole segment."""
        return self.confirmed + len(self._buffer)

    @property
    def _total_segments(self) -> int:
        return max(1, -(-self.size // SEGMENT))

    def append(self, data: bytes) -> None:
        if self._running is not None:
            self._running.update(data)
        view = memoryview(data)
        at = 0
        if self._buffer:  # top up the segment begun by the last message
            at = min(SEGMENT - len(self._buffer), len(view))
            self._buffer += view[:at]
            if len(self._buffer) == SEGMENT:
                self._write(self._buffer)
                self._buffer = bytearray()
        while len(view) - at >= SEGMENT:  # whole segments straight from the message, uncopied
            self._write(view[at:at + SEGMENT])
            at += SEGMENT
        self._buffer += view[at:]
        if self.received == self.size and self._buffer:
            self._write(self._buffer)  # the short last segment, once all has come
            self._buffer = bytearray()

    def close(self) -> None:
        """End of a stream, complete or not: make what was written durable, drop the rest."""
        self._buffer.clear()
        if self.data_path.exists():
            self._sync()
        if self._out is not None:
            self._out.close()
            self._out = None
        if self.release is not None:
            release, self.release = self.release, None
            release()

    def plaintext(self) -> Iterator[bytes]:
        """The whole material, read back from disk segment by segment."""
        if self._out is not None:
            self._out.flush()
        with self.data_path.open("rb") as handle:
            for index in range(self._segments):
                yield self._open(index, handle.read(self._record))

    def sha256(self) -> str:
        """The SHA-256 of everything received: computed on arrival, or by re-reading the
        whole upload if it was resumed."""
        if self._running is not None:
            return self._running.hexdigest()
        digest = hashlib.sha256()
        for plain in self.plaintext():
            digest.update(plain)
        return digest.hexdigest()

    def commit(self, *, sha256: str, metadata: Mapping[str, str]) -> StoredObject:
        """Hand the upload, as sealed on disk, to the object store under its (checked) digest."""

        if self._out is not None:
            self._sync()
            self._out.close()
            self._out = None

        def stored_bytes() -> Iterator[bytes]:
            with self.data_path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk

        return self._store.put_prepared(  # type: ignore[attr-defined]
            stored_bytes(), stored_file=self.data_path, sha256=sha256, size=self.size, media_type=str(self.declared["media_type"]),
            metadata=metadata, envelope=self._envelope,
        )

    def discard(self) -> None:
        """Forget the upload: its data file (unless the store took it) and its header."""
        if self._out is not None:
            self._out.close()
            self._out = None
        self.data_path.unlink(missing_ok=True)
        self.header_path.unlink(missing_ok=True)

    def _write(self, plain: bytes | bytearray | memoryview) -> None:
        final = self._segments == self._total_segments - 1
        record = plain if self._aead is None else self._aead.encrypt(
            segment_nonce(self._segments, final=final), plain, SEGMENT_AAD
        )
        if self._out is None:
            self._out = self.data_path.open("ab")
        self._out.write(record)
        self._segments += 1
        self._unsynced += 1
        if self._unsynced >= _SYNC_EVERY:
            self._sync()

    def _sync(self) -> None:
        if self._out is not None and self._unsynced:
            self._out.flush()
            os.fsync(self._out.fileno())
            forget_cached(self._out.fileno())
        self._unsynced = 0

    def _open(self, index: int, record: bytes) -> bytes:
        if self._aead is None:
            return record
        try:
            return self._aead.decrypt(segment_nonce(index, final=index == self._total_segments - 1), record, SEGMENT_AAD)
        except InvalidTag:
            raise MaterialIntegrityError(f"segment {index} of the partial upload {self.data_path} is corrupt") from None

    def _recover(self, *, repair: bool) -> None:
        """Count the data file's whole segments up to the first that does not read back; with
        `repair`, cut the file back to them and make that durable before a stream adds to it."""
        on_disk = self.data_path.stat().st_size if self.data_path.exists() else 0
        self._segments = self._authenticated_segments(self._whole_segments(on_disk))
        if repair and self.data_path.exists():
            with self.data_path.open("r+b") as handle:
                if self._length_of(self._segments) != on_disk:
                    handle.truncate(self._length_of(self._segments))
                # What a killed stream wrote may still be only in the page cache; synced now,
                # only segments this stream writes can be lost by a power cut, so the next
                # recovery need not read further back than _SYNC_EVERY segments.
                os.fsync(handle.fileno())

    @property
    def _last_record(self) -> int:
        """Stored length of the final segment, short unless the size is a multiple of 1 MiB."""
        return self._length_of(self._total_segments) - (self._total_segments - 1) * self._record

    def _length_of(self, segments: int) -> int:
        """Bytes the first `segments` segments take in the data file."""
        if segments < self._total_segments:
            return segments * self._record
        last_plain = self.size - (self._total_segments - 1) * SEGMENT
        return (self._total_segments - 1) * self._record + last_plain + (TAG if self._aead else 0)

    def _whole_segments(self, on_disk: int) -> int:
        full, rest = divmod(on_disk, self._record)
        full = min(full, self._total_segments)
        # The short final segment is whole when exactly its length remains after the full ones.
        if rest and full == self._total_segments - 1 and rest == self._last_record:
            return full + 1
        return full

    def _authenticated_segments(self, whole: int) -> int:
        """How many of the `whole` segments on disk authenticate before the first that does
        not. Every segment but the last _SYNC_EVERY was fsynced (see _recover and _write), so
        only those are read: a power cut may have lost any of them, not only the last."""
        if self._aead is None or whole == 0:
            return whole  # plain segments cannot be checked; the whole-object hash is
        first_unsynced = max(0, whole - _SYNC_EVERY)
        with self.data_path.open("rb") as handle:
            handle.seek(first_unsynced * self._record)
            for index in range(first_unsynced, whole):
                try:
                    self._open(index, handle.read(self._record))
                except MaterialIntegrityError:
                    return index
        return whole


def _sealed_before_declaration_key(header: Mapping[str, Any]) -> bool:
    return _OLD_SEALED_DECLARATION in header


def _write_json(path: Path, record: Mapping[str, Any]) -> None:
    temp = path.with_suffix(".part")
    with temp.open("w", encoding="utf-8") as out:
        json.dump(record, out, ensure_ascii=False)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
