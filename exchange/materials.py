"""Checks on application materials before they are stored: names, sizes, declared types."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from exchange.errors import IllegalTransition, InvalidRequest

# A material this small goes inside the forward, up to this much in all: a stream per material
# costs both nodes more than its bytes do, and most scans are under a megabyte. The rest are
# pushed in resumable streams, which a forward of many megabytes would not be. The receiver
# holds a forward to the same limits.
CARRIED_EACH = 1 << 20
CARRIED_IN_ALL = 4 << 20

if TYPE_CHECKING:
    from exchange.catalog import Matter
    from exchange.ports import ObjectStore

# Magic numbers of the formats a window scans to; a declared type must match the bytes.
_SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


def check_file_name(name: str) -> str:
    if not name or len(name) > 255:
        raise InvalidRequest("file_name", "give a file name of 1 to 255 characters")
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise InvalidRequest("file_name", "a file name may not contain path separators")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidRequest("file_name", "a file name may not contain control characters")
    return name


def check_media_type(media_type: str) -> str:
    if media_type not in _SIGNATURES:
        raise InvalidRequest(
            "media_type", f"{media_type!r} is not accepted; send one of {sorted(_SIGNATURES)}"
        )
    return media_type


def check_declared_size(size: int, *, max_bytes: int) -> int:
    if size <= 0:
        raise InvalidRequest("size", "the file is empty; scan the material again")
    if size > max_bytes:
        raise InvalidRequest("size", f"the file is {size} bytes, larger than the limit of {max_bytes} bytes")
    return size


def check_content_type(data: bytes, *, media_type: str, at: int = 0) -> None:
    """Refuse as early as the first bytes show that the content is not the declared type.
    `data` starts at offset `at` of the file: the type's signature is checked however the
    bytes are split into messages (a first message of one byte checks one byte, the next the rest)."""
    signature = _SIGNATURES[media_type][0]
    expected = signature[at:at + len(data)]
    if data[: len(expected)] != expected:
        raise InvalidRequest("media_type", f"the content is not {media_type}; check the scanned file")


def check_content_complete(size: int, *, media_type: str) -> None:
    """A whole file shorter than its type's signature passed every prefix check and is still not of the type."""
    if size < len(_SIGNATURES[media_type][0]):
        raise InvalidRequest("media_type", f"the content is not {media_type}; check the scanned file")


class TransferOffsetMismatch(IllegalTransition):
    """The sender resumed from another offset than the one the receiver confirmed."""


class TransferBusy(IllegalTransition):
    """Another stream is still delivering the same material (e.g. the receiver has not yet
    noticed that the sender's previous connection died); retry shortly."""


class PartialUpload(Protocol):
    """A material being received between nodes, kept across broken streams and restarts."""

    size: int

    @property
    def confirmed(self) -> int: ...

    @property
    def received(self) -> int: ...

    def append(self, data: bytes) -> None: ...

    def close(self) -> None:
        """End of one stream: keep what is durable, release the upload for the next stream."""

    def sha256(self) -> str:
        """Of everything received (re-reading the whole upload if it was resumed)."""

    def commit(self, *, sha256: str, metadata: Mapping[str, str]) -> Any:
        """Put the complete, checked upload into the object store."""

    def discard(self) -> None: ...


class PartialUploads(Protocol):
    def confirmed_offset(self, *, case_number: str, sha256: str) -> int: ...

    def holds(self, *, case_number: str, sha256: str) -> bool: ...

    def open(self, *, case_number: str, sha256: str, declared: Mapping[str, Any]) -> PartialUpload: ...

    def record_refusal(self, *, case_number: str, sha256: str, from_province: str, reason: str) -> None: ...


def guarded_chunks(
    chunks: Iterable[bytes], *, media_type: str, max_bytes: int
) -> Iterator[bytes]:
    """Pass chunks through, refusing empty files, oversize files and content that is not of
    the declared type. Errors surface while the store consumes the stream, before anything
    becomes visible."""
    total = 0
    for chunk in chunks:
        if not chunk:
            continue
        check_content_type(chunk, media_type=media_type, at=total)
        total += len(chunk)
        if total > max_bytes:
            raise InvalidRequest("data", f"the file is larger than the limit of {max_bytes} bytes")
        yield chunk
    if total == 0:
        raise InvalidRequest("data", "the file is empty; scan the material again")
    check_content_complete(total, media_type=media_type)


def retain_for_matter(store: ObjectStore, *, matter: Matter, materials: Iterable[Mapping[str, Any]], now: datetime) -> None:
    """保管期限: once materials belong to a case, its matter decides how long they stay
    write-once (Matter.retention_years). The store applies it in its own retention mode and
    keeps any longer retention a material already has (the same bytes in another matter's
    case). Done before the case records them, so no case holds a material left deletable."""
    until = matter.retained_until(now)
    for material in materials:
        store.retain_until(str(material["sha256"]), until=until)
