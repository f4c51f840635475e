"""Replaying a node's recorded history, for auditors: one case's timeline, the whole log in
order (a page at a time, so millions of events replay in constant memory), the state of a case
as of a version or a moment, and exports for other tools. Personal data stays masked."""

from __future__ import annotations

import csv
import io
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from exchange.case import Case, case_id
from exchange.errors import InvalidRequest, NotFound
from exchange.ledger import CaseLedger, replay
from exchange.people import mask_file_name, mask_person, mask_text

_NOT_DETAIL = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
PAGE_SIZE = 1000


@dataclass(frozen=True)
class TimelineEntry:
    version: int
    event: str
    recorded_at: datetime
    actor: dict[str, str]
    detail: dict[str, Any]


@dataclass(frozen=True)
class LogEntry:
    """One event of a node's log as an auditor sees it."""

    node: str
    notification_id: int
    case_number: str
    version: int
    event: str
    recorded_at: datetime
    actor: dict[str, str]
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node, "notification_id": self.notification_id, "case_number": self.case_number,
            "version": self.version, "event": self.event, "recorded_at": self.recorded_at.isoformat(),
            "actor": dict(self.actor), "detail": self.detail,
        }


def masked_detail(event: object, *, reveal: bool = False) -> dict[str, Any]:
    """An event's fields for an auditor. Personal data (names, ID numbers, phone numbers,
    addresses, file names) is masked unless `reveal`: only an auditor whose role allows it
    (see nodes.audit_cli) asks for that."""
    fields = {k: v for k, v in vars(event).items() if k not in _NOT_DETAIL}
    return fields if reveal else mask_fields(fields)


def mask_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for person in ("applicant", "agent"):
        if isinstance(out.get(person), dict):
            out[person] = mask_person(out[person])
    if isinstance(out.get("address"), str):
        out["address"] = mask_text(out["address"])
    if isinstance(out.get("materials"), list):
        out["materials"] = [{**m, "file_name": mask_file_name(str(m["file_name"]))}
                            if isinstance(m, dict) and "file_name" in m else m for m in out["materials"]]
    return out


def timeline(ledger: CaseLedger, case_number: str, *, reveal: bool = False) -> list[TimelineEntry]:
    events = list(ledger.repository.event_store.get(case_id(case_number)))
    if not events:
        raise NotFound(f"no case {case_number} at this node")
    return [
        TimelineEntry(
            version=e.originator_version,
            event=type(e).__name__,
            recorded_at=e.timestamp,
            actor=dict(getattr(e, "actor", {}) or {}),
            detail=masked_detail(e, reveal=reveal),
        )
        for e in events
    ]


class _CaseNumbers:
    """Aggregate id -> case number with a bounded memory: only creation events name the case."""

    def __init__(self, ledger: CaseLedger, capacity: int = 10000) -> None:
        self.ledger, self.capacity = ledger, capacity
        self._known: OrderedDict[UUID, str] = OrderedDict()

    def remember(self, originator_id: UUID, number: str) -> None:
        self._known[originator_id] = number
        self._known.move_to_end(originator_id)
        if len(self._known) > self.capacity:
            self._known.popitem(last=False)

    def of(self, originator_id: UUID) -> str:
        number = self._known.get(originator_id)
        if number is None:
            first = self.ledger.repository.event_store.get(originator_id, lte=1)
            number = next((getattr(e, "case_number", "") for e in first), "")
            self.remember(originator_id, number)
        return number


def replay_log(
    ledger: CaseLedger, *, node: str, after: int = 0, limit: int | None = None,
    page_size: int = PAGE_SIZE, progress: Callable[[int], None] | None = None, reveal: bool = False,
) -> Iterator[LogEntry]:
    """Every event of the node after notification id `after`, in recorded order."""
    numbers = _CaseNumbers(ledger)
    seen = 0
    while limit is None or seen < limit:
        want = page_size if limit is None else min(page_size, limit - seen)
        page = ledger.recorder.select_notifications(start=after + 1, limit=want)
        if not page:
            return
        for n in page:
            e = ledger.mapper.to_domain_event(n)
            number = getattr(e, "case_number", None)
            if number is not None:
                numbers.remember(e.originator_id, number)
            yield LogEntry(
                node=node, notification_id=n.id,
                case_number=number if number is not None else numbers.of(e.originator_id),
                version=e.originator_version, event=type(e).__name__, recorded_at=e.timestamp,
                actor=dict(getattr(e, "actor", {}) or {}), detail=masked_detail(e, reveal=reveal),
            )
        seen += len(page)
        after = page[-1].id
        if progress is not None:
            progress(seen)


def case_log(ledger: CaseLedger, case_number: str, *, node: str, reveal: bool = False) -> list[LogEntry]:
    """One case's events at this node with their place in the node's log."""
    oid = case_id(case_number)
    stored = list(ledger.recorder.select_events(oid))
    if not stored:
        raise NotFound(f"no case {case_number} at this node")
    ids = _notification_ids(ledger, oid)
    entries = []
    for s in stored:
        e = ledger.mapper.to_domain_event(s)
        entries.append(LogEntry(
            node=node, notification_id=ids.get(e.originator_version, 0), case_number=case_number,
            version=e.originator_version, event=type(e).__name__, recorded_at=e.timestamp,
            actor=dict(getattr(e, "actor", {}) or {}), detail=masked_detail(e, reveal=reveal),
        ))
    return entries


