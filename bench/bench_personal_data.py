"""What protecting personal data at rest costs: events appended and cases read back per second
with the node cipher and per-case keys, against the same store without them, in the same run.
Prints figures; no thresholds.

    .venv/bin/python bench/bench_personal_data.py --cases 500 --store sqlite
    .venv/bin/python bench/bench_personal_data.py --cases 500 --store postgres
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange.case import Case  # noqa: E402
from exchange.ledger import CaseLedger  # noqa: E402
from exchange.people import make_resident_id  # noqa: E402
from storage.eventstore import EventStoreSettings  # noqa: E402

ACTOR = {"node": "340000", "department": "", "operator": "clerk-1"}
EVENTS_PER_CASE = 6  # Submitted, Forwarded, ResultReceived, Verified, Printed, Mailed


def one_case(number: str, i: int) -> Case:
    at = "2025-11-23T02:00:00+00:00"
    case = Case.submit(
        case_number=number, matter_code="KS2020-044", mode="window", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": make_resident_id(f"3301061985{i % 10**7:07d}")},
        materials=[{"kind": "id_card", "file_name": f"身份证-{i}.png", "media_type": "image/png", "size": 1,
                    "sha256": f"{i:064x}"}],
        checklist={"id_card": True}, actor=ACTOR, identity={"method": "id_card_reader", "verified": True}, at=at)
    case.forward(actor=ACTOR, at=at)
    case.receive_result(sha256="cd" * 32, object_key="sha256/cd/x", actor=ACTOR, at=at)
    case.record_verification(report={"verdict": "TOTAL_PASSED"}, actor=ACTOR, at=at)
    case.print_result(copies=1, spool_ref="spool/1.pdf", report={"verdict": "TOTAL_PASSED"}, actor=ACTOR, at=at)
    case.mail_result(carrier="EMS", tracking_number=f"EMS{i}", address="浙江省杭州市西湖区文三路478号", actor=ACTOR, at=at)
    return case


def measure(settings: EventStoreSettings, cases: int, label: str) -> tuple[float, float]:
    ledger = CaseLedger(env=settings.application_env())
    numbers = [f"{label}-{uuid4().hex[:8]}-{i}" for i in range(cases)]
    built = [one_case(n, i) for i, n in enumerate(numbers)]
    t = time.perf_counter()
    for case in built:
        ledger.save(case)
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    for n in numbers:
        ledger.get_case(n)
    read_s = time.perf_counter() - t
    ledger.close()
    return cases * EVENTS_PER_CASE / write_s, cases / read_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=500)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--rounds", type=int, default=3, help="alternate plain and protected this many times")
    args = p.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tongban-bench-pd-"))
    schema = f"bench_pd_{uuid4().hex[:6]}"
    results: dict[str, list[tuple[float, float]]] = {"plain": [], "protected": []}
    try:
        for r in range(args.rounds):
            for label in ("plain", "protected"):
                if args.store == "sqlite":
                    base = EventStoreSettings(kind="sqlite", sqlite_path=workdir / f"{label}-{r}.sqlite")
                else:
                    base = EventStoreSettings(kind="postgres", dbname="test", schema=f"{schema}_{label}_{r}")
                settings = replace(base, key_file=workdir / f"{label}-{r}-keys.json") if label == "protected" else base
                results[label].append(measure(settings, args.cases, label))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if args.store == "postgres":
            import psycopg

            with psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True) as conn:
                for (name,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                            (schema + "%",)).fetchall():
                    conn.execute(f'DROP SCHEMA "{name}" CASCADE')

    def best(label: str, i: int) -> float:
        return max(x[i] for x in results[label])

    print(f"{args.cases} cases x {EVENTS_PER_CASE} events, event store {args.store}, best of {args.rounds} rounds")
    print(f"  {'':<34} {'events appended/s':>18} {'cases read/s':>14}")
    print(f"  {'plain (baseline, same run)':<34} {best('plain', 0):18.0f} {best('plain', 1):14.0f}")
    print(f"  {'node cipher + per-case keys':<34} {best('protected', 0):18.0f} {best('protected', 1):14.0f}")
    print(f"  protected / plain: appends {best('protected', 0) / best('plain', 0):.2f}, "
          f"reads {best('protected', 1) / best('plain', 1):.2f}")


if __name__ == "__main__":
    main()
