"""Two senders sharing one outbox (replicas of a node) and a long send: the messages a relay
claimed and holds in line behind it stay its own. A real SQLite outbox; the partner is stood in
for. Leases are shortened to 0.4 s so that they would run out within the test."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from exchange.case import Case
from exchange.courier import Courier, RetryPolicy
from exchange.ledger import CaseLedger
from exchange.outbox import REPORT_TASK, new_message
from nodes.relay import OutboxRelay
from storage.eventstore import EventStoreSettings
from storage.outbox import outbox_of

ACTOR = {"node": "340000", "department": "", "operator": "clerk-1"}
AT = "2026-11-23T01:00:00+00:00"
FIRST, SECOND = "340000-20261123-00000001", "340000-20261123-00000002"


class Partner:
    """Takes reports; the first case's takes a second, as a large forward over a slow link would."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.first_started = threading.Event()

    def answering(self, sender: str) -> Any:
        partner = self

        class Coordination:
            def report_task(self, province: str, *, case_number: str, **_: Any) -> bool:
                if case_number == FIRST:
                    partner.first_started.set()
                    time.sleep(1.0)
                partner.received.append((sender, case_number))
                return False

        return Coordination()


def test_messages_waiting_behind_a_long_send_are_not_sent_again_by_another_replica(tmp_path: Path) -> None:
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite").application_env())
    outbox = outbox_of(ledger.recorder)
    for number in (FIRST, SECOND):
        case = Case.submit(case_number=number, matter_code="KS2020-044", mode="proxy", origin_province="340000",
                           competent_province="330000", competent_department="market",
                           applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[],
                           checklist={}, actor=ACTOR, at=AT)
        ledger.save(case, outbox=[new_message(peer="330000", kind=REPORT_TASK, case_number=number,
                                              payload={"outcome": "done", "note": ""}, at=AT)])
    partner = Partner()
    policy = RetryPolicy(lease_seconds=0.4)

    def replica(name: str) -> OutboxRelay:
        ctx = type("Ctx", (), {"outbox": outbox, "coordination": partner.answering(name)})()
        return OutboxRelay(courier=Courier(ctx, policy=policy), outbox=outbox, peers=["330000"])  # type: ignore[arg-type]

    first, second = replica("replica-1"), replica("replica-2")
    try:
        busy = threading.Thread(target=first.drain_once)
        busy.start()  # claims both reports, sends the first (a second long), the other waits its turn
        assert partner.first_started.wait(10)
        time.sleep(0.6)  # longer than a lease
        assert second.drain_once() == 0  # before: it took the waiting report over and sent it
        busy.join(10)
        assert sorted(partner.received) == [("replica-1", FIRST), ("replica-1", SECOND)]
    finally:
        first.stop()
        second.stop()
        ledger.close()
