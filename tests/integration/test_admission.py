"""Turns for clerks, officers and auditors, on a real gRPC server on loopback sized as a node's
(nodes.server.call_threads) with the node's admission interceptor: desk calls that block on
purpose hold the turns, so each test decides exactly who holds what.

- When every turn and queue place is taken, a partner node's call is still served: without
  that, two busy nodes whose desk calls wait on each other stall until the peer timeout.
- An upload holds a turn only while it handles what arrived: a clerk on a slow link keeps no
  one else waiting, and an upload that finds the turns taken mid-stream waits, it is not
  thrown away.
- A reply stream (an auditor reading the node's log) holds a turn only while it makes a reply,
  not while the client takes it in; uploads and reply streams share the node's stream slots.
- A partner node's calls are capped apart: one that opens pushes and sends nothing keeps its
  own share busy, not the node's threads."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from nodes.config import NodeConfig
from nodes.interceptors import AdmissionInterceptor, partner_share
from nodes.server import call_threads

WINDOW = "tongban.v1.WindowService"
PEER = "tongban.v1.PeerService"


REPLIES = 64
REPLY = b"x" * (1 << 20)  # 64 MiB in all: more than any flow-control window lets through unread


class Desk:
    """Hold: blocks until released (a desk call waiting on a partner). Upload: counts the
    messages of a request stream. Replies: REPLIES large replies, the second made only once
    `second_reply` is set. Ping, on the partner service: answers at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.holding = threading.Semaphore(0)
        self.second_reply = threading.Event()
        self.second_reply.set()
        self.replies_made = 0
        self.holds_run = 0

    def hold(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.holds_run += 1
        self.holding.release()
        self.release.wait(30)
        return b"held"

    def upload(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        return str(sum(1 for _ in messages)).encode()

    def replies(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        for i in range(REPLIES):
            if i == 1:
                self.second_reply.wait(30)
            self.replies_made += 1
            yield REPLY

    def ping(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return b"pong"


@pytest.fixture
def serve():  # type: ignore[no-untyped-def]
    servers: list[tuple[grpc.Server, Desk]] = []

    def start(*, workers: int = 1, queued_calls: int = 1, uploads: int = 1,
              partner_workers: int = 2) -> tuple[grpc.Channel, Desk]:
        config = dataclasses.replace(
            NodeConfig(province="340000", listen="127.0.0.1:0", data_dir=Path("."), pki_dir=Path(".")),
                                     workers=workers, queued_calls=queued_calls, uploads=uploads,
                                     partner_workers=partner_workers)
        desk = Desk()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=call_threads(config)), interceptors=[
            AdmissionInterceptor(active=config.workers, queued=config.queued_calls, uploads=config.uploads,
                                 partner_calls=config.partner_workers)])
        server.add_generic_rpc_handlers([
            grpc.method_handlers_generic_handler(WINDOW, {
                "Hold": grpc.unary_unary_rpc_method_handler(desk.hold),
                "Upload": grpc.stream_unary_rpc_method_handler(desk.upload),
                "Replies": grpc.unary_stream_rpc_method_handler(desk.replies),
            }),
            grpc.method_handlers_generic_handler(PEER, {
                "Ping": grpc.unary_unary_rpc_method_handler(desk.ping),
                "Push": grpc.stream_unary_rpc_method_handler(desk.upload),
            }),
        ])
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append((server, desk))
        return grpc.insecure_channel(f"127.0.0.1:{port}"), desk

    yield start
    for server, desk in servers:
        desk.release.set()
        server.stop(None)


def _call(channel: grpc.Channel, method: str, timeout: float) -> bytes:
    return channel.unary_unary(method)(b"", timeout=timeout)


class Background:
    def __init__(self, call) -> None:  # type: ignore[no-untyped-def]
        self.result: list[object] = []
        self.thread = threading.Thread(target=lambda: self.result.append(self._run(call)))
        self.thread.start()

    @staticmethod
    def _run(call):  # type: ignore[no-untyped-def]
        try:
            return call()
        except grpc.RpcError as exc:
            return exc

    def join(self) -> object:
        self.thread.join(30)
        return self.result[0]


def _paused_upload(channel: grpc.Channel, *, timeout: float | None = 30) -> tuple[Background, threading.Event]:
    """An upload whose sender has sent its first message and waits to be told to go on."""
    go_on, sent = threading.Event(), threading.Event()

    def messages() -> Iterator[bytes]:
        yield b"header"
        sent.set()
        go_on.wait(30)
        yield b"chunk"

    upload = Background(lambda: channel.stream_unary(f"/{WINDOW}/Upload")(messages(), timeout=timeout))
    assert sent.wait(10)
    return upload, go_on


def _first_answered(code: grpc.StatusCode, channel: grpc.Channel, *, timeout: float, tries: int,
                    pause: float = 0.0) -> grpc.RpcError | None:
    """Hold, asked again and again, until it is answered `code`."""
    for _ in range(tries):
        try:
            _call(channel, f"/{WINDOW}/Hold", timeout)
        except grpc.RpcError as exc:
            if exc.code() == code:
                return exc
            time.sleep(pause)
    return None


def _until_admitted(channel: grpc.Channel) -> bytes:
    """As a console would: turned away (one of the probes below took the queue place first),
    it asks again."""
    while True:
        try:
            return _call(channel, f"/{WINDOW}/Hold", 30)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            time.sleep(0.02)


def test_a_partners_call_is_served_while_every_desk_turn_and_queue_place_is_taken(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=1)
    holding = Background(lambda: _call(channel, f"/{WINDOW}/Hold", 30))
    assert desk.holding.acquire(timeout=10)
    queued = Background(lambda: _until_admitted(channel))

    # until the queued call holds the queue place
    turned_away = _first_answered(grpc.StatusCode.RESOURCE_EXHAUSTED, channel, timeout=0.5, tries=300)
    assert turned_away is not None
    assert "1 calls from clerks, officers and auditors and 1 more are waiting" in turned_away.details()
    assert _call(channel, f"/{PEER}/Ping", 10) == b"pong"

    desk.release.set()
    assert holding.join() == b"held" and queued.join() == b"held", "the queued call is served once the turn is free"


def test_a_desk_call_whose_deadline_passes_in_the_queue_is_told_so(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=1)
    holding = Background(lambda: _call(channel, f"/{WINDOW}/Hold", 30))
    assert desk.holding.acquire(timeout=10)
    with pytest.raises(grpc.RpcError) as late:
        _call(channel, f"/{WINDOW}/Hold", 0.5)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    desk.release.set()
    assert holding.join() == b"held"


def test_a_desk_call_without_a_deadline_waits_in_the_queue_and_is_served(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=1)
    holding = Background(lambda: _call(channel, f"/{WINDOW}/Hold", 30))
    assert desk.holding.acquire(timeout=10)
    queued = Background(lambda: channel.unary_unary(f"/{WINDOW}/Hold")(b""))  # grpcurl, a script: no deadline
    time.sleep(0.3)
    desk.release.set()
    assert holding.join() == b"held"
    assert queued.join() == b"held", "before: UNKNOWN, 'timestamp out of range for platform time_t'"


def test_a_queued_call_whose_client_went_away_gives_up_its_place_and_never_runs(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=1)
    holding = Background(lambda: _call(channel, f"/{WINDOW}/Hold", 30))
    assert desk.holding.acquire(timeout=10)
    gone = channel.unary_unary(f"/{WINDOW}/Hold").future(b"", timeout=30)
    time.sleep(0.3)  # queued
    gone.cancel()
    # the place is free again within a look or two (0.25 s each): a call then waits in it
    waited = _first_answered(grpc.StatusCode.DEADLINE_EXCEEDED, channel, timeout=0.3, tries=50, pause=0.05)
    assert waited is not None, "the place stayed taken by a call nobody waited for"
    desk.release.set()
    assert holding.join() == b"held"
    time.sleep(0.5)
    assert desk.holds_run == 1, "a call whose client had gone ran once the turn was free"


def test_an_upload_waiting_for_its_next_message_keeps_no_one_waiting(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=0)
    upload, go_on = _paused_upload(channel)
    desk.release.set()  # Hold answers at once: it only needs the turn
    assert _call(channel, f"/{WINDOW}/Hold", 5) == b"held"
    go_on.set()
    assert upload.join() == b"2"


@pytest.mark.parametrize("timeout", [30, None], ids=["deadline", "no deadline"])  # before, without one: INTERNAL
def test_an_upload_that_finds_the_turns_taken_mid_stream_waits_for_one(serve, timeout) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=0)
    upload, go_on = _paused_upload(channel, timeout=timeout)
    holding = Background(lambda: _call(channel, f"/{WINDOW}/Hold", 30))
    assert desk.holding.acquire(timeout=10)
    go_on.set()  # the next message arrives while the only turn is held, and no queue place is free
    time.sleep(0.2)  # let it arrive before the turn is free
    desk.release.set()
    assert holding.join() == b"held"
    assert upload.join() == b"2"


def test_uploads_beyond_the_nodes_upload_slots_are_turned_away(serve) -> None:  # type: ignore[no-untyped-def]
    channel, _ = serve(workers=2, uploads=1)
    first, go_on = _paused_upload(channel)
    with pytest.raises(grpc.RpcError) as refused:
        channel.stream_unary(f"/{WINDOW}/Upload")(iter([b"header"]), timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "has 1 streams open already" in refused.value.details()
    go_on.set()
    assert first.join() == b"2"
    assert channel.stream_unary(f"/{WINDOW}/Upload")(iter([b"header"]), timeout=10) == b"1"


def _replies(channel: grpc.Channel) -> Iterator[bytes]:
    return channel.unary_stream(f"/{WINDOW}/Replies")(b"", timeout=30)


def _until_the_client_is_waited_on(desk: Desk) -> None:
    """Until the server has made as many replies as the transport takes unread."""
    for _ in range(100):
        made = desk.replies_made
        time.sleep(0.05)
        if desk.replies_made == made:
            break
    assert desk.replies_made < REPLIES, "the transport took every reply unread: nothing is waiting on the client"


def test_a_reply_stream_waiting_for_its_client_keeps_no_one_waiting(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=0)
    replies = _replies(channel)
    assert next(replies) == REPLY  # and the client reads no further for now
    _until_the_client_is_waited_on(desk)
    desk.release.set()  # Hold answers at once: it only needs the turn
    assert _call(channel, f"/{WINDOW}/Hold", 5) == b"held"  # before: RESOURCE_EXHAUSTED, the stream held the turn
    assert 1 + sum(1 for _ in replies) == REPLIES


def test_a_reply_stream_that_finds_the_turns_taken_mid_stream_waits_for_one(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=0)
    replies = _replies(channel)
    assert next(replies) == REPLY
    _until_the_client_is_waited_on(desk)
    holding = Background(lambda: _call(channel, f"/{WINDOW}/Hold", 30))
    assert desk.holding.acquire(timeout=10)
    reader = Background(lambda: 1 + sum(1 for _ in replies))  # the client takes everything in now
    time.sleep(0.3)
    assert desk.replies_made < REPLIES, "the stream made its replies without a turn"
    desk.release.set()
    assert holding.join() == b"held"
    assert reader.join() == REPLIES, "the stream waited for the turn and went on; it was not refused"


def test_uploads_and_reply_streams_share_the_nodes_stream_slots(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=2, uploads=1)
    desk.second_reply.clear()
    replies = _replies(channel)
    assert next(replies) == REPLY
    with pytest.raises(grpc.RpcError) as refused:
        channel.stream_unary(f"/{WINDOW}/Upload")(iter([b"header"]), timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "has 1 streams open already" in refused.value.details()
    desk.second_reply.set()
    assert 1 + sum(1 for _ in replies) == REPLIES
    assert channel.stream_unary(f"/{WINDOW}/Upload")(iter([b"header"]), timeout=10) == b"1"


def test_a_partner_holding_idle_pushes_is_turned_away_beyond_its_share_and_clerks_are_still_served(serve) -> None:  # type: ignore[no-untyped-def]
    channel, desk = serve(workers=1, queued_calls=1, uploads=1, partner_workers=2)
    go_on = threading.Event()

    def idle_push() -> Iterator[bytes]:
        yield b"header"
        go_on.wait(30)

    # As many idle pushes as the node has threads: before, they held every one of them.
    threads = call_threads(dataclasses.replace(
        NodeConfig(province="340000", listen="127.0.0.1:0", data_dir=Path("."), pki_dir=Path(".")),
        workers=1, queued_calls=1, uploads=1, partner_workers=2))
    pushes = [Background(lambda: channel.stream_unary(f"/{PEER}/Push")(idle_push(), timeout=30))
              for _ in range(threads)]
    try:
        assert channel.stream_unary(f"/{WINDOW}/Upload")(iter([b"header", b"chunk"]), timeout=5) == b"2"
        with pytest.raises(grpc.RpcError) as refused:
            _call(channel, f"/{PEER}/Ping", 5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "at most 2 calls at once from one partner node" in refused.value.details()
    finally:
        go_on.set()
    answers = [p.join() for p in pushes]
    assert sum(a == b"1" for a in answers) == 2, "the partner's share ran"
    assert all(a.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for a in answers if a != b"1")
    assert _call(channel, f"/{PEER}/Ping", 5) == b"pong", "its share is free again"


def test_the_pool_keeps_a_share_for_every_province_that_may_call_not_only_those_this_node_calls() -> None:
    config = dataclasses.replace(
        NodeConfig(province="340000", listen="127.0.0.1:0", data_dir=Path("."), pki_dir=Path(".")),
        workers=1, queued_calls=1, uploads=1, partner_workers=8, peers={"330000": "127.0.0.1:1"})
    calling_itself = call_threads(config, provinces=1)
    # Before, only the one configured peer's share was counted; 30 other provinces may call too.
    assert call_threads(config, provinces=31) == calling_itself + 29 * partner_share(8)
