"""The window's case list reads an index kept up to date from the notification log: a look
after changes reads back only the cases that changed, and what one replica saved is listed by
another. Real event stores (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from uuid import UUID

from exchange.case import Case, CaseStatus
from exchange.ledger import CaseLedger
from exchange.lookup import find_cases
from exchange.people import make_resident_id
from storage.eventstore import EventStoreSettings

CLERK = {"node": "340000", "department": "", "operator": "clerk-1"}
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def submitted(number: str, *, person: str) -> Case:
    return Case.submit(
        case_number=number, matter_code="KS2020-044", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": make_resident_id(person)}, materials=[], checklist={},
        actor=CLERK, at=T0.isoformat(),
    )


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
