"""What a node does as it starts, before anyone asks, and as it stops: a real node
(nodes.server.start_node) over its embedded event store."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from exchange.case import Case
from exchange.people import make_resident_id
from exchange.errors import TongbanError
from nodes import servicers
from nodes.clients import WindowClient, operator_channel
from nodes.demo import CLERK as CLERK_ID
from nodes.launch import loopback_configs
from nodes.server import start_node
from signing.pki import Federation
from tongban_pb import common_pb2

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


def test_a_second_node_on_a_port_in_use_is_refused_and_the_first_keeps_it(tmp_path: Path,
                                                                        federation: Federation) -> None:
    configs = loopback_configs(tmp_path, [WINDOW, COMPETENT], pki_dir=federation.directory)
    first = start_node(configs[WINDOW])
    try:
        clash = dataclasses.replace(configs[COMPETENT], listen=first.address)  # a mistake in a config file
        with pytest.raises(OSError, match=f"cannot listen on {first.address}; is another node using that port"):
            start_node(clash).stop(0)  # before: it started and the kernel shared the port between the two
    finally:
        first.stop(0)


def test_a_bad_checkpoint_interval_is_refused_before_the_node_serves(tmp_path: Path, federation: Federation,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = loopback_configs(tmp_path, [WINDOW, COMPETENT], pki_dir=federation.directory)[WINDOW]
    monkeypatch.setenv("TONGBAN_CHECKPOINT_INTERVAL", "5m")
    with pytest.raises(TongbanError, match="TONGBAN_CHECKPOINT_INTERVAL='5m': give the seconds"):
        start_node(config)
    monkeypatch.setenv("TONGBAN_CHECKPOINT_INTERVAL", "0")
    start_node(config).stop(0)  # the port was never taken


def test_a_stopping_node_closes_its_stores_only_after_the_calls_still_running(
    tmp_path: Path, federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = loopback_configs(tmp_path, [WINDOW, COMPETENT], pki_dir=federation.directory)[WINDOW]
    started, outcome = threading.Event(), []

    def waits_on_a_partner_then_saves(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        started.set()
        time.sleep(1.0)  # a forwarding waiting for the competent node's answer
        try:
            self.ctx.ledger.save(_submitted(f"{WINDOW}-20261123-0000000A"))
            outcome.append("saved")
        except Exception as exc:  # before: ConnectionPoolClosedError, the node closed under the handler
            outcome.append(type(exc).__name__)
        return common_pb2.CaseView()

    monkeypatch.setattr(servicers.WindowServicer, "GetCase", waits_on_a_partner_then_saves)
    running = start_node(config)
    with operator_channel(federation, province=WINDOW, operator_id=CLERK_ID, address=running.address) as channel:
        call = WindowClient(channel).stub.GetCase.future(
            common_pb2.CaseRef(case_number=f"{WINDOW}-20261123-00000001"), timeout=30)
        assert started.wait(10)
        running.stop(0.2)
        assert outcome == ["saved"]
        call.cancel()
