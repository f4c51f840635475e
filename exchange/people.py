"""Applicant identity numbers: format check (GB 11643 checksum) and masking for logs and print."""

from __future__ import annotations

from exchange.errors import InvalidRequest

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_resident_id(number: str, *, field: str = "applicant.id_number") -> str:
    """Return the normalised 18-character resident ID number or raise InvalidRequest."""
    value = number.strip().upper()
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        raise InvalidRequest(field, "a resident ID number has 17 digits and a check character")
    expected = _CHECK[sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS)) % 11]
    if value[17] != expected:
        raise InvalidRequest(field, "the check character does not match; re-read the ID card")
    return value


def mask_id(number: str) -> str:
    """3301**********1234: enough for a clerk to recognise, too little to misuse."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def make_resident_id(first17: str) -> str:
    """Complete 17 digits with their check character (for demos and tests)."""
    return first17 + _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]
