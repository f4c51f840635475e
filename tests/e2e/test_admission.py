"""A clerk's upload on a slow link keeps no other clerk waiting at a real node process on
loopback with one turn: the upload holds the turn only while it handles what arrived. Uploads
beyond the node's upload slots are turned away at once. (Who holds turns and queue places, and
that partners are served when all are taken: tests/integration/test_admission.py.)"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from nodes.clients import operator_channel
from nodes.demo import CLERK
from nodes.launch import NodeProcess, loopback_configs, spawn_node, wait_serving
from signing.pki import Federation
from tongban_pb import common_pb2, window_pb2, window_pb2_grpc

WINDOW, PARTNER = "340000", "330000"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, federation: Federation) -> Iterator[NodeProcess]:
    configs = loopback_configs(tmp_path_factory.mktemp("admission"), [WINDOW, PARTNER], pki_dir=federation.directory)
    config = dataclasses.replace(configs[WINDOW], workers=1, queued_calls=1, uploads=1, partner_workers=2)
    process = spawn_node(config)
    wait_serving(process, federation)
    yield process
    process.stop()


def _window(node: NodeProcess, federation: Federation) -> window_pb2_grpc.WindowServiceStub:
    return window_pb2_grpc.WindowServiceStub(
        operator_channel(federation, province=WINDOW, operator_id=CLERK, address=node.config.listen))


class PausedUpload:
    """An upload whose sender pauses after the header, as on a slow link."""

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

    @staticmethod
    def header_only(window: window_pb2_grpc.WindowServiceStub) -> None:
        """A second upload: refused at once when the slots are full, else refused as incomplete."""
        try:
            window.UploadMaterial(iter([common_pb2.MaterialChunk(header=common_pb2.MaterialHeader(
                kind="id_card", file_name="id.pdf", media_type="application/pdf"))]), timeout=10)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise


def _list(window: window_pb2_grpc.WindowServiceStub, timeout: float) -> window_pb2.CaseList:
    return window.ListCases(window_pb2.CaseQuery(limit=5), timeout=timeout)


def test_a_clerks_paused_upload_keeps_no_other_clerk_waiting(node: NodeProcess, federation: Federation) -> None:
    window = _window(node, federation)
    paused = PausedUpload(window)
    try:
        _list(window, timeout=1)  # before: DEADLINE_EXCEEDED, the upload held the only turn
        second: grpc.RpcError | None = None
        for _ in range(200):  # until the paused upload has its slot
            if paused.error:  # it came while a probe held the one slot and was turned away: pause another
                paused.end()
                paused = PausedUpload(window)
            try:
                PausedUpload.header_only(window)
            except grpc.RpcError as exc:
                second = exc
                break
            time.sleep(0.005)  # room for a paused upload still on its way to take the slot
        assert second is not None, f"no upload was turned away; the paused one: {paused.error or 'still open'}"
        assert second.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "has 1 streams open already" in second.details()
    finally:
        paused.end()
    _list(window, timeout=30)
