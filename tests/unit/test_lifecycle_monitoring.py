"""Time limits and 监测评估 over cases recorded in a real SQLite event store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from exchange.case import Case
from exchange.errors import InvalidRequest
from exchange.ledger import CaseLedger
from exchange.monitoring import monitor
from storage.eventstore import EventStoreSettings

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
OFFICER = {"node": "330000", "department": "market", "operator": "officer-1"}


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def make(ledger: CaseLedger, n: int, *, matter: str = "KS35-043", origin: str = "340000") -> Case:
    case = Case.receive(
        case_number=f"{origin}-20261102-{n:08d}", matter_code=matter, mode="proxy", origin_province=origin,
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=[], checklist={},
        actor=OFFICER, at=at(0),
    )
    case.accept(actor=OFFICER, time_limit_days=3, at=at(0))
    ledger.save(case)
    return case


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite")
    ledger = CaseLedger(env=settings.application_env())
    yield ledger
    ledger.close()


def test_open_overdue_due_soon_and_paused_cases_by_matter_and_partner(ledger: CaseLedger) -> None:
    overdue = make(ledger, 1)
    make(ledger, 2)  # due at day 3
    paused = make(ledger, 3)
    paused.request_supplement(missing=["申请书"], note="", actor=OFFICER, at=at(1))
    ledger.save(paused)
    make(ledger, 4, origin="320000")
    done = make(ledger, 5, matter="KS35-013")
    done.approve(actor=OFFICER, at=at(2))
    ledger.save(done)

    report = monitor(ledger.cases(), node="330000", now=T0 + timedelta(days=2, hours=12), due_within_days=1)
    rows = {(b.matter_code, b.partner_province): b for b in report.buckets}
    anhui = rows[("KS35-043", "340000")]
    assert (anhui.open, anhui.overdue, anhui.due_soon, anhui.paused) == (3, 0, 2, 1)
    assert rows[("KS35-043", "320000")].open == 1
    assert ("KS35-013", "340000") not in rows  # decided: not open
    report = monitor(ledger.cases(), node="330000", now=T0 + timedelta(days=4), due_within_days=1)
    assert report.totals["overdue"] == 3 and overdue.case_number in report.buckets[-1].overdue_cases
    assert report.totals["paused"] == 1  # the clock does not run during 补正
    only_jiangsu = monitor(ledger.cases(), node="330000", now=T0, partner_province="320000")
    assert only_jiangsu.totals["open"] == 1


def test_a_supplement_wait_moves_the_due_date_and_is_not_handling_time(ledger: CaseLedger) -> None:
    case = make(ledger, 1)
    case.request_supplement(missing=["申请书"], note="未签字", actor=OFFICER, at=at(1))
    case.supplement(materials=[{"kind": "application_form", "file_name": "f.pdf", "media_type": "application/pdf",
                                "size": 1, "sha256": "ef" * 32}], actor=OFFICER, at=at(3))
    # Accepted Monday 09:00 China time with 3 working days; one used before the wait (Tuesday
    # to Thursday), two after it: due the next Monday, not on Saturday.
    assert case.due_at() == T0 + timedelta(days=7)
    case.approve(actor=OFFICER, at=at(4))
    ledger.save(case)
    reread = ledger.get_case(case.case_number)
    assert reread.handling_seconds() == timedelta(days=2).total_seconds()


def test_throughput_and_median_handling_time_per_matter(ledger: CaseLedger) -> None:
    for n, days in enumerate((1, 2, 5), start=1):
        case = make(ledger, n)
        case.approve(actor=OFFICER, at=at(days))
        ledger.save(case)
    rejected = make(ledger, 4)
    rejected.reject(legal_basis="《条例》第二十一条", reason="不符合条件", actor=OFFICER, at=at(0.5))
    ledger.save(rejected)
    [row] = monitor(ledger.cases(), node="330000", now=T0 + timedelta(days=6)).throughput
    assert (row.matter_code, row.decided, row.approved, row.rejected_or_returned) == ("KS35-043", 4, 3, 1)
    assert row.median_handling_hours == 36.0  # of 12, 24, 48, 120 hours
    assert row.within_time_limit == 3  # the five-day one overran its three days
    since = monitor(ledger.cases(), node="330000", now=T0 + timedelta(days=6), since=T0 + timedelta(days=1.5))
    assert since.throughput[0].decided == 2


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="due_within_days"):
        monitor([], node="330000", now=T0, due_within_days=-1)
