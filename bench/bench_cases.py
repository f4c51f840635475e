"""Whole cases per second across provincial nodes on loopback, and the bound set by the
irreducible parts measured in the same run (bare pyHanko sealing and verifying, bare
eventsourcing appends, a raw loopback copy of the same bytes). Prints figures; no thresholds.

    .venv/bin/python bench/bench_cases.py --cases 40 --concurrency 4 --store sqlite
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange.people import make_resident_id  # noqa: E402
from nodes.clients import OfficerClient, WindowClient, operator_channel  # noqa: E402
from nodes.demo import CLERK, COMPETENT_PROVINCE, MATTER, OFFICER, WINDOW_PROVINCE, make_federation  # noqa: E402
from nodes.launch import NodeProcess, loopback_configs, spawn_node, wait_serving  # noqa: E402
from storage.eventstore import EventStoreSettings  # noqa: E402

STEPS = ("upload", "submit+forward", "accept", "approve+seal+deliver", "verify+print")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def material(kind: str, size: int, rng: random.Random) -> bytes:
    head = b"\x89PNG\r\n\x1a\n" if kind == "png" else b"%PDF-1.7\n"
    return head + rng.randbytes(size - len(head))


def log_uniform_size(rng: random.Random, low: int = 100_000, high: int = 5_000_000) -> int:
    return int(low * (high / low) ** rng.random())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_cases(fed, configs, *, cases: int, concurrency: int, seed: int) -> tuple[dict[str, list[float]], int, float, int]:  # type: ignore[no-untyped-def]
    latencies: dict[str, list[float]] = defaultdict(list)
    failures = 0
    moved = 0
    lock = threading.Lock()
    local = threading.local()

    def clients() -> tuple[WindowClient, OfficerClient]:
        if not hasattr(local, "window"):
            local.window = WindowClient(operator_channel(fed, province=WINDOW_PROVINCE, operator_id=CLERK,
                                                         address=configs[WINDOW_PROVINCE].listen))
            local.officer = OfficerClient(operator_channel(fed, province=COMPETENT_PROVINCE, operator_id=OFFICER,
                                                           address=configs[COMPETENT_PROVINCE].listen))
        return local.window, local.officer

    def one(i: int) -> None:
        nonlocal failures, moved
        rng = random.Random(seed + i)
        scan = material("png", log_uniform_size(rng), rng)
        form = material("pdf", log_uniform_size(rng), rng)
        window, officer = clients()
        marks: dict[str, float] = {}
        try:
            t = time.perf_counter()
            a = window.upload([scan[j:j + (1 << 20)] for j in range(0, len(scan), 1 << 20)],
                              kind="id_card", file_name="id.png", media_type="image/png")
            b = window.upload([form[j:j + (1 << 20)] for j in range(0, len(form), 1 << 20)],
                              kind="application_form", file_name="form.pdf", media_type="application/pdf")
            marks["upload"] = time.perf_counter() - t
            t = time.perf_counter()
            case = window.submit(matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name="测试申请人",
                                 applicant_id=make_resident_id(f"3401021990{i % 10**7:07d}"), materials=[a, b],
                                 checklist={"id_card": True, "application_form": True})
            marks["submit+forward"] = time.perf_counter() - t
            t = time.perf_counter()
            officer.accept(case.case_number)
            marks["accept"] = time.perf_counter() - t
            t = time.perf_counter()
            officer.approve(case.case_number)
            marks["approve+seal+deliver"] = time.perf_counter() - t
            t = time.perf_counter()
            receipt = window.print(case.case_number)
            assert receipt.report.verdict == "TOTAL_PASSED"
            marks["verify+print"] = time.perf_counter() - t
        except Exception as exc:  # counted and shown: a benchmark reports failures, it does not hide them
            with lock:
                failures += 1
            print(f"  case {i} failed: {exc}", file=sys.stderr)
            return
        with lock:
            moved += len(scan) + len(form)
            for step, seconds in marks.items():
                latencies[step].append(seconds)
            latencies["case"].append(sum(marks.values()))

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(cases)))
    return latencies, failures, time.perf_counter() - started, moved


def bare_seal_and_verify(fed) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Seconds for one bare pyHanko seal and one bare validation of the same certificate."""
    from pyhanko.keys import load_certs_from_pemder_data
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from exchange.ports import CertificateRequest
    from signing.render import render_certificate

    pdf = render_certificate(CertificateRequest(
        case_number="340000-20261123-00000000", matter_code=MATTER, matter_name="营业执照遗失补领、换发",
        applicant_name="王小明", applicant_id_masked="3301**********1234", province_code=COMPETENT_PROVINCE,
        department_key="market", department_name="浙江省市场监督管理局", issued_on=date.today(),
        verification_code="0000-0000-0000"), province_name="浙江省")
    cert, key = fed.seal_paths(COMPETENT_PROVINCE, "market")
    signer = signers.SimpleSigner.load(str(key), str(cert), ca_chain_files=(
        str(fed.directory / "provinces" / COMPETENT_PROVINCE / "ca.pem"),))
    meta = signers.PdfSignatureMetadata(field_name="Bare", subfilter=fields.SigSeedSubFilter.PADES)
    trust = fed.trust()

    def sign() -> bytes:
        return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer).getvalue()

    def verify(signed: bytes) -> None:
        ctx = ValidationContext(
            trust_roots=list(load_certs_from_pemder_data(trust.root_pem)),
            other_certs=[c for p in trust.intermediate_pems for c in load_certs_from_pemder_data(p)],
            crls=list(trust.crls_der), revocation_mode="hard-fail")
        validate_pdf_signature(PdfFileReader(io.BytesIO(signed)).embedded_signatures[0], signer_validation_context=ctx)

    signed = sign()
    verify(signed)
    n = 15
    t = time.perf_counter()
    for _ in range(n):
        sign()
    seal_s = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        verify(signed)
    return seal_s, (time.perf_counter() - t) / n


