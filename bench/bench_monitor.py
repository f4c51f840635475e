"""监测评估 and 收件标准查询 cost, next to baselines measured in the same run. No thresholds.

- monitor(): one node's report over N cases in a real SQLite store, replaying every case (as it
  did before the case index) next to only reading those cases back (the floor: monitoring adds
  the arithmetic on top of the replay); then over the case index, as Monitor calls it now: the
  index's first look (the whole log) and a look after one case changed.
- the window's case list (ListCases): the case index's first look and a look after one case
  changed, next to the same replay.
- Catalog.search(): the scored search over all 162 matters, next to a bare substring scan of
  the names.

  python bench/bench_monitor.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange.case import Case  # noqa: E402
from exchange.case_index import CaseIndex  # noqa: E402
from exchange.ledger import CaseLedger  # noqa: E402
from exchange.lookup import find_cases  # noqa: E402
from exchange.monitoring import MonitoredCase, Report, monitor  # noqa: E402
from nodes.wiring import load_catalog  # noqa: E402
from storage.eventstore import EventStoreSettings  # noqa: E402

T0 = datetime(2026, 11, 2, tzinfo=timezone.utc)
OFFICER = {"node": "330000", "department": "market", "operator": "officer-1"}


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def show(label: str, seconds: float, baseline: float | None = None) -> None:
    ratio = f"  ({seconds / baseline:.3g}x baseline)" if baseline else ""
    print(f"{label:<42}{seconds * 1000:8.1f} ms{ratio}")


def timed_after_a_change(look: Callable[[], object], *, change: Callable[[], None], repeat: int = 3) -> float:
    """The fastest of looks each made right after one case changed, so each reads one back."""
    best = float("inf")
    for _ in range(repeat):
        change()
        best = min(best, timed(look, repeat=1))
    return best


def fill(ledger: CaseLedger, n: int) -> list[str]:
    """Records n cases; returns the numbers of those left open (accepted)."""
    codes = ["KS35-043", "KS35-005", "KS35-061", "KS34-002"]
    still_open = []
    for i in range(n):
        at = (T0 + timedelta(hours=i % 200)).isoformat()
        case = Case.receive(
            case_number=f"{'340000' if i % 3 else '320000'}-20261102-{i:08d}", matter_code=codes[i % 4], mode="proxy",
            origin_province="340000" if i % 3 else "320000", competent_province="330000",
            competent_department="market", applicant={"name": "王小明", "id_number": "330106198503151234"},
            materials=[], checklist={}, actor=OFFICER, at=at,
        )
        case.accept(actor=OFFICER, time_limit_days=5, at=at)
        if i % 2:
            case.approve(actor=OFFICER, at=(T0 + timedelta(hours=i % 200 + 30)).isoformat())
        else:
            still_open.append(case.case_number)
        ledger.save(case)
    return still_open


def approve_one(ledger: CaseLedger, still_open: list[str]) -> None:
    case = ledger.get_case(still_open.pop())
    case.approve(actor=OFFICER, at=(T0 + timedelta(days=2)).isoformat())
    ledger.save(case)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=Path(tmp) / "e.sqlite").application_env())
        started = time.perf_counter()
        still_open = fill(ledger, n)
        print(f"recorded {n} cases (received, accepted, half approved) in {time.perf_counter() - started:.2f}s")

        def change() -> None:
            approve_one(ledger, still_open)

        def report(cases: Iterable[Case | MonitoredCase]) -> Report:
            return monitor(cases, node="330000", now=T0 + timedelta(days=9), due_within_days=3)

        baseline = timed(lambda: sum(1 for _ in ledger.cases()))
        replayed = timed(lambda: report(ledger.cases()))
        show(f"baseline: read back {n} cases", baseline)
        show("monitor(), replaying every case (before)", replayed, baseline)
        # The monitor's own index, so that the case list's first look below is a first look too.
        index = CaseIndex(ledger)
        first = timed(lambda: report(index.monitored()), repeat=1)
        again = timed_after_a_change(lambda: report(index.monitored()), change=change)
        show("monitor(), index's first look", first, baseline)
        show("monitor(), each look after one change", again, baseline)
        assert report(index.monitored()) == report(ledger.cases())

        first = timed(lambda: find_cases(ledger.index.summaries(), limit=50), repeat=1)
        again = timed_after_a_change(lambda: find_cases(ledger.index.summaries(), limit=50), change=change)
        show("case list, index's first look", first, baseline)
        show("case list, each look after one change", again, baseline)
        ledger.close()
    catalog = load_catalog()
    names = [m.name for m in catalog]
    queries = ["营业执照", "户口迁移", "公积金 提取", "KS35-043", "社会保险"]
    base = timed(lambda: [[x for x in names if q in x] for q in queries * 200])
    search = timed(lambda: [catalog.search(q) for q in queries * 200])
    print(f"baseline: substring scan of {len(names)} names x1000  {base * 1000:8.1f} ms")
    print(f"Catalog.search() x1000                    {search * 1000:8.1f} ms  ({search / base:.1f}x baseline, "
          f"{search / 1000 * 1e6:.0f} µs per query)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
