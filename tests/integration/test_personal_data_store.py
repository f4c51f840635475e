"""Personal data in the event store (SQLite and PostgreSQL): encrypted under the node key, sealed
under a per-case key, erased by destroying that key while the hash chain still verifies."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exchange.case import Case, case_id
from exchange.errors import IllegalTransition
from exchange.ledger import CaseLedger
from exchange.people import ERASED, make_resident_id
from exchange.privacy import erase_personal_data
from storage.chain import POSTGRES_EVENTS
from storage.eventcipher import MAGIC, EventDecryptionFailed, EventKeyring, EventKeyUnavailable
from storage.eventstore import EventStoreSettings, open_log_store
from storage.logcheck import verify_log
from storage.personal import CASE_KEYS_TABLE, CLEAR_TOPICS

ROOT = Path(__file__).resolve().parents[2]
NAME, ID_NUMBER = "欧阳娜娜", make_resident_id("34010219920229876")
AGENT_NAME, AGENT_ID = "欧阳震华", make_resident_id("34010219600101001")
ADDRESS = "安徽省合肥市蜀山区长江西路100号"
FILE_NAME = "欧阳娜娜身份证正面.jpg"
CLERK = {"node": "340000", "department": "", "operator": "clerk-1"}
SECRETS = (NAME, ID_NUMBER, AGENT_NAME, AGENT_ID, ADDRESS, FILE_NAME)


def t(second: int) -> str:
    return f"2025-11-23T02:00:{second:02d}+00:00"


def record_a_mailed_case(ledger: CaseLedger, number: str, *, mail: bool = True) -> None:
    case = Case.submit(
        case_number=number, matter_code="KS2020-044", mode="window", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": NAME, "id_number": ID_NUMBER},
        agent={"name": AGENT_NAME, "id_number": AGENT_ID, "relationship": "父亲"},
        materials=[{"kind": "id_card", "file_name": FILE_NAME, "media_type": "image/jpeg", "size": 10,
                    "sha256": "ab" * 32}],
        checklist={"id_card": True}, actor=CLERK, identity={"method": "id_card_reader", "verified": True},
        at=t(0))
    case.forward(actor=CLERK, at=t(1))
    case.receive_result(sha256="cd" * 32, object_key="sha256/cd/x", actor=CLERK, at=t(2))
    case.record_verification(report={"verdict": "TOTAL_PASSED"}, actor=CLERK, at=t(3))
    case.print_result(copies=1, spool_ref="spool/1.pdf", report={"verdict": "TOTAL_PASSED"}, actor=CLERK, at=t(4))
    if mail:
        case.mail_result(carrier="EMS", tracking_number="EMS1", address=ADDRESS, actor=CLERK, at=t(5))
    ledger.save(case)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStoreSettings]:
    key_file = tmp_path / "keys" / "event-keys.json"
    if request.param == "sqlite":
        yield EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite", key_file=key_file)
    else:
        schema = request.getfixturevalue("postgres_schema")
        yield dataclasses.replace(schema, key_file=key_file)


def raw_store(settings: EventStoreSettings) -> bytes:
    """Every byte the database holds for this node, read around the library."""
    if settings.kind == "sqlite":
        assert settings.sqlite_path is not None
        return b"".join(p.read_bytes() for p in settings.sqlite_path.parent.glob("events.sqlite*"))
    with psycopg.connect(host=settings.host, port=settings.port, dbname=settings.dbname, user=settings.user) as conn:
        rows = conn.execute(f'SELECT state FROM "{settings.schema}".{POSTGRES_EVENTS}').fetchall()
        keys = conn.execute(f'SELECT case_id, coalesce(envelope, \'\') FROM "{settings.schema}".{CASE_KEYS_TABLE}').fetchall()
    return b"".join(bytes(r[0]) for r in rows) + "".join(f"{a}{b}" for a, b in keys).encode()


def test_no_name_id_number_address_or_file_name_is_stored_in_clear(settings: EventStoreSettings) -> None:
    ledger = CaseLedger(env=settings.application_env())
    try:
        record_a_mailed_case(ledger, "N-1")
        case = ledger.get_case("N-1")
    finally:
        ledger.close()
    raw = raw_store(settings)
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret} is readable in the store"
    assert case.applicant == {"name": NAME, "id_number": ID_NUMBER}
    assert case.agent is not None and case.agent["name"] == AGENT_NAME
    assert case.materials[0]["file_name"] == FILE_NAME
    with open_log_store(settings) as store:
        rows = list(store.iter_events())
        assert verify_log(store, node="340000", anchors=[]).passed
    # Events with personal data are encrypted; hand-offs and result hashes stay readable for evidence.
    assert [r.state.startswith(MAGIC) for r in rows] == [r.topic not in CLEAR_TOPICS for r in rows]
    assert sum(r.state.startswith(MAGIC) for r in rows) == 2  # Submitted, Mailed


def test_a_lawful_erasure_leaves_placeholders_and_a_log_that_still_verifies(settings: EventStoreSettings) -> None:
    ledger = CaseLedger(env=settings.application_env())
    try:
        record_a_mailed_case(ledger, "N-2")
        record_a_mailed_case(ledger, "N-3")
        with open_log_store(settings) as store:
            before = [(r.notification_id, r.state) for r in store.iter_events()]
        envelope = ledger.mapper.case_keys._row(case_id("N-2").hex)[0]  # type: ignore[attr-defined]
        assert envelope.encode() in raw_store(settings)
        erased = erase_personal_data(ledger, ledger.mapper.case_keys, "N-2",  # type: ignore[attr-defined]
                                     legal_basis="个人信息保护法第四十七条", reason="书面请求 2025-17",
                                     actor={**CLERK, "operator": "dpo-1"}, at=t(30))
        other = ledger.get_case("N-3")
        events = list(ledger.repository.event_store.get(case_id("N-2")))
    finally:
        ledger.close()
    assert erased.applicant == {"name": ERASED, "id_number": ERASED}
    assert erased.agent == {"name": ERASED, "id_number": ERASED, "relationship": ERASED}
    assert erased.materials[0]["file_name"] == ERASED and erased.materials[0]["sha256"] == "ab" * 32
    assert [type(e).__name__ for e in events][-2:] == ["Mailed", "PersonalDataErased"]
    assert events[-2].address == ERASED and events[-2].tracking_number == "EMS1"
    assert erased.erasure == {"legal_basis": "个人信息保护法第四十七条", "reason": "书面请求 2025-17", "at": t(30),
                              "by": {**CLERK, "operator": "dpo-1"}}
    assert other.applicant["name"] == NAME  # only the erased case's key is gone
    assert envelope.encode() not in raw_store(settings)  # not in free pages, the WAL or a dead row
    with open_log_store(settings) as store:
        after = [(r.notification_id, r.state) for r in store.iter_events()]
        report = verify_log(store, node="340000", anchors=[])
    assert after[:len(before)] == before and len(after) == len(before) + 1  # no stored byte changed
    assert report.passed, report.render()
    assert ledger_reopened(settings).get_case("N-2").applicant["name"] == ERASED


def ledger_reopened(settings: EventStoreSettings) -> CaseLedger:
    return CaseLedger(env=settings.application_env())


def test_erasure_waits_until_the_applicant_has_had_an_answer(tmp_path: Path) -> None:
    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite", key_file=tmp_path / "k.json")
    ledger = CaseLedger(env=settings.application_env())
    try:
        record_a_mailed_case(ledger, "N-4", mail=False)
        case = Case.submit(**{**_fields("N-5")})
        ledger.save(case)
        with pytest.raises(IllegalTransition, match="no answer yet"):
            erase_personal_data(ledger, ledger.mapper.case_keys, "N-5", legal_basis="x", reason="y",  # type: ignore[attr-defined]
                                actor=CLERK, at=t(9))
        assert ledger.get_case("N-5").applicant["name"] == NAME
        erase_personal_data(ledger, ledger.mapper.case_keys, "N-4", legal_basis="x", reason="y",  # type: ignore[attr-defined]
                            actor=CLERK, at=t(9))
        with pytest.raises(IllegalTransition, match="was erased"):
            ledger.get_case("N-4").mail_result(carrier="EMS", tracking_number="2", address=ADDRESS, actor=CLERK)
        assert ledger.get_case("N-4").status.value == "printed"
    finally:
        ledger.close()


def _fields(number: str) -> dict:  # type: ignore[type-arg]
    return dict(case_number=number, matter_code="KS2020-044", mode="window", origin_province="340000",
                competent_province="330000", competent_department="market",
                applicant={"name": NAME, "id_number": ID_NUMBER}, materials=[], checklist={}, actor=CLERK, at=t(0))


def test_a_wrong_or_missing_event_key_fails_with_a_message_not_garbage(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "event-keys.json"
    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite", key_file=key_file)
    ledger = CaseLedger(env=settings.application_env())
    record_a_mailed_case(ledger, "N-6")
    ledger.close()
    original = key_file.read_bytes()
    key_file.unlink()
    with pytest.raises(EventKeyUnavailable, match="no node event key file"):
        settings.application_env()  # a store with events never gets a fresh key
    EventKeyring.open(key_file, create=True)  # someone "fixes" it with a new key
    ledger = CaseLedger(env=settings.application_env())
    try:
        with pytest.raises(EventKeyUnavailable, match="which .* does not hold"):
            ledger.get_case("N-6")
    finally:
        ledger.close()
    # The right key id with other key bytes: GCM refuses, nothing decodes as garbage.
    kid = json.loads(original)["current"]
    stranger = EventKeyring.open(tmp_path / "stranger.json", create=True)
    other_key = json.loads(stranger.path.read_text())["keys"][stranger.current_id]
    key_file.write_text(json.dumps({"current": kid, "keys": {kid: other_key}}))
    ledger = CaseLedger(env=settings.application_env())
    try:
        with pytest.raises(EventDecryptionFailed, match="does not open with node event key"):
            ledger.get_case("N-6")
    finally:
        ledger.close()


def test_rotation_encrypts_new_events_with_the_new_key_and_rewraps_case_keys(tmp_path: Path) -> None:
    from nodes.config import NodeConfig, to_toml

    config = NodeConfig(province="340000", listen="127.0.0.1:0", data_dir=tmp_path / "node", pki_dir=tmp_path / "pki",
                        event_store=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "node" / "events.sqlite",
                                                       key_file=tmp_path / "node" / "keys" / "event-keys.json"))
    toml = tmp_path / "node.toml"
    toml.write_text(to_toml(config), encoding="utf-8")
    ledger = CaseLedger(env=config.event_store.application_env())
    record_a_mailed_case(ledger, "N-7")
    old = ledger.mapper.node_cipher.keyring.current_id  # type: ignore[attr-defined]
    ledger.close()
    done = subprocess.run([sys.executable, "-m", "nodes.cli", "event-keys", "rotate", "--config", str(toml)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 case keys were re-wrapped" in done.stdout
    ledger = CaseLedger(env=config.event_store.application_env())
    try:
        new = ledger.mapper.node_cipher.keyring.current_id  # type: ignore[attr-defined]
        assert new != old
        assert ledger.mapper.case_keys.count_under(old) == 0  # type: ignore[attr-defined]
        record_a_mailed_case(ledger, "N-8")
        assert ledger.get_case("N-7").applicant["name"] == NAME  # old events read with the old key
        assert ledger.get_case("N-8").applicant["name"] == NAME
    finally:
        ledger.close()
    with open_log_store(config.event_store) as store:
        used = [r.state[len(MAGIC):len(MAGIC) + 8].decode() for r in store.iter_events() if r.state.startswith(MAGIC)]
    assert used == [old, old, new, new]
    shown = subprocess.run([sys.executable, "-m", "nodes.cli", "event-keys", "show", "--config", str(toml)],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert f"key {old}: 2 events" in shown.stdout and f"key {new}: 2 events" in shown.stdout, shown.stdout


@pytest.mark.postgres
def test_a_node_role_can_erase_a_case_key_but_not_delete_key_rows(postgres_schema: EventStoreSettings,
                                                                   tmp_path: Path) -> None:
    from storage.chain import grant_append_only
    from storage.eventcipher import open_event_keyring
    from storage.personal import PostgresCaseKeys, grant_case_keys

    settings = dataclasses.replace(postgres_schema, schema=f"{postgres_schema.schema}_keys",
                                   key_file=tmp_path / "event-keys.json")
    ledger = CaseLedger(env=settings.application_env())
    record_a_mailed_case(ledger, "N-9")
    ledger.close()
    role = f"{settings.schema}_node"
    conninfo = dict(host=settings.host, port=settings.port, dbname=settings.dbname, autocommit=True)
    with psycopg.connect(user=settings.user, **conninfo) as admin:  # type: ignore[arg-type]
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            grant_append_only(admin, schema=settings.schema, role=role)
            grant_case_keys(admin, schema=settings.schema, role=role)
            keys = PostgresCaseKeys(open_event_keyring(settings.key_file), schema=settings.schema,  # type: ignore[arg-type]
                                    conninfo=dict(host=settings.host, port=settings.port, dbname=settings.dbname,
                                                  user=role))
            try:
                keys.sealing_key(case_id("N-10").hex)  # a new case
                keys.erase(case_id("N-9").hex)
                assert keys.opening_key(case_id("N-9").hex) is None
            finally:
                keys.close()
            with psycopg.connect(user=role, **conninfo) as node:  # type: ignore[arg-type]
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    node.execute(f'DELETE FROM "{settings.schema}".{CASE_KEYS_TABLE}')
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_a_running_node_follows_a_rotation_made_beside_it(tmp_path: Path) -> None:
    from eventsourcing.utils import Environment

    from storage.eventcipher import open_event_keyring
    from storage.personal import open_case_keys

    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite", key_file=tmp_path / "k.json")
    ledger = CaseLedger(env=settings.application_env())  # the running node
    try:
        ledger.mapper.case_keys.CACHE_SECONDS = 0  # type: ignore[attr-defined]
        record_a_mailed_case(ledger, "N-11")
        old = ledger.mapper.node_cipher.keyring.current_id  # type: ignore[attr-defined]
        beside = open_event_keyring(settings.key_file)
        new = beside.rotate()
        keys = open_case_keys(Environment("tongban", settings.application_env()), open_event_keyring(settings.key_file))
        assert keys.rewrap() == 1
        keys.close()
        assert ledger.get_case("N-11").applicant["name"] == NAME  # its case key is now wrapped by `new`
        record_a_mailed_case(ledger, "N-12")
        assert ledger.mapper.node_cipher.keyring.current_id == new != old  # type: ignore[attr-defined]
    finally:
        ledger.close()


@contextmanager
def key_tables(settings: EventStoreSettings, count: int) -> Iterator[list[Any]]:
    """`count` processes' views of the node's case-key table (as replicas, or a command beside
    the node, have), each with a key cache of its own."""
    from eventsourcing.utils import Environment

    from storage.eventcipher import open_event_keyring
    from storage.personal import open_case_keys

    CaseLedger(env=settings.application_env()).close()  # the schema and the node's event key
    env = Environment(name="tongban", env=settings.application_env())
    tables = [open_case_keys(env, open_event_keyring(settings.key_file)) for _ in range(count)]
    try:
        yield tables
    finally:
        for table in tables:
            table.close()


def first_look_misses(table: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The table's first look for a key finds none, as when another process adds it just after;
    returns the looks it makes."""
    real_row, looks = table._row, list[str]()

    def row_missed_once(c: str) -> tuple[str | None, str | None] | None:
        looks.append(c)
        return None if len(looks) == 1 else real_row(c)

    monkeypatch.setattr(table, "_row", row_missed_once)
    return looks


