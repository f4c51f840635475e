"""The embedded default object store: a content-addressed folder on local disk.

Layout under root:
    sha256/ab/ab12…            the object's bytes, named by their SHA-256; its extended
                               attributes hold the metadata record (media type, size, sha256,
                               user metadata) and, once retained, the retain-until date and mode
    .incoming/                 temp files being received (same filesystem, so renames are atomic)

With a Sealer (storage.sealing) the object file holds the sealed segments and the record the key
envelope and the sealed user metadata; the key stays the SHA-256 of the plaintext.

Commit: the record is attached to the temp file, which is then renamed into place, so the rename
is the single commit point and an object is one file: no second inode is made, written, synced
and renamed per object, which on a busy node was a tenth of its CPU (docs/performance-history.md).
Object servers such as OpenStack Swift keep object metadata the same way. Back the folder up
with its attributes (`rsync -aX`, `tar --xattrs`, `cp -a`): a copy without them holds no
visible object. The change is one way: tongban before 2026-12-05 reads sidecars only, so it
sees no object (and no retention) this version committed; do not run it against such a folder.

Where the filesystem keeps no user attributes (or a record is too large for them), the record
goes to a sidecar `ab12….meta.json` and the retention to `ab12….retention.json`, and stores
written before attributes were used keep theirs; both are read wherever they are. A sidecar is
written (atomically) before the object is renamed into place, so the rename is still the commit
point: a crash between the two leaves an orphan sidecar that is invisible and is overwritten by
the next put of the same bytes.

Temp files a killed process left (`.incoming/put-*.part`, `.meta-*.part` beside the sidecars)
are removed when a store opens, once a day old: a writer in another process (a `tongban`
command beside the node) may be filling a fresh one right now. S3 has a lifecycle rule for this.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from exchange.errors import InvalidRequest, MaterialIntegrityError, MaterialNotFound
from exchange.ports import StoredObject
from storage.commit_lock import commit_lock
from storage.keys import check_sha256, object_key
from storage.metadata import check_media_type, check_metadata, check_sealed_metadata
from storage.pagecache import forget_cached
from storage.retention import Retention, RetentionPolicy, check_deletable, check_mode, extend_retention, utc_now
from storage.sealing import SEALED_SEGMENT, NodeKeyUnavailable, Sealer, rechunk
from storage.streams import VerifiedChunks, check_chunk_size

_META_ATTR = "user.tongban.meta"
_RETENTION_ATTR = "user.tongban.retention"
_META_SUFFIX = ".meta.json"  # the record's sidecar, where attributes cannot hold it
_RETENTION_SUFFIX = ".retention.json"
_META_FORMAT = 1
_PUT_TEMP = ("put-", ".part")  # prefix and suffix of an object being received
_META_TEMP = (".meta-", ".part")  # prefix and suffix of a sidecar being written
# A temp file untouched this long has no writer left: streaming writes refresh its mtime.
_STALE_TEMP_AGE = 24 * 3600.0  # seconds


class LocalFolderStore:
    """ObjectStore over a folder; safe for concurrent writers within and across processes
    (storage.commit_lock: one writer at a time per object name)."""

    def __init__(
        self, root: Path, *, sealer: Sealer | None = None, retention: RetentionPolicy | None = None,
        retention_mode: str = "GOVERNANCE",
    ) -> None:
        """`retention` retains every material from upload on; `retention_mode` is the mode of
        the retention a material gets for its matter (retain_until)."""
        self._root = Path(root)
        self._sealer = sealer
        self._retention = retention
        self._retention_mode = check_mode(retention.mode if retention is not None else retention_mode)
        self._incoming = self._root / ".incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)
        self._lock = commit_lock(self._root)
        self._attributes = hasattr(os, "setxattr")  # Linux; until the filesystem refuses them
        self._remove_stale_temp_files()

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalFolderStore({str(self._root)!r})"

    def put_stream(
        self,
        chunks: Iterable[bytes],
        *,
        media_type: str,
        metadata: Mapping[str, str] | None = None,
        expected_sha256: str | None = None,
    ) -> StoredObject:
        media_type = check_media_type(media_type)
        user_metadata = check_metadata(metadata)
        if expected_sha256 is not None:
            check_sha256(expected_sha256, field="expected_sha256")

        fd, temp_name = tempfile.mkstemp(dir=self._incoming, prefix=_PUT_TEMP[0], suffix=_PUT_TEMP[1])
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            sealed: dict[str, object] | None = None
            with os.fdopen(fd, "wb") as out:
                if self._sealer is None:
                    for chunk in chunks:
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                else:
                    segments, envelope = self._sealer.begin()
                    sealed_metadata = check_sealed_metadata(self._sealer.seal_metadata(envelope, user_metadata))
                    for chunk in chunks:
                        digest.update(chunk)
                        out.write(segments.update(chunk))
                        size += len(chunk)
                    out.write(segments.finish())
                    sealed = {"envelope": envelope, "metadata": sealed_metadata, "stored_size": out.tell()}
                out.flush()
                sha256 = digest.hexdigest()
                if expected_sha256 is not None and sha256 != expected_sha256:
                    raise MaterialIntegrityError(
                        f"received {size} bytes hashing to {sha256}, but the sender declared "
                        f"{expected_sha256}; nothing was stored — ask the sender to resend"
                    )
                record = _encoded_record(sha256, size, media_type, user_metadata, sealed)
                labelled = self._made_durable(out.fileno(), record)
            with self._lock.holding(sha256):
                return self._settled(sha256, self._commit(temp, sha256, size, media_type, user_metadata, record, labelled))
        finally:
            temp.unlink(missing_ok=True)

    def put_prepared(
        self,
        stored_chunks: Iterable[bytes],
        *,
        sha256: str,
        size: int,
        media_type: str,
        metadata: Mapping[str, str] | None,
        envelope: str | None,
        stored_file: Path | None = None,
    ) -> StoredObject:
        """Store bytes already in this store's at-rest form — sealed segments under
        `envelope` (storage.sealing), or the plaintext when the store is unsealed — for a
        plaintext the caller has hashed to `sha256` itself (a received partial upload).
        Spares a second encryption of large materials; reading still checks every segment's
        tag and the plaintext hash. A `stored_file` holding those bytes on the same filesystem
        is moved in rather than copied (it is gone afterwards)."""
        media_type = check_media_type(media_type)
        user_metadata = check_metadata(metadata)
        check_sha256(sha256)
        if (envelope is None) != (self._sealer is None):
            raise InvalidRequest("envelope", "prepared bytes must be sealed exactly when this store seals")
        existing = self.stat(sha256)
        if existing is not None:
            if stored_file is not None:
                Path(stored_file).unlink(missing_ok=True)
            return existing
        if stored_file is not None and _same_filesystem(Path(stored_file), self._incoming):
            # Committed where it lies: a temp file made only to be replaced would cost an inode
            # made and freed per material, which on ext4 slows every later creation.
            temp = Path(stored_file)
            stored_size = temp.stat().st_size
        else:
            fd, temp_name = tempfile.mkstemp(dir=self._incoming, prefix=_PUT_TEMP[0], suffix=_PUT_TEMP[1])
            temp = Path(temp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in stored_chunks:
                        out.write(chunk)
                    stored_size = out.tell()
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            if stored_file is not None:
                Path(stored_file).unlink(missing_ok=True)
        try:
            sealed = None
            if envelope is not None and self._sealer is not None:
                sealed = {
                    "envelope": envelope,
                    "metadata": check_sealed_metadata(self._sealer.seal_metadata(envelope, user_metadata)),
                    "stored_size": stored_size,
                }
                if stored_size != self._sealer.sealed_size(size):
                    raise MaterialIntegrityError(f"prepared material {sha256} has {stored_size} sealed bytes for {size} plain ones")
            elif stored_size != size:
                raise MaterialIntegrityError(f"prepared material {sha256} has {stored_size} bytes, not {size}")
            record = _encoded_record(sha256, size, media_type, user_metadata, sealed)
            fd = os.open(temp, os.O_RDONLY)
            try:
                labelled = self._made_durable(fd, record)
            finally:
                os.close(fd)
            with self._lock.holding(sha256):
                return self._settled(sha256, self._commit(temp, sha256, size, media_type, user_metadata, record, labelled))
        finally:
            temp.unlink(missing_ok=True)  # still there only when the commit did not take it

    def _remove_stale_temp_files(self) -> None:
        """Temp files of puts and sidecar writes a killed process left; nothing else removes them."""
        cutoff = time.time() - _STALE_TEMP_AGE
        _remove_older(self._incoming, _PUT_TEMP, cutoff)
        shards = self._root / "sha256"
        if not shards.is_dir():
            return
        with os.scandir(shards) as entries:
            for shard in entries:
                if shard.is_dir(follow_symlinks=False):  # sidecars are written in their shard
                    _remove_older(Path(shard.path), _META_TEMP, cutoff)

    def _settled(self, sha256: str, written: StoredObject | None) -> StoredObject:
        """The object just committed, under the store's default retention. `written`: what this
        put wrote; None when the object was there already, and its own metadata is read back
        (first metadata wins), which for a sealed store costs a key unwrap."""
        stored = written or self.stat(sha256)
        assert stored is not None, "object vanished right after it was committed"
        if self._retention is not None:
            self._retention.apply_to(self, sha256)
        return stored

    def _commit(
        self, temp: Path, sha256: str, size: int, media_type: str, user_metadata: dict[str, str],
        record: bytes, labelled: bool,
    ) -> StoredObject | None:
        """Under the object's commit lock: a sidecar of one writer beside the object of another
        would hold the wrong data key. `temp` is durable with its `record` as an attribute if
        `labelled`, else the record goes to a sidecar first. Returns what it stored, or None
        if the object was there."""
        if self._record(sha256) is not None:
            return None  # already stored (first metadata wins); the caller drops the temp file
        path, meta_path = self._paths(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not labelled:
            _write_atomically(meta_path, record)
        os.replace(temp, path)  # the commit point
        fsync_directory(path.parent)
        return StoredObject(key=object_key(sha256), sha256=sha256, size=size, media_type=media_type,
                            metadata=dict(user_metadata))

    def put_bytes(
        self, data: bytes, *, media_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject:
        return self.put_stream([data], media_type=media_type, metadata=metadata)

    def stat(self, sha256: str) -> StoredObject | None:
        record = self._record(sha256)
        if record is None:
            return None
        metadata = {str(k): str(v) for k, v in record["metadata"].items()}
        sealed = record.get("sealed")
        if sealed is not None:
            metadata = self._require_sealer(sha256).open_metadata(sealed["envelope"], sealed["metadata"])
        return StoredObject(key=object_key(sha256), sha256=sha256, size=int(record["size"]),
                            media_type=str(record["media_type"]), metadata=metadata)

    def _record(self, sha256: str) -> dict[str, Any] | None:
        """The object's metadata record, checked against the file on disk; None when absent.
        Existence checks stop here: opening the sealed metadata costs a key unwrap."""
        path, _ = self._paths(sha256)
        try:
            raw, _ = _record_bytes(path)
            size_on_disk = path.stat().st_size
        except FileNotFoundError:
            return None  # absent, or a put crashed before its commit point
        try:
            record = json.loads(raw)
            sealed = record.get("sealed")
            size = int(record["size"])
            str(record["media_type"])
            if not isinstance(record["metadata"], dict):
                raise TypeError("metadata is not an object")
            expected_on_disk = size if sealed is None else int(sealed["stored_size"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MaterialIntegrityError(
                f"metadata of stored material {sha256} in {self._root} is unreadable ({exc}); "
                "restore the object file with its attributes (or its sidecar) from a backup, or store "
                "the material again"
            ) from exc
        if record.get("sha256") != sha256 or expected_on_disk != size_on_disk:
            raise MaterialIntegrityError(
                f"stored material {sha256} in {self._root} does not match its metadata "
                f"({size_on_disk} bytes on disk, {size} recorded); restore it from a replica"
            )
        return record

    def iter_chunks(self, sha256: str, *, chunk_size: int = 1 << 20, verify: bool = True) -> VerifiedChunks:
        check_chunk_size(chunk_size)
        record = self._record(sha256)
        if record is None:
            raise MaterialNotFound(f"no material with SHA-256 {sha256} in {self._root}")
        path, _ = self._paths(sha256)
        sealed = record.get("sealed")
        handle = path.open("rb")
        source: Iterator[bytes]
        if sealed is None:
            source = iter(partial(handle.read, chunk_size), b"")
        else:
            raw = iter(partial(handle.read, SEALED_SEGMENT), b"")  # whole records: opened uncopied
            source = rechunk(
                self._require_sealer(sha256).open_stream(sealed["envelope"], raw, where=str(self._root)),
                chunk_size,
            )
        def release() -> None:
            forget_cached(handle.fileno())
            handle.close()

        return VerifiedChunks(source, sha256=sha256, where=str(self._root), release=release, verify=verify)

    def read_bytes(self, sha256: str, *, verify: bool = True) -> bytes:
        with self.iter_chunks(sha256, verify=verify) as chunks:
            return b"".join(chunks)

    # -- key rotation ---------------------------------------------------------------------

    def rewrap_keys(self) -> int:
        """Re-wrap every data key under the current node key; the object files are untouched.
        Returns how many envelopes changed."""
        sealer = self._require_sealer("(all)")
        changed = 0
        shards = self._root / "sha256"
        for path in sorted(shards.rglob("*")) if shards.is_dir() else []:
            if not _is_object_name(path.name):
                continue
            with self._lock.holding(path.name):  # the commit lock of the object
                try:  # the record as stored: a damaged object's key is re-wrapped all the same
                    raw, in_attribute = _record_bytes(path)
                except FileNotFoundError:
                    continue
                record = json.loads(raw)
                sealed = record.get("sealed")
                if sealed is None:
                    continue
                envelope = sealer.rewrap(sealed["envelope"])
                if envelope is None:
                    continue
                sealed["envelope"] = envelope
                encoded = json.dumps(record, ensure_ascii=False).encode()
                if not (in_attribute and self._attach(path, _META_ATTR, encoded)):
                    _write_atomically(path.with_name(path.name + _META_SUFFIX), encoded)
                    if in_attribute:  # it would be read before the sidecar
                        os.removexattr(path, _META_ATTR)
                        _sync(path)
            changed += 1
        return changed

    # -- retention ------------------------------------------------------------------------

    def retain(self, sha256: str, retention: Retention) -> None:
        """Keep the material until `retention.until`; a retention can be extended, never
        shortened (as with S3 object lock)."""
        with self._lock.holding(sha256):
            if self._record(sha256) is None:
                raise MaterialNotFound(f"no material with SHA-256 {sha256} in {self._root}")
            current = self.retention(sha256)
            if current is not None and not retention.extends(current):
                raise current.refusal(sha256, action="shorten the retention of")
            path, _ = self._paths(sha256)
            encoded = retention.to_json().encode()
            if not self._attach(path, _RETENTION_ATTR, encoded):
                _write_atomically(path.with_name(path.name + _RETENTION_SUFFIX), encoded)

    def retain_until(self, sha256: str, *, until: datetime) -> bool:
        """Keep the material until `until` (its matter's retention), in this store's mode."""
        with self._lock.holding(sha256):  # the retention read and the one written, together
            extend_retention(self, sha256, until=until, mode=self._retention_mode)
        return True

    def retention(self, sha256: str) -> Retention | None:
        path, _ = self._paths(sha256)
        stored = (_attribute_if_present(path, _RETENTION_ATTR),
                  _bytes_if_present(path.with_name(path.name + _RETENTION_SUFFIX)))
        held = [Retention.from_json(raw.decode()) for raw in stored if raw]
        if len(held) == 2:
            # Both are there when one retention went to the sidecar because the attribute could
            # not take it (or the store predates attributes): each was written to extend what
            # was read, so one extends the other, and that one holds.
            return held[0] if held[0].extends(held[1]) else held[1]
        return held[0] if held else None

    def delete(self, sha256: str, *, bypass_governance: bool = False, now: datetime | None = None) -> None:
        """Delete a material; refused while a retention holds it (RetentionActive)."""
        with self._lock.holding(sha256):
            check_deletable(self.retention(sha256), sha256, now=now or utc_now(), bypass_governance=bypass_governance)
            path, meta_path = self._paths(sha256)
            path.unlink(missing_ok=True)  # the object first: without it the sidecar is invisible
            meta_path.unlink(missing_ok=True)
            path.with_name(path.name + _RETENTION_SUFFIX).unlink(missing_ok=True)

    def _attach(self, path: Path, name: str, value: bytes) -> bool:
        """Set an extended attribute of `path` and make it durable. False when it must go to a
        sidecar instead: the filesystem keeps no user attributes, or not one this large."""
        if not self._attributes:
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            if not self._label(fd, value, name=name):
                return False
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def _made_durable(self, fd: int, record: bytes) -> bool:
        """Set the object's record on its file, then make the bytes and the record durable with
        one fsync (and drop the file's pages: storage.pagecache). False: the file keeps no
        attribute, and the commit writes the record to a sidecar."""
        labelled = self._label(fd, record)
        os.fsync(fd)
        forget_cached(fd)
        return labelled

    def _label(self, fd: int, value: bytes, *, name: str = _META_ATTR) -> bool:
        """Set an extended attribute of the open file `fd`, durable at its next fsync. False
        when it must go to a sidecar instead: the filesystem keeps no user attributes, or not
        one this large."""
        if not self._attributes:
            return False
        try:
            os.setxattr(fd, name, value)
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                self._attributes = False
                return False
            if exc.errno in (errno.E2BIG, errno.ERANGE, errno.ENOSPC):  # the inode's attribute space
                return False
            raise
        return True

    def _require_sealer(self, sha256: str) -> Sealer:
        if self._sealer is None:
            raise NodeKeyUnavailable(
                f"stored material {sha256} in {self._root} is sealed, but this store was opened "
                "without a node key; configure the node's key file"
            )
        return self._sealer

    def _paths(self, sha256: str) -> tuple[Path, Path]:
        path = self._root / object_key(sha256)
        return path, path.with_name(path.name + _META_SUFFIX)


def _attribute(path: Path, name: str) -> bytes | None:
    """An extended attribute of `path`; None when it has none of that name (its record is in a
    sidecar, or not there yet). FileNotFoundError when `path` is absent."""
    if not hasattr(os, "getxattr"):
        return None
    try:
        return os.getxattr(path, name)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise


def _attribute_if_present(path: Path, name: str) -> bytes | None:
    try:
        return _attribute(path, name)
    except FileNotFoundError:
        return None


def _bytes_if_present(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _record_bytes(path: Path) -> tuple[bytes, bool]:
    """An object's metadata record as stored, and whether it is in the attribute (else in the
    sidecar, read only then). FileNotFoundError when it is in neither."""
    attached = _attribute(path, _META_ATTR)
    if attached:
        return attached, True
    return path.with_name(path.name + _META_SUFFIX).read_bytes(), False


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_object_name(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _same_filesystem(path: Path, folder: Path) -> bool:
    try:
        return os.stat(path).st_dev == os.stat(folder).st_dev
    except OSError:
        return False


def _remove_older(folder: Path, temp_name: tuple[str, str], cutoff: float) -> None:
    prefix, suffix = temp_name
    with os.scandir(folder) as entries:
        for entry in entries:
            if not (entry.name.startswith(prefix) and entry.name.endswith(suffix)):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass  # its writer finished, or another store opening removed it first


def _encoded_record(
    sha256: str, size: int, media_type: str, user_metadata: dict[str, str], sealed: dict[str, object] | None,
) -> bytes:
    """An object's metadata record as stored: in its attribute or its sidecar."""
    record: dict[str, object] = {
        "format": _META_FORMAT,
        "sha256": sha256,
        "size": size,
        "media_type": media_type,
        "metadata": user_metadata if sealed is None else {},
    }
    if sealed is not None:
        record["sealed"] = sealed
    return json.dumps(record, ensure_ascii=False).encode()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a sibling temp file, fsync, then rename over `path`."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=_META_TEMP[0], suffix=_META_TEMP[1])
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def fsync_directory(directory: Path) -> None:
    """Persist renames in `directory` (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
