"""Events replayed/s and verified/s over a node's log, against reading the same rows raw from the
store in the same run; plus appends/s with and without the hash chain. No thresholds.

    python bench/bench_audit.py --events 1000000            # SQLite (default)
    python bench/bench_audit.py --events 100000 --postgres  # PostgreSQL at 127.0.0.1:5432, db test
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange.audit import replay_log  # noqa: E402
from exchange.case import Case  # noqa: E402
from exchange.ledger import CaseLedger  # noqa: E402
from exchange.people import make_resident_id  # noqa: E402
from storage.eventstore import EventStoreSettings, open_log_store  # noqa: E402
from storage.logcheck import verify_log  # noqa: E402

NODE = "340000"
ACTOR = {"node": NODE, "department": "", "operator": "clerk-bench"}
ID_NUMBER = make_resident_id("33010619850315123")
_case_numbers = itertools.count()


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def record(ledger: CaseLedger, events: int, *, batch: int = 100) -> float:
    """Append `events` events (a Submitted and a Forwarded per case, `batch` cases per save)."""
    started = time.perf_counter()
    written = 0
    while written < events:
        cases = []
        for _ in range(min(batch, (events - written + 1) // 2)):
            i = next(_case_numbers)
            case = Case.submit(
                case_number=f"KS-{NODE}-20251123-{i:07d}", matter_code="KS2020-044", mode="proxy",
                origin_province=NODE, competent_province="330000", competent_department="market",
                applicant={"name": "王小明", "id_number": ID_NUMBER}, materials=[], checklist={}, actor=ACTOR,
            )
            case.forward(actor=ACTOR)
            cases.append(case)
        ledger.save(*cases)
        written += 2 * len(cases)
    return written / (time.perf_counter() - started)


def append_stored(recorder, events: int, *, per_save: int = 2) -> float:  # type: ignore[no-untyped-def]
    """Appends at the recorder, without building domain objects: what the chain itself costs."""
    from eventsourcing.persistence import StoredEvent

    state = b'{"actor":{"node":"340000"},' + b'"x":"' + b"y" * 500 + b'"}'
    started = time.perf_counter()
    for _ in range(events // per_save):
        oid = uuid.uuid4()
        recorder.insert_events([StoredEvent(originator_id=oid, originator_version=v, topic="bench:Event",
                                            state=state) for v in range(1, per_save + 1)])
    return (events // per_save * per_save) / (time.perf_counter() - started)


def timed(label: str, fn, events: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    n = fn()
    seconds = time.perf_counter() - started
    assert n == events, (label, n, events)
    rate = n / seconds
    print(f"  {label:<44} {rate:>10,.0f} events/s  ({seconds:6.1f} s, max RSS {max_rss_mb():6.0f} MB)")
    return rate


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--append-sample", type=int, default=20_000, help="events for the append comparison")
    p.add_argument("--postgres", action="store_true")
    p.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                   help="where the SQLite files go (default /dev/shm: no fsync cost, so the figures "
                        "show CPU cost; give a disk folder to include the disk)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        if args.postgres:
            settings = EventStoreSettings(kind="postgres", dbname="test", schema=f"bench_{uuid.uuid4().hex[:8]}")
            plain = dataclasses.replace(settings, schema=settings.schema + "_plain")
        else:
            settings = EventStoreSettings(kind="sqlite", sqlite_path=Path(tmp) / "events.sqlite")
            plain = dataclasses.replace(settings, sqlite_path=Path(tmp) / "plain.sqlite")
        where = f" in {args.dir}" if settings.kind == "sqlite" else ""
        print(f"store: {settings.kind}{where}; log of {args.events:,} events")

        env_plain = {k: v for k, v in plain.application_env().items() if k != "APPLICATION_RECORDER_TOPIC"}
        ledger_plain = CaseLedger(env=env_plain)
        plain_rate = record(ledger_plain, args.append_sample)
        plain_raw = append_stored(ledger_plain.recorder, args.append_sample)
        ledger_plain.close()
        ledger = CaseLedger(env=settings.application_env())
        chained_rate = record(ledger, args.append_sample)
        print(f"  save cases, library recorder (baseline)      {plain_rate:>10,.0f} events/s")
        print(f"  save cases, with hash chain                  {chained_rate:>10,.0f} events/s "
              f"({chained_rate / plain_rate:.0%} of baseline)")
        with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
            if args.postgres:
                side = dataclasses.replace(settings, schema=settings.schema + "_side")
            else:
                side = dataclasses.replace(settings, sqlite_path=Path(scratch) / "side.sqlite")
            side_ledger = CaseLedger(env=side.application_env())
            chained_raw = append_stored(side_ledger.recorder, args.append_sample)
            side_ledger.close()
        print(f"  append stored events, library recorder       {plain_raw:>10,.0f} events/s")
        print(f"  append stored events, with hash chain        {chained_raw:>10,.0f} events/s "
              f"({chained_raw / plain_raw:.0%} of baseline)")
        started = time.perf_counter()
        record(ledger, args.events - args.append_sample)
        print(f"  (filled the log in {time.perf_counter() - started:.0f} s)")

        with open_log_store(settings) as store:
            raw = timed("read raw rows, pages of 5000 (baseline)", lambda: sum(1 for _ in store.iter_events()),
                        args.events)
            replay = timed("replay: decode, mask, name the case",
                           lambda: sum(1 for _ in replay_log(ledger, node=NODE, page_size=5000)), args.events)
            report = None

            def check() -> int:
                nonlocal report
                report = verify_log(store, node=NODE)
                return report.entries

            verify = timed("verify: chain, leaves, Merkle head", check, args.events)
            assert report is not None and report.passed, report.render()
        ledger.close()
        print(f"replay = {replay / raw:.1%} of raw read speed; verify = {verify / raw:.1%} of raw read speed")
        if args.postgres:
            import psycopg

            with psycopg.connect(host=settings.host, dbname=settings.dbname, user=settings.user, autocommit=True) as c:
                c.execute(f'DROP SCHEMA "{settings.schema}" CASCADE')
                c.execute(f'DROP SCHEMA "{plain.schema}" CASCADE')
                c.execute(f'DROP SCHEMA "{settings.schema}_side" CASCADE')
    return 0


if __name__ == "__main__":
    sys.exit(main())
