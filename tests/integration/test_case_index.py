"""The window's case list and 监测评估 read an index kept up to date from the notification log: a
look after changes reads back only the cases that changed, and what one replica saved is listed
by another. Real event stores (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from uuid import UUID

import pytest

from exchange.case import Case, CaseStatus
from exchange.ledger import CaseLedger
from exchange.lookup import find_cases
from exchange.monitoring import Report, monitor
from exchange.people import make_resident_id
from storage.eventstore import EventStoreSettings

CLERK = {"node": "340000", "department": "", "operator": "clerk-1"}
OFFICER = {"node": "330000", "department": "market", "operator": "officer-1"}
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def submitted(number: str, *, person: str) -> Case:
    return Case.submit(
        case_number=number, matter_code="KS2020-044", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": make_resident_id(person)}, materials=[], checklist={},
        actor=CLERK, at=T0.isoformat(),
    )


def accepted(number: str, *, limit_days: int) -> Case:
    case = Case.receive(
        case_number=number, matter_code="KS35-043", mode="proxy", origin_province=number[:6],
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": make_resident_id("33010619850315123")}, materials=[],
        checklist={}, actor=OFFICER, at=T0.isoformat(),
    )
    case.accept(actor=OFFICER, time_limit_days=limit_days, at=T0.isoformat())
    return case


class Counting:
    """The ledger, counting how many cases the index reads back."""

    def __init__(self, ledger: CaseLedger) -> None:
        self.ledger, self.reads = ledger, 0

    def case_changes(self, *, after: int) -> Iterator[tuple[int, UUID | None]]:
        return self.ledger.case_changes(after=after)

    def case_by_id(self, originator_id: UUID) -> Case | None:
        self.reads += 1
        return self.ledger.case_by_id(originator_id)


def test_a_second_look_reads_back_only_the_cases_that_changed(ledger: CaseLedger) -> None:
    from exchange.case_index import CaseIndex

    cases = [submitted(f"340000-20261102-{i:08X}", person=f"3401021990010{i:04d}") for i in range(6)]
    for case in cases:
        ledger.save(case)
    counting = Counting(ledger)
    index = CaseIndex(counting)
    assert sorted(s.case_number for s in index.summaries()) == sorted(c.case_number for c in cases)
    assert counting.reads == 6

    changed = ledger.get_case(cases[2].case_number)
    changed.forward(actor=CLERK, at=(T0 + timedelta(hours=1)).isoformat())
    ledger.save(changed)
    summaries = index.summaries()

    assert counting.reads == 7, "only the forwarded case is read back"
    assert {s.case_number: s.status for s in summaries}[changed.case_number] is CaseStatus.FORWARDED
    assert [s.case_number for s in find_cases(summaries, statuses=frozenset({CaseStatus.FORWARDED}))] == \
        [changed.case_number]
    person = cases[4].applicant["id_number"]
    assert [s.case_number for s in find_cases(summaries, applicant_id_number=person)] == [cases[4].case_number]


def test_a_second_monitor_call_reads_back_only_the_case_that_changed_and_reports_as_a_replay_does(
    ledger: CaseLedger,
) -> None:
    from exchange.case_index import CaseIndex

    cases = [accepted(f"{origin}-20261102-{i:08X}", limit_days=1 + i % 4)
             for i, origin in enumerate(["340000", "320000"] * 4)]
    cases[0].approve(actor=OFFICER, at=(T0 + timedelta(days=1)).isoformat())
    for case in cases:
        ledger.save(case)
    counting = Counting(ledger)
    index = CaseIndex(counting)
    now = T0 + timedelta(days=2)

    def replayed() -> Report:
        return monitor(ledger.cases(), node="330000", now=now, due_within_days=1)

    assert monitor(index.monitored(), node="330000", now=now, due_within_days=1) == replayed()
    assert counting.reads == len(cases)

    changed = ledger.get_case(cases[3].case_number)
    changed.request_supplement(missing=["申请书"], note="未签字", actor=OFFICER, at=(T0 + timedelta(hours=5)).isoformat())
    ledger.save(changed)
    report = monitor(index.monitored(), node="330000", now=now, due_within_days=1)

    assert counting.reads == len(cases) + 1, "only the case waiting for 补正 is read back"
    assert report == replayed()
    assert report.totals["paused"] == 1 and report.totals["decided"] == 1


def test_a_look_that_fails_part_way_reads_the_same_cases_again_at_the_next(ledger: CaseLedger) -> None:
    from exchange.case_index import CaseIndex

    class FailingOnce(Counting):
        def case_by_id(self, originator_id: UUID) -> Case | None:
            if self.reads == 0:
                self.reads += 1
                raise ConnectionError("the event store is unreachable")
            return super().case_by_id(originator_id)

    ledger.save(submitted("340000-20261102-0000000C", person="34010219900101003"))
    index = CaseIndex(FailingOnce(ledger))
    with pytest.raises(ConnectionError):
        index.summaries()
    assert [s.case_number for s in index.summaries()] == ["340000-20261102-0000000C"]


def test_what_one_replica_saves_another_lists(ledger: CaseLedger, settings: EventStoreSettings) -> None:
    other = CaseLedger(env=settings.application_env())
    try:
        ledger.save(submitted("340000-20261102-0000000A", person="34010219900101001"))
        assert [s.case_number for s in other.index.summaries()] == ["340000-20261102-0000000A"]
        ledger.save(submitted("340000-20261102-0000000B", person="34010219900101002"))
        assert sorted(s.case_number for s in other.index.summaries()) == \
            ["340000-20261102-0000000A", "340000-20261102-0000000B"]
    finally:
        other.close()
