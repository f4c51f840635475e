"""The PostgreSQL recorder renders the library's statements once instead of at every execution
(storage.chain.ChainedPostgresRecorder); what it reads and writes is exactly what the library's
own statements read and write, for every shape of a read."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from eventsourcing.postgres import PostgresAggregateRecorder

from exchange.case import Case
from exchange.ledger import CaseLedger
from exchange.people import make_resident_id
from storage.chain import ChainedPostgresRecorder
from storage.eventstore import EventStoreSettings

NODE = "340000"
ACTOR = {"node": NODE, "department": "", "operator": "clerk-hefei-001"}


@pytest.fixture
def ledger(postgres_schema: EventStoreSettings) -> Iterator[CaseLedger]:
    ledger = CaseLedger(env=postgres_schema.application_env())
    yield ledger
    ledger.close()


def recorded_case(ledger: CaseLedger) -> Case:
    case = Case.submit(
        case_number=f"{NODE}-20261205-0000000A", matter_code="KS2020-044", mode="proxy", origin_province=NODE,
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": make_resident_id("33010619850315123")},
        materials=[], checklist={}, actor=ACTOR,
    )
    ledger.save(case)
    case.forward(actor=ACTOR)
    ledger.save(case)
    case.withdraw(reason="不再需要", actor=ACTOR)
    ledger.save(case)
    return case


def test_saves_and_reads_go_through_statements_rendered_once(ledger: CaseLedger) -> None:
    recorder = ledger.recorder
    assert isinstance(recorder, ChainedPostgresRecorder)
    assert isinstance(recorder._append_statement, bytes)
    case = recorded_case(ledger)
    assert ledger.get_case(case.case_number).status.value == "withdrawn"


@pytest.mark.parametrize(("gt", "lte", "desc", "limit"),
                         list(itertools.product((None, 1), (None, 2), (False, True), (None, 1))))
def test_every_shape_of_read_returns_what_the_library_reads(
    ledger: CaseLedger, gt: int | None, lte: int | None, desc: bool, limit: int | None,
) -> None:
    case = recorded_case(ledger)
    recorder = ledger.recorder
    ours = recorder.select_events(case.id, gt=gt, lte=lte, desc=desc, limit=limit)
    theirs = PostgresAggregateRecorder.select_events(recorder, case.id, gt=gt, lte=lte, desc=desc, limit=limit)
    assert ours == theirs
    assert [e.originator_version for e in ours] == sorted(
        (v for v in (1, 2, 3) if (gt is None or v > gt) and (lte is None or v <= lte)), reverse=desc)[:limit]
