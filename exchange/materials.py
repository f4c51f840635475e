"""Checks on application materials before they are stored: names, sizes, declared types."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator

from exchange.errors import InvalidRequest

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


def guarded_chunks(
    chunks: Iterable[bytes], *, media_type: str, max_bytes: int
) -> Iterator[bytes]:
    """Pass chunks through, refusing empty files, oversize files and content that is not of
    the declared type. Errors surface while the store consumes the stream, before anything
    becomes visible."""
    total = 0
    head_checked = False
    for chunk in chunks:
        if not chunk:
            continue
        if not head_checked:
            if not chunk.startswith(_SIGNATURES[media_type]):
                raise InvalidRequest(
                    "media_type", f"the content is not {media_type}; check the scanned file"
                )
            head_checked = True
        total += len(chunk)
        if total > max_bytes:
            raise InvalidRequest("data", f"the file is larger than the limit of {max_bytes} bytes")
        yield chunk
    if total == 0:
        raise InvalidRequest("data", "the file is empty; scan the material again")
