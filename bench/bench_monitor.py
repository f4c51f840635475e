"""监测评估 and 收件标准查询 cost, next to baselines measured in the same run. No thresholds.

- monitor(): one node's report over N cases in a real SQLite store, next to only reading those
  cases back (the floor: monitoring adds the arithmetic on top of the replay).
- the window's case list (ListCases): the case index's first look (the whole log) and a look
  after one case changed, next to the same replay.
- Catalog.search(): the scored search over all 162 matters, next to a bare substring scan of
  the names.

  python bench/bench_monitor.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange.case import Case, CaseStatus  # noqa: E402
from exchange.ledger import CaseLedger  # noqa: E402
from exchange.lookup import find_cases  # noqa: E402
from exchange.monitoring import monitor  # noqa: E402
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


def fill(ledger: CaseLedger, n: int) -> None:
    codes = ["KS35-043", "KS35-005", "KS35-061", "KS34-002"]
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
        ledger.save(case)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=Path(tmp) / "e.sqlite").application_env())
        started = time.perf_counter()
        fill(ledger, n)
        print(f"recorded {n} cases (received, accepted, half approved) in {time.perf_counter() - started:.2f}s")
        baseline = timed(lambda: sum(1 for _ in ledger.cases()))
        report = timed(lambda: monitor(ledger.cases(), node="330000", now=T0 + timedelta(days=9), due_within_days=3))
        print(f"baseline: read back {n} cases        {baseline * 1000:8.1f} ms")
        print(f"monitor():  report over {n} cases   {report * 1000:8.1f} ms  ({report / baseline:.2f}x baseline)")
        first = timed(lambda: find_cases(ledger.index.summaries(), limit=50), repeat=1)
        pending = next(s for s in ledger.index.summaries() if s.status is CaseStatus.ACCEPTED)
        case = ledger.get_case(pending.case_number)  # one case changes between two looks
        case.approve(actor=OFFICER, at=(T0 + timedelta(days=2)).isoformat())
        ledger.save(case)
        again = timed(lambda: find_cases(ledger.index.summaries(), limit=50))
        print(f"case list, index's first look           {first * 1000:8.1f} ms  ({first / baseline:.2f}x baseline)")
        print(f"case list, each look after              {again * 1000:8.1f} ms  ({again / baseline:.4f}x baseline)")
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
