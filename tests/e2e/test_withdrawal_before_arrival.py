"""A withdrawal that overtakes its forward: the window stopped waiting for the competent node
(its call timed out) while the forward was still being handled there, and the applicant then
withdrew. The competent node must never open the case afterwards. Two real nodes on loopback
over mutual TLS; the competent node's intake is held back at a gate to make the timing certain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import pytest

from exchange.department import DepartmentDesk
from exchange.errors import IllegalTransition
from nodes.clients import OfficerClient, WindowClient, operator_channel
from nodes.demo import CLERK, COMPETENT_PROVINCE, OFFICER, WINDOW_PROVINCE
from nodes.launch import loopback_configs
from nodes.server import RunningNode, start_node
from signing.pki import Federation
from tests.fixtures.cases import submit_sample_case


@dataclass
class Pair:
    federation: Federation
    nodes: dict[str, RunningNode]

    @contextmanager
    def window(self) -> Iterator[WindowClient]:
        with operator_channel(self.federation, province=WINDOW_PROVINCE, operator_id=CLERK,
                              address=self.nodes[WINDOW_PROVINCE].address) as channel:
            yield WindowClient(channel)

    @contextmanager
    def officer(self) -> Iterator[OfficerClient]:
        with operator_channel(self.federation, province=COMPETENT_PROVINCE, operator_id=OFFICER,
                              address=self.nodes[COMPETENT_PROVINCE].address) as channel:
            yield OfficerClient(channel)


@pytest.fixture
def pair(tmp_path, federation: Federation) -> Iterator[Pair]:  # type: ignore[no-untyped-def]
    configs = loopback_configs(tmp_path, [WINDOW_PROVINCE, COMPETENT_PROVINCE], pki_dir=federation.directory)
    nodes = {code: start_node(c) for code, c in configs.items()}
    nodes[WINDOW_PROVINCE].node.peers.timeout = 1.0  # the window gives up on a slow partner soon
    yield Pair(federation, nodes)
    for n in nodes.values():
        n.stop()


def submit(window: WindowClient) -> str:
    case = submit_sample_case(window)
    assert case.status == "submitted", "the forward was still on its way when the window stopped waiting"
    return case.case_number


def test_a_forward_still_on_its_way_when_the_applicant_withdraws_never_opens_the_case(
    pair: Pair, monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, arrived = threading.Event(), threading.Event()
    outcomes: list[object] = []
    take_in = DepartmentDesk.take_forward

    def held_back(self: DepartmentDesk, *args: object, **kwargs: object) -> object:
        arrived.set()
        gate.wait(30)
        try:
            taken = take_in(self, *args, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            outcomes.append(exc)
            raise
        outcomes.append(taken[0])
        return taken

    monkeypatch.setattr(DepartmentDesk, "take_forward", held_back)
    with pair.window() as window, pair.officer() as officer:
        number = submit(window)
        assert arrived.wait(10)
        assert window.withdraw(number, reason="不再需要").status == "withdrawn"
        gate.set()
        for _ in range(100):
            if outcomes:
                break
            threading.Event().wait(0.1)
        assert outcomes and isinstance(outcomes[0], IllegalTransition), f"before: the case was opened ({outcomes})"
        with pytest.raises(grpc.RpcError) as not_there:
            officer.get_case(number)
        assert not_there.value.code() == grpc.StatusCode.NOT_FOUND
        assert window.get_case(number).status == "withdrawn"


def test_a_withdrawal_after_the_case_arrived_withdraws_it_on_both_sides(pair: Pair) -> None:
    pair.nodes[WINDOW_PROVINCE].node.peers.timeout = 30.0
    with pair.window() as window, pair.officer() as officer:
        number = submit_sample_case(window).case_number
        assert officer.get_case(number).status == "received"
        assert window.withdraw(number, reason="不再需要").status == "withdrawn"
        assert officer.get_case(number).status == "withdrawn"