def test_a_new_cases_key_is_read_back_only_when_another_replica_added_it_first(
    settings: EventStoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = case_id("N-11").hex
    with key_tables(settings, 2) as (first, second):
        # The second replica looked before the first added the key, and adds its own after.
        looks = first_look_misses(second, monkeypatch)
        first_looks: list[str] = []
        first_row = first._row
        monkeypatch.setattr(first, "_row", lambda c: first_looks.append(c) or first_row(c))
        key = first.sealing_key(case)
        assert len(first_looks) == 1  # a key it added itself is not read back
        assert second.sealing_key(case) == key
        assert first.opening_key(case) == key and len(looks) == 2  # its own key was not taken


def test_a_cases_first_event_records_its_key_in_one_statement_and_a_key_or_erasure_already_there_wins(
    settings: EventStoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.personal import CaseDataErased

    new, taken, erased = (case_id(n).hex for n in ("N-21", "N-22", "N-23"))
    with key_tables(settings, 2) as (first, second):
        looks: list[str] = []
        row = second._row
        monkeypatch.setattr(second, "_row", lambda c: looks.append(c) or row(c))
        key = second.sealing_key(new, opening=True)
        assert looks == [] and first.opening_key(new) == key  # added, not looked for
        theirs = first.sealing_key(taken)  # another replica got there first
        assert second.sealing_key(taken, opening=True) == theirs and looks == [taken]
        first.erase(erased)  # erased here before the case's first event arrived
        with pytest.raises(CaseDataErased):
            second.sealing_key(erased, opening=True)


def test_an_erasure_destroys_a_key_another_process_added_just_before(settings: EventStoreSettings) -> None:
    """Erasure adds a tombstone, or turns the key row there into one, in one statement: there is no
    look first that a key added meanwhile could slip past (it once did: the look found nothing,
    the tombstone's insert added nothing, and the key stayed)."""
    from storage.personal import CaseDataErased

    case = case_id("N-25").hex
    with key_tables(settings, 3) as (node, eraser, later):
        node.sealing_key(case, opening=True)
        eraser.erase(case)
        assert eraser.erased_at(case) is not None
        assert later.opening_key(case) is None  # the key is gone, not just a tombstone beside it
        with pytest.raises(CaseDataErased):
            later.sealing_key(case)


def test_a_case_whose_first_save_added_its_key_reads_and_records_under_that_key(settings: EventStoreSettings) -> None:
    def ledger_of_a_fresh_process() -> CaseLedger:  # no key in memory: each one is read from the table
        return CaseLedger(env=settings.application_env())

    first = ledger_of_a_fresh_process()
    try:
        record_a_mailed_case(first, "N-24", mail=False)
    finally:
        first.close()
    later = ledger_of_a_fresh_process()
    try:
        case = later.get_case("N-24")
        case.mail_result(carrier="EMS", tracking_number="EMS2", address=ADDRESS, actor=CLERK, at=t(9))
        later.save(case)
    finally:
        later.close()
    auditor = ledger_of_a_fresh_process()
    try:
        case = auditor.get_case("N-24")
        assert case.applicant["name"] == NAME and case.status.value == "mailed"
        assert ADDRESS not in raw_store(settings).decode("utf-8", errors="replace")
    finally:
        auditor.close()


def test_an_evidence_bundle_from_a_node_keeping_events_in_clear_masks_every_personal_field(
    tmp_path: Path, federation: Any
) -> None:
    import base64
    import types

    from nodes.evidence import case_side
    from nodes.witness import LogKeeper

    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "clear.sqlite")  # encryption off
    ledger = CaseLedger(env=settings.application_env())
    number = "340000-20251123-0000000A"
    officer = {"node": "330000", "department": "market", "operator": "officer-1"}
    case = Case.receive(case_number=number, matter_code="KS2020-044", mode="proxy", origin_province="340000",
                        competent_province="330000", competent_department="market",
                        applicant={"name": NAME, "id_number": ID_NUMBER}, materials=[], checklist={}, actor=officer)
    case.record_identity(identity={"method": "id_card_reader", "verified": True},
                         agent={"name": AGENT_NAME, "id_number": AGENT_ID, "relationship": "父亲"}, actor=officer)
    ledger.save(case)
    keeper = LogKeeper(province="330000", settings=settings, federation=federation,
                       witnesses=types.SimpleNamespace(peers={}))
    side = case_side(keeper, number, mapper=ledger.mapper)
    ledger.close()
    sent = json.dumps(side, ensure_ascii=False) + "".join(
        base64.b64decode(e["state"]).decode() for e in side["entries"] if "state" in e)
    assert not [s for s in (NAME, ID_NUMBER, AGENT_NAME, AGENT_ID) if s in sent]  # before: the agent, in clear
