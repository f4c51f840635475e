"""The embedded default object store: a content-addressed folder on local disk.

Layout under root:
    sha256/ab/ab12…            the object's bytes, named by their SHA-256
    sha256/ab/ab12….meta.json  media type, size, sha256 and user metadata
    .incoming/                 temp files being received (same filesystem, so renames are atomic)

Commit order: the metadata sidecar is written (atomically) first and the object is renamed into
place last, so the object rename is the single commit point. `stat` treats an object as present
only when both files exist. A crash between the two steps leaves an orphan sidecar that is
invisible and is simply overwritten by the next put of the same bytes; a crash earlier leaves
only a temp file in .incoming/. We never have a visible object whose metadata is missing, and
we never need to rename two files atomically together.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path

from exchange.errors import MaterialIntegrityError, MaterialNotFound
from exchange.ports import StoredObject
from storage.keys import check_sha256, object_key
from storage.metadata import check_media_type, check_metadata
from storage.streams import VerifiedChunks, check_chunk_size

_META_SUFFIX = ".meta.json"
_META_FORMAT = 1


class LocalFolderStore:
    """ObjectStore over a folder; safe for concurrent writers within and across processes."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._incoming = self._root / ".incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)

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

        fd, temp_name = tempfile.mkstemp(dir=self._incoming, prefix="put-", suffix=".part")
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise MaterialIntegrityError(
                    f"received {size} bytes hashing to {sha256}, but the sender declared "
                    f"{expected_sha256}; nothing was stored — ask the sender to resend"
                )
            if self.stat(sha256) is None:
                path, meta_path = self._paths(sha256)
                path.parent.mkdir(parents=True, exist_ok=True)
                record = {
                    "format": _META_FORMAT,
                    "sha256": sha256,
                    "size": size,
                    "media_type": media_type,
                    "metadata": user_metadata,
                }
                _write_atomically(meta_path, json.dumps(record, ensure_ascii=False).encode())
                os.replace(temp, path)  # the commit point
                _fsync_directory(path.parent)
            # else: already stored (first metadata wins); the temp file is dropped below.
        finally:
            temp.unlink(missing_ok=True)

        stored = self.stat(sha256)
        assert stored is not None, "object vanished right after it was committed"
        return stored

    def put_bytes(
        self, data: bytes, *, media_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject:
        return self.put_stream([data], media_type=media_type, metadata=metadata)

    def stat(self, sha256: str) -> StoredObject | None:
        path, meta_path = self._paths(sha256)
        try:
            raw = meta_path.read_bytes()
            size_on_disk = path.stat().st_size
        except FileNotFoundError:
            return None  # absent, or a put crashed before its commit point
        try:
            record = json.loads(raw)
            stored = StoredObject(
                key=object_key(sha256),
                sha256=sha256,
                size=int(record["size"]),
                media_type=str(record["media_type"]),
                metadata={str(k): str(v) for k, v in record["metadata"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MaterialIntegrityError(
                f"metadata of stored material {sha256} in {self._root} is unreadable ({exc}); "
                "restore the sidecar file from a backup or store the material again"
            ) from exc
        if record.get("sha256") != sha256 or stored.size != size_on_disk:
            raise MaterialIntegrityError(
                f"stored material {sha256} in {self._root} does not match its metadata "
                f"({size_on_disk} bytes on disk, {stored.size} recorded); restore it from a replica"
            )
        return stored

    def iter_chunks(self, sha256: str, *, chunk_size: int = 1 << 20) -> VerifiedChunks:
        check_chunk_size(chunk_size)
        if self.stat(sha256) is None:
            raise MaterialNotFound(f"no material with SHA-256 {sha256} in {self._root}")
        path, _ = self._paths(sha256)
        handle = path.open("rb")
        return VerifiedChunks(
            iter(partial(handle.read, chunk_size), b""),
            sha256=sha256,
            where=str(self._root),
            release=handle.close,
        )

    def read_bytes(self, sha256: str) -> bytes:
        with self.iter_chunks(sha256) as chunks:
            return b"".join(chunks)

    def _paths(self, sha256: str) -> tuple[Path, Path]:
        path = self._root / object_key(sha256)
        return path, path.with_name(path.name + _META_SUFFIX)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a sibling temp file, fsync, then rename over `path`."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".meta-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    finally:
        Path(temp_name).unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Persist renames in `directory` (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
