"""Two versions of the nodes, measured in alternating blocks of cases in one run.

This host's speed swings by ±10% between runs minutes apart, which hides any change worth a
few per cent of a case's CPU when whole `tongban bench` runs are compared. Here two topologies
run side by side (window + competent node each, on PostgreSQL and folders, as `tongban bench`'s
first scenario): one from this checkout, one from `--other` (a `git worktree` of another
revision). Cases go to one of them at a time, in blocks, ABBA-ordered, so both see the same
host, and each block's cases are the same on both sides (matters, material sizes). Only one
topology works at any moment, so all the machine's CPU during a block is that block's: its
nodes with their signing workers, PostgreSQL (the whole server), the load generator.

Prints CPU per case for each side (all of it, and the nodes alone), the median of the per-pair
differences and how many pairs each side won. No thresholds.
Usage: python bench/bench_ab.py --other /tmp/old [--blocks 20] [--block-cases 12] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nodes.bench as bench  # noqa: E402
from nodes.bench_parts import (  # noqa: E402
    drop_schemas, postgres_cpu_seconds, spread_from_earlier_runs, tree_cpu_seconds,
)
from nodes.demo import make_federation  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, required=True, help="a checkout of the other version")
    parser.add_argument("--blocks", type=int, default=20, help="blocks per side")
    parser.add_argument("--block-cases", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="tongban-ab-"))
    run_id = f"ab_{uuid4().hex[:8]}"
    spread_from_earlier_runs(workdir)
    options = bench.BenchOptions(concurrency=args.concurrency)
    sides = {"this": ROOT, "other": args.other.resolve()}
    topologies: dict[str, bench.Topology] = {}
    try:
        federation = make_federation(workdir / "federation")
        for i, (name, source) in enumerate(sides.items()):
            topologies[name] = bench.start_topology(workdir / name, options, federation=federation,
                                                    schema=f"{run_id}_{i}", source=source)
        traffic = {name: bench.Traffic(t, options) for name, t in topologies.items()}
        for name in sides:  # warm-up: connections, caches, the workers' first seals
            traffic[name].run(first=10**8, cases=2 * args.concurrency, concurrency=args.concurrency)
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        nodes_cpu: dict[str, list[float]] = {name: [] for name in sides}
        done = {name: 0 for name in sides}
        for block in range(args.blocks):
            order = ("this", "other") if block % 2 == 0 else ("other", "this")
            for name in order:
                pids = [n.process.pid for n in topologies[name].nodes]
                before_nodes = sum(tree_cpu_seconds(p) for p in pids)
                before_pg, before_own = postgres_cpu_seconds(), time.process_time()
                before_done = len(traffic[name].latencies.get("case", []))
                # The same cases on both sides (a case's matter and material sizes follow from its
                # index): a block's CPU depends on its megabytes more than on anything else.
                traffic[name].run(first=block * args.block_cases, cases=args.block_cases,
                                  concurrency=args.concurrency)
                finished = len(traffic[name].latencies.get("case", [])) - before_done
                spent_nodes = sum(tree_cpu_seconds(p) for p in pids) - before_nodes
                spent = spent_nodes + postgres_cpu_seconds() - before_pg + time.process_time() - before_own
                cpu[name].append(1000 * spent / max(finished, 1))
                nodes_cpu[name].append(1000 * spent_nodes / max(finished, 1))
                done[name] += finished
            print(f"block {block + 1:2d}: this {cpu['this'][-1]:6.1f}  other {cpu['other'][-1]:6.1f} ms per case",
                  flush=True)
        failed = {name: len(t.failures) for name, t in traffic.items()}
        diffs = [a - b for a, b in zip(cpu["this"], cpu["other"], strict=True)]
        node_diffs = [a - b for a, b in zip(nodes_cpu["this"], nodes_cpu["other"], strict=True)]
        print(f"\nthis  = {sides['this']}\nother = {sides['other']}")
        print(f"cases: this {done['this']}, other {done['other']}; failed: this {failed['this']}, "
              f"other {failed['other']}")
        for label, values, d in (("all processes", cpu, diffs), ("the nodes alone", nodes_cpu, node_diffs)):
            print(f"CPU ms per case, {label}: this {statistics.median(values['this']):.1f}, other "
                  f"{statistics.median(values['other']):.1f} (medians of {args.blocks} blocks); this − other per "
                  f"pair: median {statistics.median(d):+.1f}, mean {statistics.mean(d):+.1f}; this lower in "
                  f"{sum(x < 0 for x in d)} of {len(d)} pairs")
        return 1 if any(failed.values()) else 0
    finally:
        for t in topologies.values():
            t.stop()
        drop_schemas(options.dbname, run_id)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
