"""Whole cases per second across provincial nodes on loopback (by default two scenarios: a window
node and the competent province's node on PostgreSQL and folders, then a window node and two
replicas of the competent node on one PostgreSQL and one S3 bucket), next to the bound set by the
irreducible parts measured in the same run. Prints figures; no thresholds.
The same as `tongban bench`; see docs/performance.md.

    .venv/bin/python bench/bench_cases.py --duration 30 --concurrency 8
    .venv/bin/python bench/bench_cases.py --event-store sqlite --replicas 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodes.bench import add_arguments, main  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
