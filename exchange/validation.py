"""The formats of the values that cross a node's boundary: province codes, case numbers, hashes,
dates, identifiers and free text. Each check returns the value or raises InvalidRequest naming
the field, so a caller learns exactly which field to fix. No I/O, no gRPC."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from datetime import date, datetime, timezone

from exchange.errors import InvalidRequest

# [0-9], not \d: \d also takes full-width and Arabic-Indic digits, which no case number has.
PROVINCE_CODE = re.compile(r"^[0-9]{6}$")
CASE_NUMBER = re.compile(r"^([0-9]{6})-([0-9]{8})-([0-9A-F]{8})$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # material kinds, department keys, steps
TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # operator ids, message ids, matter codes

SHORT_TEXT = 200  # names, reasons on one line, carriers, tracking numbers
LONG_TEXT = 4000  # notes, comments, addresses
# Line breaks and tabs are fine in a note; every other control character is refused: they
# forge log lines, hide text in consoles and have no place in a government record.
_ALLOWED_IN_NOTES = frozenset("\n\t")


def text(value: str, *, field: str, max_length: int = SHORT_TEXT, required: bool = False,
         multiline: bool = False) -> str:
    if required and not value.strip():
        raise InvalidRequest(field, "this field is required")
    if len(value) > max_length:
        raise InvalidRequest(field, f"{len(value)} characters is longer than the limit of {max_length}")
    allowed = _ALLOWED_IN_NOTES if multiline else frozenset()
    for ch in value:
        if ch not in allowed and unicodedata.category(ch) in {"Cc", "Cs", "Co", "Cn"}:
            raise InvalidRequest(field, f"contains the control or unassigned character U+{ord(ch):04X}; remove it")
    return value


def province_code(value: str, *, field: str, known: Collection[str] | None = None, required: bool = True) -> str:
    if not value and not required:
        return value
    if not PROVINCE_CODE.fullmatch(value):
        raise InvalidRequest(field, f"{_shown(value)} is not a province code (six digits, e.g. 340000)")
    if known is not None and value not in known:
        raise InvalidRequest(field, f"{value} is not a province of this federation")
    return value


def case_number(value: str, *, field: str = "case_number", known_provinces: Collection[str] | None = None,
                required: bool = True) -> str:
    """<province>-<YYYYMMDD>-<8 upper-case hex>, as a window numbers the cases it takes in."""
    if not value and not required:
        return value
    found = CASE_NUMBER.fullmatch(value)
    if not found:
        raise InvalidRequest(field, f"{_shown(value)} is not a case number (<province>-<YYYYMMDD>-<8 hex>, "
                             "e.g. 340000-20261123-1A2B3C4D)")
    province, day, _ = found.groups()
    if known_provinces is not None and province not in known_provinces:
        raise InvalidRequest(field, f"case {value} names province {province}, which is not in this federation")
    try:
        date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise InvalidRequest(field, f"case {value} carries the date {day}, which does not exist") from None
    return value


def sha256(value: str, *, field: str = "sha256", required: bool = True) -> str:
    if not value and not required:
        return value
    if not SHA256.fullmatch(value):
        raise InvalidRequest(field, f"{_shown(value)} is not a SHA-256 (64 lower-case hex digits)")
    return value


def identifier(value: str, *, field: str, required: bool = True) -> str:
    if not value and not required:
        return value
    if not IDENTIFIER.fullmatch(value):
        raise InvalidRequest(field, f"{_shown(value)} is not a name of lower-case letters, digits and _ "
                             "(at most 64, starting with a letter)")
    return value


def token(value: str, *, field: str, required: bool = True) -> str:
    """Operator ids, matter codes, message ids: ASCII letters, digits and . _ : -."""
    if not value and not required:
        return value
    if not TOKEN.fullmatch(value):
        raise InvalidRequest(field, f"{_shown(value)} is not an identifier of letters, digits and . _ : - "
                             "(at most 128)")
    return value


def moment(value: str, *, field: str, required: bool = False) -> datetime | None:
    """An ISO 8601 time with its UTC offset (a time without one is ambiguous across provinces)."""
    if not value and not required:
        return None
    text(value, field=field, max_length=64)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(field, f"{_shown(value)} is not an ISO 8601 time, e.g. 2026-11-23T10:00:00+08:00") from None
    if parsed.tzinfo is None:
        raise InvalidRequest(field, "give the time with its UTC offset, e.g. 2026-11-23T10:00:00+08:00")
    try:
        parsed.astimezone(timezone.utc)  # what every comparison with a recorded time does
    except OverflowError:
        raise InvalidRequest(field, f"{_shown(value)} is outside the years 1–9999 in UTC") from None
    return parsed


def bounded(value: int, *, field: str, maximum: int, minimum: int = 0) -> int:
    if not minimum <= value <= maximum:
        raise InvalidRequest(field, f"{value} is outside {minimum}..{maximum}")
    return value


def _shown(value: str) -> str:
    """Quote a refused value without echoing a huge or hostile string back."""
    if len(value) > 40:
        value = value[:40] + "…"
    return repr(value)
