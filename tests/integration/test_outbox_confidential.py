"""Outbox messages wait beside the events in the same database; what they carry (material file
names, reasons) is encrypted with the node's event key just like the events they came from."""

from __future__ import annotations

from pathlib import Path

from exchange.ledger import CaseLedger
from exchange.outbox import NOTIFY_PROGRESS, new_message
from storage.eventstore import EventStoreSettings
from storage.outbox import outbox_of


def _ledger(tmp_path: Path, *, key: bool) -> CaseLedger:
    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.db",
                                  key_file=(tmp_path / "event-keys.json") if key else None)
    return CaseLedger(env=settings.application_env())


def _queue_a_notice(ledger: CaseLedger) -> None:
    message = new_message(peer="330000", kind=NOTIFY_PROGRESS, case_number="340000-20261123-0000ABCD",
                          payload={"step": "supplemented", "detail": {"materials": [{"file_name": "王小明身份证.png"}]}},
                          at="2026-11-23T08:00:00+00:00")
    with ledger.recorder.datastore.transaction(commit=True) as cursor:
        outbox_of(ledger.recorder).write_in_transaction(cursor, outbox=[message])


def test_an_outbox_message_is_stored_encrypted_when_the_node_has_an_event_key(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, key=True)
    try:
        _queue_a_notice(ledger)
        raw = (tmp_path / "events.db").read_bytes()
        assert "王小明".encode() not in raw
        [pending] = outbox_of(ledger.recorder).pending()
        assert pending.payload["detail"]["materials"][0]["file_name"] == "王小明身份证.png"
    finally:
        ledger.close()


def test_without_an_event_key_the_outbox_keeps_plain_json(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, key=False)
    try:
        _queue_a_notice(ledger)
        [pending] = outbox_of(ledger.recorder).pending()
        assert pending.payload["step"] == "supplemented"
    finally:
        ledger.close()
