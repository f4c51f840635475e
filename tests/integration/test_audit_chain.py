"""The hash chain is recorded with every event on SQLite and PostgreSQL, and tampering with the
stored log through SQL (as a database administrator could) is detected and located."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from exchange.case import Case
from exchange.ledger import CaseLedger
from exchange.outbox import NOTIFY_PROGRESS, new_message
from exchange.people import make_resident_id
from signing.checkpoint import TrustAnchors, sign_checkpoint, verify_signed_checkpoint
from signing.pki import Federation
from storage.chain import LogStore, grant_append_only
from storage.eventstore import EventStoreSettings, open_log_store
from storage.logcheck import anchors_from, checkpoint_of, record_checkpoint, recorded_checkpoints, verify_log
from storage.outbox import outbox_of

NODE = "340000"
ACTOR = {"node": NODE, "department": "", "operator": "clerk-hefei-001"}


def record_cases(ledger: CaseLedger, count: int, *, first: int = 0) -> list[str]:
    numbers = []
    for i in range(first, first + count):
        number = f"KS-{NODE}-20251123-{i:06d}"
        case = Case.submit(
            case_number=number, matter_code="KS2020-044", mode="proxy", origin_province=NODE,
            competent_province="330000", competent_department="market",
            applicant={"name": "王小明", "id_number": make_resident_id("33010619850315123")},
            materials=[], checklist={}, actor=ACTOR,
        )
        case.forward(actor=ACTOR)
        ledger.save(case)
        numbers.append(number)
    return numbers


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> EventStoreSettings:
    if request.param == "sqlite":
        return EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite")
    base = request.getfixturevalue("postgres_schema")
    return dataclasses.replace(base, schema=f"{base.schema}_{NODE}")


@pytest.fixture
def log(settings: EventStoreSettings) -> Iterator[tuple[EventStoreSettings, LogStore]]:
    ledger = CaseLedger(env=settings.application_env())
    record_cases(ledger, 6)  # 12 entries: Submitted + Forwarded per case
    ledger.close()
    with open_log_store(settings) as store:
        yield settings, store


def tamper(store: LogStore, settings: EventStoreSettings, *statements: str) -> None:
    """What an administrator with full rights can do: switch the guards off and edit."""
    if settings.kind == "sqlite":
        conn = store.conn  # type: ignore[attr-defined]
        for name, in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        for s in statements:
            conn.execute(s.format(events="stored_events", chain="stored_events_chain", nid="rowid"))
    else:
        schema = settings.schema
        with psycopg.connect(host=settings.host, port=settings.port, dbname=settings.dbname,
                             user=settings.user, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute("SET session_replication_role = replica")  # disables triggers
            for s in statements:
                conn.execute(s.format(events="tongban_events", chain="tongban_events_chain",
                                      nid="notification_id"))


def kinds(report) -> set[tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    return {(p.kind, p.position) for p in report.problems}


def test_a_log_recorded_through_the_node_verifies(log) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    report = verify_log(store, node=NODE)
    assert report.verdict == "TOTAL_PASSED", report.render()
    assert report.entries == 12 and report.events == 12


def test_the_stored_log_refuses_update_and_delete(log) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    if settings.kind == "sqlite":
        import sqlite3

        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.conn.execute("UPDATE stored_events SET topic = 'x'")  # type: ignore[attr-defined]
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.conn.execute("DELETE FROM stored_events_chain")  # type: ignore[attr-defined]
    else:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            store._execute(f'UPDATE "{settings.schema}".tongban_events SET topic = %s', ("x",))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            store._execute(f'TRUNCATE "{settings.schema}".tongban_events_chain')


def test_an_edited_event_is_detected_and_located(log) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    # Copy another case's valid stored state over entry 5 (the cipher would not notice).
    tamper(store, settings, "UPDATE {events} SET state = (SELECT state FROM {events} WHERE {nid} = 1) "
                            "WHERE {nid} = 5")
    report = verify_log(store, node=NODE)
    assert report.verdict == "TOTAL_FAILED"
    assert kinds(report) == {("altered", 5)}


def test_a_deleted_event_is_detected_and_located(log) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    tamper(store, settings, "DELETE FROM {events} WHERE {nid} = 7")
    report = verify_log(store, node=NODE)
    assert kinds(report) == {("deleted", 7)}


def test_a_deleted_event_with_its_chain_entry_is_detected_and_located(log) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    tamper(store, settings, "DELETE FROM {events} WHERE {nid} = 7", "DELETE FROM {chain} WHERE position = 7")
    report = verify_log(store, node=NODE)
    assert ("deleted", 8) in kinds(report) and ("chain_broken", 8) in kinds(report)


def test_two_reordered_events_are_detected_and_located(log) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    # Swap the contents of entries 3 and 4 (a case's Forwarded before another's Submitted).
    tamper(store, settings,
           "UPDATE {events} SET originator_version = originator_version + 1000 WHERE {nid} IN (3, 4)",
           "UPDATE {events} SET {nid} = 1000003 WHERE {nid} = 3",
           "UPDATE {events} SET {nid} = 3 WHERE {nid} = 4",
           "UPDATE {events} SET {nid} = 4 WHERE {nid} = 1000003",
           "UPDATE {events} SET originator_version = originator_version - 1000 WHERE {nid} IN (3, 4)")
    report = verify_log(store, node=NODE)
    assert kinds(report) == {("altered", 3), ("altered", 4)}


def test_a_truncated_log_is_detected_against_its_signed_checkpoint(log, federation: Federation) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    cert, key = federation.node_tls(NODE)
    signed = sign_checkpoint(checkpoint_of(store, log=NODE, signed_at=_now()), cert_pem=cert, key_pem=key)
    record_checkpoint(store, signed)
    anchors = TrustAnchors(root_pem=federation.root_pem(),
                           province_ca_pems=[federation.province_ca_pem(c) for c in federation.provinces])
    kept = recorded_checkpoints(store)
    assert verify_signed_checkpoint(kept[0], anchors=anchors) == []
    assert verify_log(store, node=NODE, anchors=anchors_from(kept, source="node")).passed
    # Drop the last case's two events and their chain entries: the chain alone stays consistent...
    tamper(store, settings, "DELETE FROM {events} WHERE {nid} > 10", "DELETE FROM {chain} WHERE position > 10")
    assert verify_log(store, node=NODE).passed
    # ...but the signed checkpoint remembers the size and the tree head.
    report = verify_log(store, node=NODE, anchors=anchors_from(kept, source="node"))
    assert kinds(report) == {("truncated", 11)}


def test_a_rewritten_and_rechained_history_breaks_the_signed_tree_head(log, federation: Federation) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    cert, key = federation.node_tls(NODE)
    signed = sign_checkpoint(checkpoint_of(store, log=NODE, signed_at=_now()), cert_pem=cert, key_pem=key)
    # An administrator who recomputes every hash after editing entry 2 keeps the chain whole.
    tamper(store, settings, "UPDATE {events} SET state = (SELECT state FROM {events} WHERE {nid} = 4) "
                            "WHERE {nid} = 2")
    from storage.chain import GENESIS, chain_hash

    prev, fixes = GENESIS, []
    for event in list(store.iter_events()):
        leaf = event.leaf()
        prev = chain_hash(prev, leaf)
        fixes.append(f"UPDATE {{chain}} SET leaf_hash = X'{leaf.hex()}', chain_hash = X'{prev.hex()}' "
                     f"WHERE notification_id = {event.notification_id}")
    if settings.kind == "postgres":
        fixes = [f.replace("X'", "'\\x") for f in fixes]
    tamper(store, settings, *fixes)
    assert verify_log(store, node=NODE).passed  # the chain alone cannot tell
    report = verify_log(store, node=NODE, anchors=anchors_from([signed], source="node"))
    assert ("rewritten", 12) in kinds(report)


def test_events_inserted_behind_the_nodes_back_are_reported_unchained(log) -> None:  # type: ignore[no-untyped-def]
    settings, store = log
    if settings.kind == "sqlite":
        tamper(store, settings, "INSERT INTO {events} SELECT originator_id, 99, topic, state FROM {events} "
                                "WHERE {nid} = 2")
    else:
        tamper(store, settings, "ALTER TABLE {events} DISABLE TRIGGER USER",
               "INSERT INTO {events} (originator_id, originator_version, topic, state) "
               "SELECT originator_id, 99, topic, state FROM {events} WHERE {nid} = 2",
               "ALTER TABLE {events} ENABLE TRIGGER USER")
    report = verify_log(store, node=NODE)
    assert [p.kind for p in report.problems] == ["unchained"]


@pytest.mark.postgres
def test_a_node_role_with_append_only_grants_cannot_update_or_delete(
    postgres_schema: EventStoreSettings,
) -> None:
    settings = dataclasses.replace(postgres_schema, schema=f"{postgres_schema.schema}_{NODE}")
    ledger = CaseLedger(env=settings.application_env())
    record_cases(ledger, 1)
    ledger.close()
    with append_only_role(settings) as role, psycopg.connect(
        host=settings.host, port=settings.port, dbname=settings.dbname, user=role, autocommit=True,
    ) as node:
        assert node.execute(f'SELECT count(*) FROM "{settings.schema}".tongban_events').fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            node.execute(f'DELETE FROM "{settings.schema}".tongban_events_chain')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            node.execute(f'ALTER TABLE "{settings.schema}".tongban_events DISABLE TRIGGER USER')


@contextmanager
def append_only_role(settings: EventStoreSettings) -> Iterator[str]:
    """A login role holding grant_append_only's rights on the node's schema, dropped afterwards."""
    role = f"{settings.schema}_node"
    with psycopg.connect(host=settings.host, port=settings.port, dbname=settings.dbname,
                         user=settings.user, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            grant_append_only(admin, schema=settings.schema, role=role)
            yield role
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def _now() -> str:
    return datetime.now(tz=timezone.utc).isoformat(timespec="seconds")


def test_the_command_line_verifies_a_log_and_locates_tampering(tmp_path: Path, federation: Federation) -> None:
    import subprocess
    import sys

    from nodes.config import NodeConfig, to_toml

    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "node" / "events.sqlite")
    ledger = CaseLedger(env=settings.application_env())
    record_cases(ledger, 3)
    ledger.close()
    config = NodeConfig(province=NODE, listen="127.0.0.1:0", data_dir=tmp_path / "node",
                        pki_dir=federation.directory, event_store=settings)
    path = tmp_path / "node.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    root = Path(__file__).resolve().parents[2]

    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nodes.cli", "audit", *args, "--config", str(path)],
                              cwd=root, capture_output=True, text=True, timeout=60)

    clean = audit("verify")
    assert clean.returncode == 0 and "TOTAL_PASSED" in clean.stdout, clean.stdout + clean.stderr
    assert "verify [" in clean.stderr  # the progress bar
    replayed = audit("log", "--progress")
    assert replayed.stdout.count("\n") == 6 and "replay [" in replayed.stderr
    with open_log_store(settings) as store:
        tamper(store, settings, "UPDATE {events} SET state = (SELECT state FROM {events} WHERE {nid} = 2) "
                                "WHERE {nid} = 4")
    found = audit("verify", "--quiet")
    assert found.returncode == 1 and "TOTAL_FAILED" in found.stdout
    assert "altered       entry 4 notification 4" in found.stdout, found.stdout


@pytest.mark.postgres
def test_a_node_running_as_its_append_only_role_records_and_sends_cases(
    postgres_schema: EventStoreSettings,
) -> None:
    """The deployment grant_append_only is for: the schema's owner creates it once, the node
    runs as a role that may read and append, and still saves (under the table lock), queues and
    confirms messages; what it may not do is rewrite the log."""
    owner = dataclasses.replace(postgres_schema, schema=f"{postgres_schema.schema}_{NODE}")
    CaseLedger(env=owner.application_env()).close()  # the owner creates the schema
    with append_only_role(owner) as role:
        ledger = CaseLedger(env=dataclasses.replace(owner, user=role, create_schema=False).application_env())
        try:
            [number] = record_cases(ledger, 1)
            case = ledger.get_case(number)
            case.withdraw(reason="不再需要", actor=ACTOR)
            message = new_message(peer="330000", kind=NOTIFY_PROGRESS, case_number=number,
                                  payload={"step": "withdrawn"}, at=_now())
            ledger.save(case, outbox=[message], inbox=("330000-progress-9", number))
            outbox = outbox_of(ledger.recorder)
            assert [m.message_id for m in outbox.claim(owner="relay", lease_seconds=30)] == [message.message_id]
            outbox.delivered(message.message_id)
            assert outbox.pending() == []
            assert ledger.get_case(number).status.value == "withdrawn"
        finally:
            ledger.close()
        with psycopg.connect(host=owner.host, port=owner.port, dbname=owner.dbname, user=role,
                             autocommit=True) as node:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                node.execute(f'UPDATE "{owner.schema}".tongban_events SET topic = topic')
    with open_log_store(owner) as store:
        assert verify_log(store, node=NODE).problems == ()
