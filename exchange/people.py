"""Applicant identity numbers: format check (GB 11643 checksum) and masking for logs and print;
masking of the other personal fields (names, addresses, phone numbers) for audit output."""

from __future__ import annotations

from exchange.errors import InvalidRequest

ERASED = "（已依法删除）"  # what a personal field reads as once its case key was erased
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
    if number == ERASED:
        return number
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def make_resident_id(first17: str) -> str:
    """Complete 17 digits with their check character (for demos and tests)."""
    return first17 + _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def mask_name(name: str) -> str:
    """王小明 -> 王**: the family name, the length, nothing more."""
    if not name or name == ERASED:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask_phone(number: str) -> str:
    """138****5678."""
    digits = number.strip()
    if number == ERASED or len(digits) < 7:
        return "*" * len(digits) if number != ERASED else number
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_text(text: str) -> str:
    """An address or another free personal text: its first six characters."""
    if not text or text == ERASED:
        return text
    return text[:6] + "…" if len(text) > 6 else text[0] + "*" * (len(text) - 1)


def mask_file_name(name: str) -> str:
    """File names often carry the applicant's name: keep the extension only."""
    if not name or name == ERASED:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"***.{ext}" if dot and stem else "***"


def mask_person(person: dict[str, str]) -> dict[str, str]:
    """A person record (applicant, agent) as audit output shows it by default."""
    out = dict(person)
    if "name" in out:
        out["name"] = mask_name(str(out["name"]))
    if "id_number" in out:
        out["id_number"] = mask_id(str(out["id_number"]))
    for key in ("phone", "mobile"):
        if key in out:
            out[key] = mask_phone(str(out[key]))
    if "address" in out:
        out["address"] = mask_text(str(out["address"]))
    return out