def _notification_ids(ledger: CaseLedger, oid: UUID) -> dict[int, int]:
    """Versions of one aggregate -> notification ids, when the recorder can tell."""
    finder = getattr(ledger.recorder, "notification_ids_of", None)
    return dict(finder(oid)) if finder is not None else {}


def merge_timelines(*logs: Iterable[LogEntry]) -> list[LogEntry]:
    """One case across the nodes that touched it, in the order things happened."""
    return sorted((e for log in logs for e in log), key=lambda e: (e.recorded_at, e.node, e.version))


@dataclass(frozen=True)
class CaseState:
    case_number: str
    version: int
    as_of: datetime
    fields: dict[str, Any]


def state_at(ledger: CaseLedger, case_number: str, *, version: int | None = None,
             moment: datetime | None = None, reveal: bool = False) -> CaseState:
    """The case as this node knew it at `version`, or at `moment`: every event up to the first
    one stamped after it. Stamps come from the clocks of the replicas that recorded them and can
    step back; an event recorded after a later-stamped one is not counted by going past it."""
    if version is not None and moment is not None:
        raise InvalidRequest("version", "give a version or a moment, not both")
    events = list(ledger.repository.event_store.get(case_id(case_number)))
    if not events:
        raise NotFound(f"no case {case_number} at this node")
    if moment is not None:
        if moment.tzinfo is None:
            raise InvalidRequest("moment", "give a time zone, e.g. 2025-11-23T10:00:00+08:00")
        after = next((i for i, e in enumerate(events) if e.timestamp > moment), len(events))
        if after == 0:
            raise NotFound(f"case {case_number} did not exist yet at {moment.isoformat()}")
        version = events[after - 1].originator_version
    last = events[-1].originator_version
    if version is None:
        version = last
    if not 1 <= version <= last:
        raise InvalidRequest("version", f"case {case_number} has versions 1..{last} at this node")
    case = ledger.repository.get(case_id(case_number), version=version, projector_func=replay)
    assert isinstance(case, Case)
    return CaseState(case_number=case_number, version=version,
                     as_of=events[version - 1].timestamp, fields=_case_fields(case, reveal=reveal))


def _case_fields(case: Case, *, reveal: bool) -> dict[str, Any]:
    fields = {
        "status": case.status.value,
        "matter_code": case.matter_code,
        "origin_province": case.origin_province,
        "competent_province": case.competent_province,
        "competent_department": case.competent_department,
        "applicant": dict(case.applicant),
        "agent": dict(case.agent) if case.agent else None,
        "materials": [dict(m) for m in case.materials],
        "result": dict(case.result) if case.result else None,
        "prints": [dict(p) for p in case.prints],
        "refusals": len(case.refusals),
        "erasure": dict(case.erasure) if getattr(case, "erasure", None) else None,
    }
    return fields if reveal else mask_fields(fields)


# -- exports and rendering ----------------------------------------------------------------

CSV_COLUMNS = ("node", "notification_id", "case_number", "version", "event", "recorded_at",
               "actor_node", "actor_department", "actor_operator", "detail_json")


def json_line(entry: LogEntry) -> str:
    return json.dumps(entry.to_dict(), ensure_ascii=False, sort_keys=True, default=str)


def csv_lines(entries: Iterable[LogEntry], *, header: bool = True) -> Iterator[str]:
    """CSV text, a line at a time (RFC 4180 quoting), so exports stream."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    if header:
        writer.writerow(CSV_COLUMNS)
        yield take()
    for e in entries:
        writer.writerow((
            e.node, e.notification_id, e.case_number, e.version, e.event, e.recorded_at.isoformat(),
            e.actor.get("node", ""), e.actor.get("department", ""), e.actor.get("operator", ""),
            json.dumps(e.detail, ensure_ascii=False, sort_keys=True, default=str),
        ))
        yield take()


def render_timeline(entries: Iterable[LogEntry], *, tz: Any = None) -> str:
    """A readable timeline for a terminal: when, where, who, what."""
    lines = []
    for e in entries:
        when = e.recorded_at.astimezone(tz) if tz is not None else e.recorded_at
        who = "/".join(x for x in (e.actor.get("department", ""), e.actor.get("operator", "")) if x) or "-"
        what = _summary(e)
        # To the microsecond, as recorded: a moment copied from here into state-at finds what is shown.
        lines.append(f"{when:%Y-%m-%d %H:%M:%S.%f}  node {e.node}  v{e.version:<3} {e.event:<16} {who:<28} {what}")
    return "\n".join(lines)


def _summary(e: LogEntry) -> str:
    d = e.detail
    if "to_province" in d:
        return f"→ {d['to_province']}"
    if "sha256" in d:
        return f"result sha256 {str(d['sha256'])[:16]}…"
    if "copies" in d:
        return f"{d['copies']} copy(ies)"
    if "matter_code" in d:
        return f"{d['matter_code']} for {d.get('applicant', {}).get('id_number', '')}"
    if "report" in d:
        return f"{d['report'].get('verdict', '')} {d['report'].get('reason', '') or ''}".strip()
    return ""
