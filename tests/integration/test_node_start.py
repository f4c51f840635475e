"""What a node does as it starts, before anyone asks: a real node (nodes.server.start_node) over
its embedded event store."""

from __future__ import annotations

import time
from pathlib import Path

from exchange.case import Case
from exchange.people import make_resident_id
from nodes.launch import loopback_configs
from nodes.server import start_node
from signing.pki import Federation

WINDOW, COMPETENT = "340000", "330000"
CLERK = {"node": WINDOW, "department": "", "operator": "clerk-1"}


def _submitted(number: str) -> Case:
    return Case.submit(
        case_number=number, matter_code="KS2020-044", mode="proxy", origin_province=WINDOW,
        competent_province=COMPETENT, competent_department="market",
        applicant={"name": "王小明", "id_number": make_resident_id("34010219900101123")}, materials=[], checklist={},
        actor=CLERK, at="2026-11-23T09:00:00+08:00",
    )


def test_a_restarted_node_reads_its_case_index_before_the_first_clerk_asks(tmp_path: Path,
                                                                          federation: Federation) -> None:
    config = loopback_configs(tmp_path, [WINDOW, COMPETENT], pki_dir=federation.directory)[WINDOW]
    first = start_node(config)
    try:
        for i in range(3):
            first.node.context.ledger.save(_submitted(f"{WINDOW}-20261123-{i:08X}"))
    finally:
        first.stop(0)

    again = start_node(config)
    try:
        index = again.node.context.ledger.index
        for _ in range(200):
            if index.held == 3:
                break
            time.sleep(0.05)
        assert index.held == 3, "the index is read at start, not at the first look (before: 0 until a clerk asked)"
    finally:
        again.stop(0)
