"""Replaying a node's log from a real SQLite store: in order, a page at a time, the state of a case
at a version or a moment, and exports other tools can read."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from exchange.audit import case_log, csv_lines, json_line, render_timeline, replay_log, state_at
from exchange.errors import InvalidRequest, NotFound
from exchange.ledger import CaseLedger
from storage.eventstore import EventStoreSettings
from tests.integration.test_audit_chain import NODE, record_cases


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    yield ledger
    ledger.close()


def test_the_whole_log_replays_in_recorded_order_a_page_at_a_time(ledger: CaseLedger) -> None:
    numbers = record_cases(ledger, 7)
    pages: list[int] = []
    entries = list(replay_log(ledger, node=NODE, page_size=3, progress=pages.append))
    assert [e.notification_id for e in entries] == list(range(1, 15))
    assert pages == [3, 6, 9, 12, 14]  # never more than one page held
    assert [e.case_number for e in entries] == [n for n in numbers for _ in range(2)]
    assert [e.event for e in entries[:2]] == ["Submitted", "Forwarded"]
    assert entries[1].actor["operator"] == "clerk-hefei-001"
    assert list(replay_log(ledger, node=NODE, after=10, limit=2, page_size=1)) == entries[10:12]


def test_replay_names_the_case_of_events_whose_creation_it_did_not_read(ledger: CaseLedger) -> None:
    record_cases(ledger, 2)
    later = list(replay_log(ledger, node=NODE, after=3))  # starts at the second case's Forwarded
    assert later[0].event == "Forwarded" and later[0].case_number.endswith("000001")


def test_the_state_of_a_case_at_a_version_and_at_a_moment(ledger: CaseLedger) -> None:
    number = record_cases(ledger, 1)[0]
    assert state_at(ledger, number, version=1).fields["status"] == "submitted"
    submitted_at = state_at(ledger, number, version=1).as_of
    assert state_at(ledger, number).fields["status"] == "forwarded"
    assert state_at(ledger, number, moment=submitted_at).version in (1, 2)
    assert state_at(ledger, number, moment=datetime.now(timezone.utc)).version == 2
    assert "****" in state_at(ledger, number).fields["applicant"]["id_number"]
    with pytest.raises(NotFound, match="did not exist yet"):
        state_at(ledger, number, moment=submitted_at - timedelta(days=1))
    with pytest.raises(InvalidRequest, match="version"):
        state_at(ledger, number, version=3)
    with pytest.raises(InvalidRequest, match="time zone"):
        state_at(ledger, number, moment=datetime(2025, 1, 1))


def test_exports_are_json_lines_and_csv_with_personal_data_masked(ledger: CaseLedger) -> None:
    number = record_cases(ledger, 1)[0]
    entries = case_log(ledger, number, node=NODE)
    assert [e.notification_id for e in entries] == [1, 2]
    lines = [json.loads(json_line(e)) for e in entries]
    assert lines[0]["detail"]["applicant"]["id_number"].startswith("3301") and "19850315" not in json_line(entries[0])
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(entries)))))
    assert [r["event"] for r in rows] == ["Submitted", "Forwarded"]
    assert json.loads(rows[0]["detail_json"])["applicant"]["name"] == "王**"  # the family name only
    text = render_timeline(entries)
    assert "Submitted" in text and "→ 330000" in text and "clerk-hefei-001" in text


def test_a_case_unknown_to_the_node_is_not_found(ledger: CaseLedger) -> None:
    with pytest.raises(NotFound):
        case_log(ledger, "KS-340000-20251123-999999", node=NODE)


def test_a_moment_stops_at_the_first_event_stamped_after_it_even_when_a_replicas_clock_stepped_back(
    ledger: CaseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing import domain

    from exchange.case import Case
    from exchange.people import make_resident_id

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).astimezone(timezone.utc)

    clock = [at("2025-11-23T11:00:00.000+08:00"), at("2025-11-23T11:00:01.080+08:00"),  # Forwarded, one replica
             at("2025-11-23T11:00:01.020+08:00")]  # ResultReceived by another whose clock is 60 ms behind
    monkeypatch.setattr(domain.CanCreateTimestamp, "create_timestamp", staticmethod(lambda: clock.pop(0)))
    actor = {"node": NODE, "department": "", "operator": "clerk-1"}
    number = f"{NODE}-20251123-00000002"
    case = Case.submit(case_number=number, matter_code="KS2020-044", mode="proxy", origin_province=NODE,
                       competent_province="330000", competent_department="market",
                       applicant={"name": "王小明", "id_number": make_resident_id("33010619850315123")},
                       materials=[], checklist={}, actor=actor)
    case.forward(actor=actor)
    case.receive_result(sha256="ab" * 32, object_key="k", actor=actor)
    ledger.save(case)

    between = state_at(ledger, number, moment=at("2025-11-23T11:00:01.050+08:00"))
    assert (between.version, between.fields["status"]) == (1, "submitted")  # before: v3, result_received


def test_a_moment_copied_from_the_timeline_finds_the_event_shown_there(ledger: CaseLedger) -> None:
    number = record_cases(ledger, 1)[0]
    shown = render_timeline(case_log(ledger, number, node=NODE)).splitlines()[0][:26]  # the first event's time
    moment = datetime.fromisoformat(shown).replace(tzinfo=timezone.utc)
    assert state_at(ledger, number, moment=moment).version >= 1  # before: shown to the second, "did not exist yet"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_moment_outside_the_calendar_in_utc_is_a_clear_refusal(value: str) -> None:
    from exchange.validation import moment

    with pytest.raises(InvalidRequest, match="outside the years 1–9999 in UTC"):
        moment(value, field="since")
