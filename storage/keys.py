"""Object keys of the content-addressed store: the key is derived from the SHA-256 alone."""

from __future__ import annotations

import re

from exchange.errors import InvalidRequest

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_sha256(sha256_hex: str, *, field: str = "sha256") -> str:
    """Return the digest unchanged if it is 64 lowercase hex characters, else raise."""
    if not isinstance(sha256_hex, str) or _SHA256_HEX.fullmatch(sha256_hex) is None:
        raise InvalidRequest(
            field,
            f"expected a SHA-256 digest as 64 lowercase hex characters, got {sha256_hex!r}",
        )
    return sha256_hex


def object_key(sha256_hex: str) -> str:
    """`sha256/<first two hex>/<hex>`: the two-character fan-out keeps folders small."""
    check_sha256(sha256_hex)
    return f"sha256/{sha256_hex[:2]}/{sha256_hex}"
