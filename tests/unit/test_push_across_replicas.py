"""Behind one address, a province's replicas each keep their own partial uploads: a resumed
push whose offset came from one replica and whose stream reaches another starts over from the
beginning instead of failing the forward."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import grpc
import pytest

from exchange.errors import PeerRefused
from nodes.peers import GrpcPeerGateway
from nodes.wire import serialize_push
from tongban_pb import common_pb2, peer_pb2
from tests.fixtures.rpc import RpcRefusal

MiB = 1 << 20
DATA = bytes(range(256)) * (5 * MiB // 256)


class Replica:
    def __init__(self, held: int) -> None:
        self.held = held  # bytes of the material this replica's partial upload holds
        self.streams: list[int] = []  # the offset each stream it took started at

    def push(self, sent: Iterator[peer_pb2.MaterialPush | bytes]) -> common_pb2.MaterialRef:
        # As the receiver sees them: data messages leave the gateway encoded (nodes.wire).
        messages = (peer_pb2.MaterialPush.FromString(serialize_push(m)) for m in sent)
        header = next(messages).header
        self.streams.append(header.offset)
        if header.offset > self.held:
            raise RpcRefusal(grpc.StatusCode.FAILED_PRECONDITION,
                          f"this node holds {self.held} bytes; ask GetTransferOffset and resume from there")
        for message in messages:
            end = message.data.offset + len(message.data.data)
            self.held = max(self.held, end)
        return common_pb2.MaterialRef()


class RoundRobin:
    """Two replicas behind one target: each call goes to the next one."""

    def __init__(self, *replicas: Replica, refuse_all: bool = False) -> None:
        self.replicas = replicas
        self.turn = 0
        self.refuse_all = refuse_all

    def _next(self) -> Replica:
        replica = self.replicas[self.turn % len(self.replicas)]
        self.turn += 1
        return replica

    def GetTransferOffset(self, ref: peer_pb2.TransferRef, timeout: float) -> peer_pb2.TransferOffset:
        return peer_pb2.TransferOffset(confirmed_offset=self._next().held, complete=False)

    def PushMaterial(self, messages: Iterator[peer_pb2.MaterialPush], timeout: float) -> common_pb2.MaterialRef:
        if self.refuse_all:
            next(messages)
            raise RpcRefusal(grpc.StatusCode.FAILED_PRECONDITION, "case 340000-20260101-A1 was withdrawn")
        return self._next().push(messages)


def _gateway(stub: RoundRobin) -> GrpcPeerGateway:
    gateway = GrpcPeerGateway(province="340000", peers={"330000": "127.0.0.1:1"},
                              credentials=grpc.local_channel_credentials(), resume_patience=1.0)
    gateway._stub = lambda province: stub  # type: ignore[method-assign]
    return gateway


def _material() -> dict[str, object]:
    return {"kind": "id_card", "file_name": "id.pdf", "media_type": "application/pdf",
            "sha256": hashlib.sha256(DATA).hexdigest(), "size": len(DATA)}


def _chunks() -> Iterator[bytes]:
    for at in range(0, len(DATA), MiB):
        yield DATA[at:at + MiB]


def test_a_resume_answered_by_one_replica_and_streamed_to_another_starts_over() -> None:
    holding, empty = Replica(held=2 * MiB), Replica(held=0)
    stub = RoundRobin(holding, empty)

    _gateway(stub).push_material("330000", case_number="340000-20260101-A1", material=_material(), chunks=_chunks())

    assert empty.streams == [2 * MiB], "the stream first went where the offset was not held"
    assert holding.streams == [0] and holding.held == len(DATA), "then from the start, to whichever replica"


def test_a_refusal_that_starting_over_does_not_cure_is_reported() -> None:
    stub = RoundRobin(Replica(held=2 * MiB), refuse_all=True)

    with pytest.raises(PeerRefused, match="withdrawn"):
        _gateway(stub).push_material("330000", case_number="340000-20260101-A1", material=_material(), chunks=_chunks())
