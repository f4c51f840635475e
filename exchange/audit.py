"""Replaying a node's recorded history of a case, for auditors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchange.case import case_id
from exchange.errors import NotFound
from exchange.ledger import CaseLedger
from exchange.people import mask_id

_NOT_DETAIL = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}


@dataclass(frozen=True)
class TimelineEntry:
    version: int
    event: str
    recorded_at: datetime
    actor: dict[str, str]
    detail: dict[str, Any]


def timeline(ledger: CaseLedger, case_number: str) -> list[TimelineEntry]:
    events = list(ledger.repository.event_store.get(case_id(case_number)))
    if not events:
        raise NotFound(f"no case {case_number} at this node")
    entries = []
    for e in events:
        fields = {k: v for k, v in vars(e).items() if k not in _NOT_DETAIL}
        for person in ("applicant", "agent"):  # personal data stays masked outside the case itself
            if fields.get(person):
                masked = dict(fields[person])
                masked["id_number"] = mask_id(masked.get("id_number", ""))
                fields[person] = masked
        entries.append(
            TimelineEntry(
                version=e.originator_version,
                event=type(e).__name__,
                recorded_at=e.timestamp,
                actor=dict(getattr(e, "actor", {}) or {}),
                detail=fields,
            )
        )
    return entries
