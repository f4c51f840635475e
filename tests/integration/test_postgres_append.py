"""On PostgreSQL a save is one call of the node's append function: its events, the outbox
messages it queues, the confirmations it marks delivered and the id of the peer message that
caused it are written together or not at all, and the log's chain still covers every event."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError

from exchange.case import Case
from exchange.ledger import CaseLedger
from exchange.outbox import FORWARD_CASE, OutboxMessage, new_message
from exchange.people import make_resident_id
from storage.eventstore import EventStoreSettings, open_log_store
from storage.logcheck import verify_log
from storage.outbox import outbox_of

pytestmark = pytest.mark.postgres

NODE = "340000"
ACTOR = {"node": NODE, "department": "", "operator": "clerk-hefei-001"}
NUMBER = f"{NODE}-20261205-0000A001"


@pytest.fixture
def ledger(postgres_schema: EventStoreSettings) -> Iterator[CaseLedger]:
    ledger = CaseLedger(env=postgres_schema.application_env())
    yield ledger
    ledger.close()


def _submitted() -> Case:
    return Case.submit(
        case_number=NUMBER, matter_code="KS2020-044", mode="proxy", origin_province=NODE,
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": make_resident_id("33010619850315123")},
        materials=[], checklist={}, actor=ACTOR,
    )


def _forward(message_id: str = "") -> OutboxMessage:
    message = new_message(peer="330000", kind=FORWARD_CASE, case_number=NUMBER, payload={"actor": ACTOR},
                          at="2026-12-05T08:00:00+00:00")
    return dataclasses.replace(message, message_id=message_id) if message_id else message


def test_a_save_writes_its_events_outbox_message_and_inbox_id_together(
    ledger: CaseLedger, postgres_schema: EventStoreSettings,
) -> None:
    case = _submitted()
    forward = _forward()
    ledger.save(case, outbox=[forward], inbox=("330000-progress-1", NUMBER))
    case.forward(actor=ACTOR)
    ledger.save(case, delivered=[forward.message_id])

    outbox = outbox_of(ledger.recorder)
    assert outbox.pending() == [], "the forward was confirmed in the second save"
    assert outbox.attempts_of(forward.message_id) == 0
    assert outbox.inbox_case("330000-progress-1") == NUMBER
    assert ledger.get_case(NUMBER).status.value == "forwarded"
    with open_log_store(postgres_schema) as store:
        report = verify_log(store, node=NODE)
    assert report.problems == () and report.entries == 2


def test_a_save_that_lost_a_race_writes_neither_its_events_nor_its_messages(ledger: CaseLedger) -> None:
    case = _submitted()
    ledger.save(case)
    stale = copy.deepcopy(case)
    case.forward(actor=ACTOR)
    ledger.save(case, outbox=[_forward("won")])
    stale.withdraw(reason="不再需要", actor=ACTOR)

    with pytest.raises(IntegrityError):
        ledger.save(stale, outbox=[_forward("lost")], inbox=("330000-progress-2", NUMBER))

    outbox = outbox_of(ledger.recorder)
    assert [m.message_id for m in outbox.pending()] == ["won"]
    assert outbox.inbox_case("330000-progress-2") is None
    assert ledger.get_case(NUMBER).status.value == "forwarded"
    assert [n for n, _ in ledger.case_changes(after=0)] == [1, 2], "the lost save recorded no event"
