"""A provincial node's gRPC server: the four services, health checking and reflection."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from concurrent import futures
from datetime import datetime

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from exchange.case_index import CaseIndex
from exchange.errors import TongbanError
from exchange.window import WindowDesk
from exchange.workdays import STATE_COUNCIL
from nodes.config import NodeConfig
from nodes.directory import DirectoryServicer, RevocationExchange, RevocationRefresher
from nodes.interceptors import (
    AccessLogInterceptor, AdmissionInterceptor, CallerIdentityInterceptor, CallsInFlight, DeadlineInterceptor,
    ErrorMappingInterceptor, RateLimitInterceptor, RefusalRecordingInterceptor, ValidationInterceptor, partner_share,
)
from nodes.refusals import RefusalLog
from nodes.audit import LogAuditServicer
from nodes.joint import CoordinationServicer, GrpcCoordinationGateway
from nodes.relay import PEER_HEALTH_PREFIX, OutboxRelay
from nodes.servicers import DepartmentServicer, PeerServicer, WindowServicer
from nodes.tls import MAX_MESSAGE, channel_credentials, server_credentials
from nodes.witness import CheckpointTimer, LogKeeper, WitnessGateway, WitnessServicer
from nodes.wiring import Node, build_node
from tongban_pb import (
    audit_pb2, audit_pb2_grpc, department_pb2, department_pb2_grpc, directory_pb2, directory_pb2_grpc, joint_pb2,
    joint_pb2_grpc, peer_pb2, peer_pb2_grpc, window_pb2, window_pb2_grpc, witness_pb2, witness_pb2_grpc,
)

log = logging.getLogger("tongban.node")

SERVICES = (
    window_pb2.DESCRIPTOR.services_by_name["WindowService"].full_name,
    department_pb2.DESCRIPTOR.services_by_name["DepartmentService"].full_name,
    peer_pb2.DESCRIPTOR.services_by_name["PeerService"].full_name,
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    directory_pb2.DESCRIPTOR.services_by_name["DirectoryService"].full_name,
    witness_pb2.DESCRIPTOR.services_by_name["WitnessService"].full_name,
    joint_pb2.DESCRIPTOR.services_by_name["CoordinationService"].full_name,
)


class RunningNode:
    def __init__(self, node: Node, server: grpc.Server, port: int, health_servicer: health.HealthServicer,
                 keeper: LogKeeper | None = None) -> None:
        self.node = node
        self.keeper = keeper
        self.checkpoints: CheckpointTimer | None = None
        self.server = server
        self.port = port
        self.health = health_servicer
        self.refresher: RevocationRefresher | None = None
        self.relay: OutboxRelay | None = None
        self.refusals: RefusalLog | None = None
        self.index_reader: threading.Thread | None = None
        self.in_flight: CallsInFlight | None = None

    @property
    def address(self) -> str:
        host = self.node.config.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def stop(self, grace: float = 2.0, *, drain: float = 10.0) -> None:
        """Stop taking calls, give running ones `grace` seconds, then wait up to `drain` more for
        their handlers to end (a call waiting on a partner) before the stores are closed."""
        if self.refresher is not None:
            self.refresher.stop()
        if self.relay is not None:
            self.relay.stop()
        self.health.enter_graceful_shutdown()
        if self.checkpoints is not None:
            self.checkpoints.stop()
        self.server.stop(grace).wait()
        if self.in_flight is not None:
            left = self.in_flight.wait_until_idle(timeout=drain)
            if left:
                log.warning("%d calls were still running %.0f s after the stop; their work may be cut short", left,
                            grace + drain)
        if self.keeper is not None:
            self.keeper.witnesses.close()
        coordination = self.node.context.coordination
        if coordination is not None:
            coordination.close()  # type: ignore[attr-defined]
        if self.index_reader is not None:
            # A long first read is cut short by the close below; it logs that and ends.
            self.index_reader.join(timeout=grace)
        self.node.close()


def _warn_of_missing_holidays(now: datetime) -> None:
    """Due dates run into next year from the autumn on: say so when its notice is missing."""
    years = [now.year] + ([now.year + 1] if now.month >= 10 else [])
    for year in (y for y in years if not STATE_COUNCIL.covers(y)):
        log.warning("exchange/workdays.py has no State Council holiday notice for %d: due dates in %d skip "
                    "weekends and the holidays fixed by date only; add the notice's days", year, year)


def call_threads(config: NodeConfig, *, provinces: int = 0) -> int:
    """Desk calls hold at most workers + queued_calls + uploads threads and partner nodes' calls
    at most 2 × partner_workers, plus each partner's granted share (AdmissionInterceptor), so a
    partner's call always finds a thread (two nodes never wait on each other) and partners never
    take the desks' threads. The pool makes threads only as calls need them. A partner is any
    other province of the federation (`provinces` in all), whether this node calls it or not."""
    callers = max(len(config.peers), provinces - 1)
    partners = 2 * config.partner_workers + partner_share(config.partner_workers) * callers
    return config.workers + config.queued_calls + config.uploads + partners


def start_node(config: NodeConfig) -> RunningNode:
    checkpoint_interval = _checkpoint_interval()  # a bad setting is refused before anything starts
    node = build_node(config)
    ctx = node.context
    _warn_of_missing_holidays(ctx.now())
    coordination = GrpcCoordinationGateway(
        province=config.province, peers=config.peers, credentials=node.peers.credentials,
    )
    ctx.coordination = coordination
    cert, key = node.federation.node_tls(config.province)
    keeper = LogKeeper(
        province=config.province, settings=config.event_store, federation=node.federation,
        witnesses=WitnessGateway(peers=config.peers, credentials=channel_credentials(
            node.federation, cert_pem=cert, key_pem=key, province_of_cert=config.province)),
    )
    refusals = RefusalLog(open_store=keeper.open)
    in_flight = CallsInFlight()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=call_threads(config, provinces=len(node.federation.provinces)),
                                   thread_name_prefix=f"node-{config.province}"),
        # Outermost first: a refusal by any layer below is recorded once, with the caller's identity.
        interceptors=[
            in_flight,
            RefusalRecordingInterceptor(refusals),
            CallerIdentityInterceptor(province=config.province, federation=node.federation),
            RateLimitInterceptor(rate=config.rate_limit_per_second, burst=config.rate_limit_burst,
                                 refusals=refusals),
            DeadlineInterceptor(),
            AdmissionInterceptor(active=config.workers, queued=config.queued_calls, uploads=config.uploads,
                                 partner_calls=config.partner_workers),
            AccessLogInterceptor(),
            ErrorMappingInterceptor(),
            ValidationInterceptor(provinces=sorted(node.federation.provinces)),
        ],
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_metadata_size", 16 << 10),
            # A second node started on a port in use must fail, not share the port with the first.
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=config.max_concurrent_calls,
    )
    window_pb2_grpc.add_WindowServiceServicer_to_server(WindowServicer(ctx, witnesses=keeper.witnesses), server)
    department_pb2_grpc.add_DepartmentServiceServicer_to_server(DepartmentServicer(ctx), server)
    peer_pb2_grpc.add_PeerServiceServicer_to_server(PeerServicer(ctx), server)
    directory_pb2_grpc.add_DirectoryServiceServicer_to_server(
        DirectoryServicer(federation=node.federation, province=config.province), server)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(LogAuditServicer(ctx, keeper), server)
    witness_pb2_grpc.add_WitnessServiceServicer_to_server(WitnessServicer(ctx, keeper), server)
    joint_pb2_grpc.add_CoordinationServiceServicer_to_server(CoordinationServicer(ctx), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        port = server.add_secure_port(config.listen, server_credentials(node.federation, config.province))
    except RuntimeError:  # grpc raises where it used to return 0
        port = 0
    if port == 0:
        keeper.witnesses.close()
        coordination.close()
        node.close()
        raise OSError(f"cannot listen on {config.listen}; is another node using that port?")
    ctx.outbox.release_own_leases()  # type: ignore[union-attr]  # before any request can claim one
    released, dropped = WindowDesk(ctx).settle_print_jobs()  # before any print can prepare one
    if released or dropped:
        log.info("print jobs left by the last run: %d recorded and released to the printer, %d unrecorded and dropped",
                 released, dropped)
    server.start()
    index_reader = threading.Thread(target=_read_case_index, args=(ctx.ledger.index,), name="case-index", daemon=True)
    index_reader.start()
    for name in ("", *SERVICES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("node %s listening on port %d", config.province, port)
    running = RunningNode(node, server, port, health_servicer, keeper)
    running.refusals = refusals
    running.index_reader = index_reader
    running.in_flight = in_flight
    if checkpoint_interval > 0:
        running.checkpoints = CheckpointTimer(keeper, interval=checkpoint_interval).start()
    # Undelivered messages of an earlier run (a crash, a partner down) go out from here on.
    running.relay = OutboxRelay(
        courier=ctx.courier, outbox=ctx.outbox, poll_seconds=config.outbox.poll_seconds, peers=list(config.peers),
        report_health=lambda peer, up: health_servicer.set(
            PEER_HEALTH_PREFIX + peer,
            health_pb2.HealthCheckResponse.SERVING if up else health_pb2.HealthCheckResponse.NOT_SERVING),
    ).start()
    running.refresher = RevocationRefresher(
        exchange=RevocationExchange(federation=node.federation, peers=config.peers,
                                    credentials=node.peers.credentials),
        province=config.province, event_store=config.event_store).start()
    return running


def _checkpoint_interval() -> float:
    """How often partners witness the log, in seconds (TONGBAN_CHECKPOINT_INTERVAL; 0 turns it off)."""
    text = os.environ.get("TONGBAN_CHECKPOINT_INTERVAL", "300")
    try:
        interval = float(text)
    except ValueError:
        interval = -1.0
    if not interval >= 0:  # also NaN
        raise TongbanError(f"TONGBAN_CHECKPOINT_INTERVAL={text!r}: give the seconds between checkpoints as a number, "
                         "or 0 to turn them off")
    return interval


def _read_case_index(index: CaseIndex) -> None:
    """The case list's and 监测评估's first look after a start would read the whole log, under
    the index's lock, while a clerk waits (0.3 s per 1 000 cases); read it before anyone asks.
    A look that comes meanwhile waits for this read instead of making its own."""
    started = time.perf_counter()
    try:
        held = index.catch_up()
    except Exception as exc:  # the store unreachable, or the node stopping: the first look reads it
        log.warning("the case index was not read at start (%s: %s); the first case list will read it",
                    type(exc).__name__, exc)
        return
    log.info("case index: %d cases read in %.1f s", held, time.perf_counter() - started)


def serve_forever(config: NodeConfig, *, ready_file: str | None = None) -> None:
    running = start_node(config)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    if ready_file:
        with open(ready_file, "w", encoding="ascii") as fh:
            fh.write(str(running.port))
    stopped.wait()
    running.stop()