def bare_appends(store: EventStoreSettings, workdir: Path, n: int = 400) -> float:
    """Seconds per bare eventsourcing save of one new aggregate with one event."""
    from dataclasses import replace

    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate

    class Probe(Aggregate):
        def __init__(self, note: str) -> None:
            self.note = note

    settings = replace(store, sqlite_path=workdir / "bare.sqlite") if store.kind == "sqlite" else \
        replace(store, schema=f"{store.schema}_bare_{uuid4().hex[:6]}")
    app = Application(env=settings.application_env())
    t = time.perf_counter()
    for i in range(n):
        app.save(Probe(note=f"event {i}"))
    elapsed = (time.perf_counter() - t) / n
    app.close()
    if store.kind == "postgres":
        import psycopg
        with psycopg.connect(host=store.host, port=store.port, dbname=store.dbname, user=store.user,
                             autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{settings.schema}" CASCADE')
    return elapsed


def raw_loopback_mb_s(total: int = 256 << 20) -> float:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    block = os.urandom(1 << 20)

    def sink() -> None:
        conn, _ = server.accept()
        with conn:
            while conn.recv(1 << 20):
                pass

    thread = threading.Thread(target=sink)
    thread.start()
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        for _ in range(total // len(block)):
            s.sendall(block)
    thread.join()
    server.close()
    return total / (1 << 20) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--seed", type=int, default=2026)
    args = p.parse_args()
    logging.disable(logging.WARNING)

    workdir = Path(tempfile.mkdtemp(prefix="tongban-bench-cases-"))
    store = EventStoreSettings(kind="sqlite") if args.store == "sqlite" else \
        EventStoreSettings(kind="postgres", dbname="test", schema=f"bench_{uuid4().hex[:6]}")
    fed = make_federation(workdir)
    configs = loopback_configs(workdir, [WINDOW_PROVINCE, COMPETENT_PROVINCE], event_store=store)
    nodes: list[NodeProcess] = [spawn_node(c) for c in configs.values()]
    try:
        for n in nodes:
            wait_serving(n, fed)
        cpu_before = {n.config.province: cpu_seconds(n.process.pid) for n in nodes}
        latencies, failures, elapsed, moved = run_cases(fed, configs, cases=args.cases,
                                                        concurrency=args.concurrency, seed=args.seed)
        cpu = {n.config.province: cpu_seconds(n.process.pid) - cpu_before[n.config.province] for n in nodes}
        rss = {n.config.province: peak_rss_mb(n.process.pid) for n in nodes}
    finally:
        for n in nodes:
            n.stop()
    done = len(latencies.get("case", []))

    seal_s, verify_s = bare_seal_and_verify(fed)
    append_s = bare_appends(store, workdir)
    copy_mb_s = raw_loopback_mb_s()
    shutil.rmtree(workdir, ignore_errors=True)
    if store.kind == "postgres":
        import psycopg
        with psycopg.connect(host=store.host, port=store.port, dbname=store.dbname, user=store.user,
                             autocommit=True) as conn:
            for (name,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                        (store.schema + "%",)).fetchall():
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')

    # Each case costs one seal at the competent node and one verification at the window; each
    # node is one Python process, so those run on at most one core each, in parallel. Event
    # appends are ~5 per node per case; materials cross loopback twice (upload, forward).
    mb_per_case = moved / max(done, 1) / (1 << 20)
    bounds = {
        "sealing (competent node)": 1 / seal_s,
        "verifying (window node)": 1 / verify_s,
        "event appends (5/case/node)": 1 / (5 * append_s),
        "loopback copy (2 x materials)": copy_mb_s / (2 * mb_per_case) if mb_per_case else float("inf"),
    }
    bound_name, bound = min(bounds.items(), key=lambda kv: kv[1])
    throughput = done / elapsed

    print(f"{args.cases} cases, concurrency {args.concurrency}, event store {store.kind}, 2 nodes on loopback, "
          f"{os.cpu_count()} cores; materials {mb_per_case:.1f} MB per case (100 KB – 5 MB each)")
    print(f"completed {done}, failed {failures}, in {elapsed:.1f} s: {throughput:.2f} cases/s")
    print()
    print(f"  {'step':<22} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for step in (*STEPS, "case"):
        values = latencies.get(step, [])
        if values:
            print(f"  {step:<22} {statistics.median(values) * 1000:8.0f} {percentile(values, .95) * 1000:8.0f} "
                  f"{percentile(values, .99) * 1000:8.0f}")
    print()
    for code in cpu:
        print(f"  node {code}: CPU {cpu[code]:.1f} s ({cpu[code] / elapsed * 100:.0f}% of one core), peak RSS {rss[code]:.0f} MB")
    print()
    print("same-run baselines:")
    print(f"  bare pyHanko seal     {seal_s * 1000:7.1f} ms  -> {1 / seal_s:6.1f} /s")
    print(f"  bare pyHanko verify   {verify_s * 1000:7.1f} ms  -> {1 / verify_s:6.1f} /s")
    print(f"  bare eventsourcing    {append_s * 1000:7.2f} ms per save ({store.kind})")
    print(f"  raw loopback TCP      {copy_mb_s:7.0f} MB/s")
    for name, value in bounds.items():
        print(f"  bound from {name:<30} {value:6.1f} cases/s")
    print(f"throughput / tightest bound ({bound_name}): {throughput:.2f} / {bound:.1f} = {throughput / bound:.2f}")
    print(f"throughput / sealing bound: {throughput / bounds['sealing (competent node)']:.2f}")


if __name__ == "__main__":
    main()
