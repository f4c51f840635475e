"""Validation of what callers attach to a stored object, shared by every backend so that the
local folder and S3 accept and refuse exactly the same things."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote, unquote

from exchange.errors import InvalidRequest

# S3 caps user metadata at 2 KiB per object (keys plus values, as sent). The user metadata is
# sent percent-encoded in one header (see encode_user_metadata); 1800 characters leaves room
# for the sha256 and media-type headers. The local folder enforces the same cap so that
# switching backends never starts refusing materials that used to be accepted.
MAX_ENCODED_METADATA = 1800


def check_media_type(media_type: str) -> str:
    """Media types are ASCII tokens (RFC 6838); anything else cannot go in Content-Type."""
    if (
        not isinstance(media_type, str)
        or not media_type
        or not media_type.isascii()
        or not media_type.isprintable()
        or "/" not in media_type
    ):
        raise InvalidRequest(
            "media_type",
            f"expected an ASCII media type such as 'application/pdf', got {media_type!r}",
        )
    return media_type


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Return a plain copy of the user metadata after checking types and size."""
    checked: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise InvalidRequest(
                "metadata",
                f"keys must be non-empty strings and values strings, got {key!r}: {value!r}",
            )
        checked[key] = value
    size = len(encode_user_metadata(checked))
    if size > MAX_ENCODED_METADATA:
        raise InvalidRequest(
            "metadata",
            f"too large once encoded ({size} > {MAX_ENCODED_METADATA} characters); "
            "keep metadata to a few short fields such as the file name",
        )
    return checked


def encode_user_metadata(metadata: Mapping[str, str]) -> str:
    """One ASCII header value carrying the whole mapping losslessly.

    S3 metadata must be ASCII and servers fold header-name case (AWS lowercases, MinIO
    title-cases), so per-key headers would not round-trip keys such as `fileName` or Chinese
    keys. Compact JSON, percent-encoded with nothing left unescaped, survives both.
    """
    if not metadata:
        return ""
    text = json.dumps(dict(metadata), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return quote(text, safe="")


def decode_user_metadata(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    decoded = json.loads(unquote(value))
    if not isinstance(decoded, dict):
        raise ValueError("user metadata header is not a JSON object")
    return {str(k): str(v) for k, v in decoded.items()}


def check_sealed_metadata(sealed: str) -> str:
    """Sealed metadata is base64 (4/3 of the plaintext plus a tag), so a long ASCII mapping that
    fits unsealed can be too large once sealed; refuse it the same way on every backend."""
    if len(sealed) > MAX_ENCODED_METADATA:
        raise InvalidRequest(
            "metadata",
            f"too large once sealed ({len(sealed)} > {MAX_ENCODED_METADATA} characters); "
            "keep metadata to a few short fields such as the file name",
        )
    return sealed
