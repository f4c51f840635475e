"""A save's arguments go to PostgreSQL as array literals (storage.pgarrays): whatever a text,
an id, a version or a stored state holds reaches the database unchanged, and a case saved that
way with its outbox messages reads back as it was saved."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from exchange.case import Case
from exchange.ledger import CaseLedger
from exchange.outbox import FORWARD_CASE, new_message
from exchange.people import make_resident_id
from storage.eventstore import EventStoreSettings
from storage.outbox import outbox_of
from storage.pgarrays import bytea_array, int_array, text_array

AWKWARD_TEXTS = ['', 'NULL', 'null', ' leading and trailing ', 'a,b', '{x}', 'say "hi"', 'back\\slash',
                 '\\"', '"', '\\', '受理地已驳回：不符合条件', 'tab\tand\nnewline', "it's", '\\x00ff']


@pytest.fixture
def conn(postgres_base: EventStoreSettings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(host=postgres_base.host, port=postgres_base.port, dbname=postgres_base.dbname,
                         user=postgres_base.user, autocommit=True) as connection:
        connection.execute(
            "CREATE FUNCTION pg_temp.echo(t text[], u uuid[], v bigint[], b bytea[]) "
            "RETURNS TABLE (t text[], u uuid[], v bigint[], b bytea[]) LANGUAGE sql AS $$ SELECT t, u, v, b $$")
        yield connection


def echoed(conn: psycopg.Connection, texts: list[str], ids: list[uuid.UUID], versions: list[int],
           states: list[bytes]) -> tuple[list[str], list[uuid.UUID], list[int], list[bytes]]:
    row = conn.execute("SELECT * FROM pg_temp.echo(%s, %s, %s, %s)", (
        text_array(texts), text_array(ids), int_array(versions), bytea_array(states)), prepare=True).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def test_awkward_texts_ids_versions_and_every_byte_arrive_unchanged(conn: psycopg.Connection) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    versions = [1, 2**62, -5]
    states = [bytes(range(256)), b"", b'"\\{},NULL']
    assert echoed(conn, AWKWARD_TEXTS, ids, versions, states) == (AWKWARD_TEXTS, ids, versions, states)


def test_empty_arrays_are_empty_not_null(conn: psycopg.Connection) -> None:
    assert echoed(conn, [], [], [], []) == ([], [], [], [])


@pytest.mark.parametrize(("make", "values"), [
    (text_array, ["m-1", None]),
    (text_array, [datetime(2026, 12, 6)]),  # would be stored with a space, not "T"
    (int_array, [1.5]),
    (int_array, [None]),
    (int_array, [True]),
    (bytea_array, [5]),  # bytes(5) would be five zero bytes
    (bytea_array, ["text"]),
])
def test_an_element_of_another_type_is_refused_rather_than_converted(make: Any, values: list[Any]) -> None:
    with pytest.raises(TypeError, match="never NULL, never converted"):
        make(values)


def test_a_case_saved_with_its_outbox_message_reads_back_as_saved(postgres_schema: EventStoreSettings) -> None:
    ledger = CaseLedger(env=postgres_schema.application_env())
    try:
        case = Case.submit(
            case_number="340000-20261206-0000000B", matter_code="KS2020-044", mode="proxy", origin_province="340000",
            competent_province="330000", competent_department="market",
            applicant={"name": '王"小\\明', "id_number": make_resident_id("33010619850315123")},
            materials=[], checklist={}, actor={"node": "340000", "department": "", "operator": "clerk,1"},
        )
        message = new_message(peer="330000", kind=FORWARD_CASE, case_number=case.case_number,
                              payload={"actor": {"operator": 'clerk "1"\\'}}, at="2026-12-06T05:00:00+00:00")
        ledger.save(case, outbox=[message])
        again = ledger.get_case(case.case_number)
        assert (again.applicant["name"], again.version) == ('王"小\\明', case.version)
        [pending] = outbox_of(ledger.recorder).pending()
        assert (pending.message_id, pending.payload, pending.created_at) == (
            message.message_id, message.payload, message.created_at)
    finally:
        ledger.close()
