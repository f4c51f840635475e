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
