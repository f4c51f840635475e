"""The outbox beside a real event store (SQLite and PostgreSQL): rows are written in the same
transaction as the events that caused them, messages to one partner leave in order, a claim is a
lease two replicas cannot both hold, and a received message id is recorded with its events."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from exchange.case import Case
from exchange.ledger import CaseLedger
from exchange.outbox import FORWARD_CASE, NOTIFY_PROGRESS, new_message
from storage.eventstore import EventStoreSettings
from storage.outbox import SqlOutbox, outbox_of

ACTOR = {"node": "340000", "department": "", "operator": "clerk-hefei-001"}
AT = "2026-11-23T01:00:00+00:00"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(ledger: CaseLedger, clock: Clock) -> SqlOutbox:
    store = outbox_of(ledger.recorder)
    store.clock = clock
    return store


def submitted(number: str) -> Case:
    return Case.submit(
        case_number=number, matter_code="KS2020-044", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=ACTOR, at=AT,
    )


def forward(number: str, peer: str = "330000"):  # type: ignore[no-untyped-def]
    return new_message(peer=peer, kind=FORWARD_CASE, case_number=number, payload={"actor": ACTOR}, at=AT)


def test_a_message_is_recorded_only_if_its_events_are(ledger: CaseLedger, outbox: SqlOutbox) -> None:
    case = submitted("340000-20261123-00000001")
    ledger.save(case, outbox=[forward(case.case_number)])
    stale = ledger.get_case(case.case_number)
    winner = ledger.get_case(case.case_number)
    winner.forward(actor=ACTOR, at=AT)
    ledger.save(winner)
    stale.forward(actor=ACTOR, at=AT)
    with pytest.raises(IntegrityError):
        ledger.save(stale, outbox=[forward(case.case_number, peer="320000")])
    assert [(m.peer, m.case_number) for m in outbox.pending()] == [("330000", case.case_number)]


def test_messages_are_claimed_oldest_first_and_a_partner_in_backoff_gets_none(ledger: CaseLedger, outbox: SqlOutbox, clock: Clock) -> None:
    numbers = [f"340000-20261123-0000000{i}" for i in range(1, 4)]
    for number in numbers:
        ledger.save(submitted(number), outbox=[forward(number)])
    ledger.save(submitted("340000-20261123-00000009"), outbox=[forward("340000-20261123-00000009", peer="320000")])

    first = outbox.claim(owner="a", lease_seconds=30)
    assert [m.case_number for m in first] == [*numbers, "340000-20261123-00000009"]
    # 330000 is down: its first message is not delivered, the rest of its batch is given back,
    # and nothing goes to it until its backoff ends; another partner is not held up.
    outbox.failed(first[0].message_id, error="UNAVAILABLE", retry_in=0)
    assert outbox.peer_unreachable("330000", error="UNAVAILABLE", retry_in=lambda failures: 5.0 * failures) == 5.0
    outbox.release([m.message_id for m in first[1:3]])
    outbox.delivered(first[3].message_id)
    assert outbox.claim(owner="a", lease_seconds=30) == []
    assert outbox.next_due_in() == pytest.approx(5)
    [backlog] = outbox.backlog()
    assert (backlog.peer, backlog.pending, backlog.attempts, backlog.oldest_case_number) == ("330000", 3, 1, numbers[0])
    assert backlog.retry_in_seconds == pytest.approx(5)

    clock.now += 5
    assert [m.case_number for m in outbox.claim(owner="a", lease_seconds=30)] == numbers  # back: in order


def test_a_case_s_messages_leave_in_order_though_other_cases_go_ahead(ledger: CaseLedger, outbox: SqlOutbox) -> None:
    one, two = "340000-20261123-00000001", "340000-20261123-00000002"
    notice = new_message(peer="330000", kind=NOTIFY_PROGRESS, case_number=one, at=AT, payload={"step": "supplemented"})
    ledger.save(submitted(one), outbox=[forward(one), notice])
    ledger.save(submitted(two), outbox=[forward(two)])
    assert [(m.case_number, m.kind) for m in outbox.claim(owner="a", lease_seconds=30)] == [
        (one, FORWARD_CASE), (two, FORWARD_CASE)]
    assert outbox.claim(owner="b", lease_seconds=30, message_id=notice.message_id) == []  # its forward is not through


def test_a_claimed_message_is_not_claimed_again_until_its_lease_runs_out(ledger: CaseLedger, outbox: SqlOutbox, clock: Clock) -> None:
    number = "340000-20261123-00000001"
    message = forward(number)
    ledger.save(submitted(number), outbox=[message])
    assert [m.message_id for m in outbox.claim(owner="replica-1", lease_seconds=10)] == [message.message_id]
    assert outbox.claim(owner="replica-2", lease_seconds=10) == []
    assert outbox.claim(owner="replica-2", lease_seconds=10, message_id=message.message_id) == []
    clock.now += 11  # replica 1 died while sending
    assert [m.message_id for m in outbox.claim(owner="replica-2", lease_seconds=10)] == [message.message_id]


def test_a_refused_message_is_parked_with_its_reason_and_does_not_block_the_next(ledger: CaseLedger, outbox: SqlOutbox) -> None:
    number = "340000-20261123-00000001"
    notice = new_message(peer="330000", kind=NOTIFY_PROGRESS, case_number=number, at=AT, payload={"step": "withdrawn"})
    ledger.save(submitted(number), outbox=[forward(number), notice])
    [head] = outbox.claim(owner="a", lease_seconds=30)
    outbox.refused(head.message_id, reason="PERMISSION_DENIED: not a party")
    [backlog] = outbox.backlog()
    assert (backlog.pending, backlog.refused, backlog.last_refused_case) == (1, 1, number)
    [following] = outbox.claim(owner="a", lease_seconds=30)
    assert following.message_id == notice.message_id


def test_a_confirmation_and_the_event_it_means_are_saved_together(ledger: CaseLedger, outbox: SqlOutbox) -> None:
    number = "340000-20261123-00000001"
    message = forward(number)
    ledger.save(submitted(number), outbox=[message])
    case = ledger.get_case(number)
    case.forward(actor=ACTOR, at=AT)
    ledger.save(case, delivered=[message.message_id])
    assert outbox.pending() == [] and ledger.get_case(number).status.value == "forwarded"


def test_a_received_message_id_is_recorded_with_its_events_and_only_once(ledger: CaseLedger, outbox: SqlOutbox) -> None:
    number = "340000-20261123-00000001"
    ledger.save(submitted(number), inbox=("m-1", number))
    assert outbox.inbox_has("m-1") and outbox.inbox_case("m-1") == number and not outbox.inbox_has("m-2")
    again = ledger.get_case(number)
    again.forward(actor=ACTOR, at=AT)
    with pytest.raises(IntegrityError):
        ledger.save(again, inbox=("m-1", number))
    assert ledger.get_case(number).version == 1


def test_a_barred_message_can_never_be_applied_and_a_message_applied_first_cannot_be_barred(
    ledger: CaseLedger, outbox: SqlOutbox,
) -> None:
    barred, applied = "340000-20261123-00000031", "340000-20261123-00000032"
    forward_of = {n: forward(n).message_id for n in (barred, applied)}
    assert outbox.bar_message(forward_of[barred], case_number=barred)
    assert not outbox.bar_message(forward_of[barred], case_number=barred), "a second bar changes nothing"
    with pytest.raises(IntegrityError):  # the forward that was on its way when the bar was recorded
        ledger.save(submitted(barred), inbox=(forward_of[barred], barred))
    assert ledger.find_case(barred) is None
    ledger.save(submitted(applied), inbox=(forward_of[applied], applied))
    assert not outbox.bar_message(forward_of[applied], case_number=applied)
    assert forward(barred).message_id == forward_of[barred], "both sides know a case's forward id"


def test_notice_payloads_keep_no_personal_data(ledger: CaseLedger, outbox: SqlOutbox) -> None:
    number = "340000-20261123-00000001"
    notice = new_message(peer="330000", kind=NOTIFY_PROGRESS, case_number=number, at=AT,
                         payload={"step": "identified"})
    ledger.save(submitted(number), outbox=[forward(number), notice])
    stored = str([m.payload for m in outbox.pending()])
    assert "王小明" not in stored and "330106198503151234" not in stored


def test_two_replicas_claiming_at_once_never_take_the_same_message(ledger: CaseLedger, settings: EventStoreSettings) -> None:
    import threading

    numbers = [f"340000-20261123-{i:08d}" for i in range(12)]
    for number in numbers:
        ledger.save(submitted(number), outbox=[forward(number)])
    replicas = [CaseLedger(env=settings.application_env()) for _ in range(2)]
    taken: dict[str, list[str]] = {"r0": [], "r1": []}
    start = threading.Barrier(2)

    def claim(name: str, replica: CaseLedger) -> None:
        store = outbox_of(replica.recorder)
        start.wait()
        for _ in range(6):
            taken[name] += [m.case_number for m in store.claim(owner=name, lease_seconds=60, limit=2)]

    threads = [threading.Thread(target=claim, args=(f"r{i}", r)) for i, r in enumerate(replicas)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for r in replicas:
            r.close()
    assert sorted(taken["r0"] + taken["r1"]) == numbers  # every message claimed, none twice


def test_a_sender_renews_only_the_leases_it_still_holds(ledger: CaseLedger, outbox: SqlOutbox, clock: Clock) -> None:
    number = "340000-20261123-00000031"
    message = forward(number)
    ledger.save(submitted(number), outbox=[message])
    outbox.claim(owner="replica-1", lease_seconds=10)
    clock.now += 8
    assert outbox.renew([message.message_id], owner="replica-1", lease_seconds=10) == [message.message_id]
    clock.now += 8  # past the first lease, inside the renewed one
    assert outbox.claim(owner="replica-2", lease_seconds=10) == []
    assert outbox.renew([message.message_id], owner="replica-2", lease_seconds=10) == []
    outbox.delivered(message.message_id)
    assert outbox.renew([message.message_id], owner="replica-1", lease_seconds=10) == []


def test_a_send_longer_than_its_lease_is_not_taken_over(ledger: CaseLedger, outbox: SqlOutbox) -> None:
    """A forward of hundreds of MB over a slow link outlasts the lease; the relay, or another
    replica, must not claim the message again while it is on its way."""
    import threading
    import time

    from exchange.courier import Courier, RetryPolicy
    from exchange.outbox import REPORT_TASK

    outbox.clock = time.time
    number = "340000-20261123-00000032"
    message = new_message(peer="330000", kind=REPORT_TASK, case_number=number,
                          payload={"outcome": "done", "note": "材料已核验"}, at=AT)
    ledger.save(submitted(number), outbox=[message])
    started, others = threading.Event(), []

    class SlowLink:
        def report_task(self, province: str, **_: object) -> bool:
            started.set()
            time.sleep(1.2)
            return False

    class Ctx:
        def __init__(self) -> None:
            self.outbox, self.coordination = outbox, SlowLink()

    courier = Courier(Ctx(), policy=RetryPolicy(lease_seconds=0.4))  # type: ignore[arg-type]
    [claimed] = outbox.claim(owner=courier.owner, lease_seconds=0.4)
    sender = threading.Thread(target=courier.attempt, args=(claimed,))
    sender.start()
    assert started.wait(5)
    for _ in range(4):  # 0.3 s apart: well past the 0.4 s first lease by the end
        time.sleep(0.3)
        others += outbox.claim(owner="replica-2", lease_seconds=0.4)
    sender.join(5)

    assert others == []
    assert outbox.pending() == []  # delivered, once
