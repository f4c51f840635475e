"""A node keeps threads for its partners: when every turn for clerks, officers and auditors is
taken and the queue behind them is full, a partner node's call is still served. Without that,
two busy nodes whose desk calls each wait on the other stall until the peer timeout. A real
node process on loopback, one turn and one queue place."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import grpc
import pytest

from nodes.clients import operator_channel
from nodes.demo import CLERK
from nodes.launch import NodeProcess, loopback_configs, spawn_node, wait_serving
from nodes.tls import channel_credentials, secure_channel
from signing.pki import Federation
from tongban_pb import common_pb2, peer_pb2, peer_pb2_grpc, window_pb2, window_pb2_grpc

WINDOW, PARTNER = "340000", "330000"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, federation: Federation) -> Iterator[NodeProcess]:
    configs = loopback_configs(tmp_path_factory.mktemp("admission"), [WINDOW, PARTNER], pki_dir=federation.directory)
    config = dataclasses.replace(configs[WINDOW], workers=1, queued_calls=1, partner_workers=2)
    process = spawn_node(config)
    wait_serving(process, federation)
    yield process
    process.stop()


def _window(node: NodeProcess, federation: Federation) -> window_pb2_grpc.WindowServiceStub:
    return window_pb2_grpc.WindowServiceStub(
        operator_channel(federation, province=WINDOW, operator_id=CLERK, address=node.config.listen))


def _partner(node: NodeProcess, federation: Federation) -> peer_pb2_grpc.PeerServiceStub:
    cert, key = federation.node_tls(PARTNER)
    creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=PARTNER)
    return peer_pb2_grpc.PeerServiceStub(secure_channel(node.config.listen, creds, province=WINDOW))


class HeldTurn:
    """An upload whose sender pauses after the header: it holds the node's only desk turn."""

    def __init__(self, window: window_pb2_grpc.WindowServiceStub) -> None:
        self.release = threading.Event()
        self.error: list[grpc.RpcError] = []

        def messages() -> Iterator[common_pb2.MaterialChunk]:
            yield common_pb2.MaterialChunk(header=common_pb2.MaterialHeader(
                kind="id_card", file_name="id.pdf", media_type="application/pdf"))
            self.release.wait(60)

        def run() -> None:
            try:
                window.UploadMaterial(messages(), timeout=60)
            except grpc.RpcError as exc:
                self.error.append(exc)

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def end(self) -> None:
        self.release.set()
        self.thread.join(60)


def _list(window: window_pb2_grpc.WindowServiceStub, timeout: float) -> window_pb2.CaseList:
    return window.ListCases(window_pb2.CaseQuery(limit=5), timeout=timeout)


def test_a_partners_call_is_served_while_every_desk_turn_and_queue_place_is_taken(
    node: NodeProcess, federation: Federation
) -> None:
    window = _window(node, federation)
    _list(window, timeout=30)  # the turn is free: served
    held = HeldTurn(window)
    queued: list[object] = []

    def wait_in_the_queue() -> None:  # as a console would: turned away, it asks again
        while not queued:
            try:
                queued.append(_list(window, timeout=60))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                held.release.wait(0.02)

    waiter = threading.Thread(target=wait_in_the_queue)
    try:
        waiter.start()
        turned_away = None
        for _ in range(300):  # until the waiter holds the queue place and this call is turned away
            try:
                _list(window, timeout=0.5)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    turned_away = exc
                    break
        assert turned_away is not None
        assert "1 calls from clerks, officers and auditors and 1 more are waiting" in turned_away.details()

        offset = _partner(node, federation).GetTransferOffset(
            peer_pb2.TransferRef(case_number=f"{PARTNER}-20260101-A1B2C3D4", sha256="ab" * 32, from_province=PARTNER),
            timeout=30)
        assert offset.confirmed_offset == 0 and not offset.complete
    finally:
        held.end()
        waiter.join(60)
    assert len(queued) == 1, "the queued call is served once the turn is free"


def test_a_desk_call_whose_deadline_passes_in_the_queue_is_told_so(node: NodeProcess, federation: Federation) -> None:
    window = _window(node, federation)
    held = HeldTurn(window)
    try:
        with pytest.raises(grpc.RpcError) as late:
            for _ in range(200):  # until the upload holds the turn
                _list(window, timeout=1)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        held.end()
    _list(window, timeout=30)
