"""Retention of stored materials: write-once until a date the matter requires.

GOVERNANCE retention may be lifted by an operator who explicitly bypasses it (and is audited
for doing so); COMPLIANCE retention cannot be lifted or shortened by anybody until it expires.
Both map one to one onto S3 object lock modes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal, Protocol

from exchange.errors import IllegalTransition, InvalidRequest

Mode = Literal["GOVERNANCE", "COMPLIANCE"]


def utc_now() -> datetime:
    return datetime.now(tz=timezone.utc)


class RetentionActive(IllegalTransition):
    """The material is retained; it may not be deleted or overwritten yet."""


@dataclass(frozen=True)
class Retention:
    mode: Mode
    until: datetime

    def __post_init__(self) -> None:
        if self.mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise InvalidRequest("retention.mode", f"expected GOVERNANCE or COMPLIANCE, got {self.mode!r}")
        if self.until.tzinfo is None:
            raise InvalidRequest("retention.until", "give the retain-until date with a time zone")

    def holds(self, now: datetime) -> bool:
        return self.until > now

    def extends(self, current: Retention) -> bool:
        """Whether replacing `current` with this one keeps the material at least as long and
        no less strictly (COMPLIANCE never becomes GOVERNANCE)."""
        if current.mode == "COMPLIANCE" and self.mode != "COMPLIANCE":
            return False
        return self.until >= current.until

    def refusal(self, sha256: str, *, action: str) -> RetentionActive:
        return RetentionActive(
            f"cannot {action} material {sha256}: it is retained ({self.mode}) until "
            f"{self.until.isoformat()} as its matter requires"
        )

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, "until": self.until.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> Retention:
        raw = json.loads(text)
        return cls(mode=raw["mode"], until=datetime.fromisoformat(raw["until"]))


@dataclass(frozen=True)
class RetentionPolicy:
    """What a store applies to every material it commits."""

    mode: Mode
    days: int

    def starting(self, now: datetime) -> Retention:
        return Retention(mode=self.mode, until=now + timedelta(days=self.days))

    def apply_to(self, store: "RetainingStore", sha256: str) -> None:
        """Give a newly committed material this policy's retention, never shortening one it has."""
        wanted = self.starting(utc_now())
        current = store.retention(sha256)
        if current is None or wanted.extends(current):
            store.retain(sha256, wanted)


def extend_retention(store: "RetainingStore", sha256: str, *, until: datetime, mode: Mode) -> Retention:
    """Make sure the material is retained until at least `until`, at least as strictly as
    `mode`: a longer or stricter retention it already has is kept. Returns what now holds."""
    current = store.retention(sha256)
    if current is not None:
        if current.until >= until and (current.mode == "COMPLIANCE" or mode == "GOVERNANCE"):
            return current
        mode = "COMPLIANCE" if "COMPLIANCE" in (mode, current.mode) else mode
        until = max(until, current.until)
    wanted = Retention(mode=mode, until=until)
    store.retain(sha256, wanted)
    return wanted


def check_mode(mode: str) -> Mode:
    """GOVERNANCE (deletion refused unless an operator explicitly bypasses it, audited) or
    COMPLIANCE (nobody can delete or shorten until it ends)."""
    upper = mode.upper()
    if upper not in ("GOVERNANCE", "COMPLIANCE"):
        raise InvalidRequest("retention_mode", f"expected GOVERNANCE or COMPLIANCE, got {mode!r}")
    return upper  # type: ignore[return-value]


class RetainingStore(Protocol):
    def retention(self, sha256: str) -> Retention | None: ...

    def retain(self, sha256: str, retention: Retention) -> None: ...


def check_deletable(
    retention: Retention | None, sha256: str, *, now: datetime, bypass_governance: bool
) -> None:
    if retention is None or not retention.holds(now):
        return
    if retention.mode == "GOVERNANCE" and bypass_governance:
        return
    raise retention.refusal(sha256, action="delete")
