"""Fault tests with real node processes on loopback: kill -9 either node at random moments while
a batch of cases runs (forwarding, streaming materials, between sealing and delivery), restart it
on the same data; stop a partner for a while and keep submitting. Every case completes exactly
once, no event or material is duplicated, both logs verify, and the outboxes drain in order.
The same suite runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from exchange.case import case_id
from exchange.ledger import CaseLedger
from exchange.people import make_resident_id, mask_id
from nodes.clients import OfficerClient, WindowClient, operator_channel
from nodes.config import NodeConfig, OutboxSettings
from nodes.demo import CLERK, COMPETENT_PROVINCE, MATTER, OFFICER, WINDOW_PROVINCE
from nodes.launch import NodeProcess, loopback_configs, spawn_node, wait_serving
from nodes.samples import scanned_id_card, signed_application_form
from nodes.tls import channel_credentials, secure_channel
from signing.pki import Federation
from storage.eventstore import EventStoreSettings, open_log_store
from storage.factory import open_object_store
from storage.logcheck import verify_log
from storage.outbox import outbox_of

ROOT = Path(__file__).resolve().parents[2]
RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED}
# Short backoff so a test waits seconds, not minutes; the production defaults are in config.py.
FAST_OUTBOX = OutboxSettings(retry_base_seconds=0.2, retry_cap_seconds=1.0, lease_seconds=3.0,
                             poll_seconds=0.5, resume_patience_seconds=1.0)
NODE_ENV = {"TONGBAN_CHECKPOINT_INTERVAL": "0"}
NAMES = {WINDOW_PROVINCE: "window", COMPETENT_PROVINCE: "competent"}
# Where a kill lands: (node, the call in flight, up to how long into it). Submitting streams the
# materials and forwards the case; approving seals, records, then delivers the result.
SCENARIOS = (
    (COMPETENT_PROVINCE, "submit", 0.4),  # mid-stream / during the forward, at the receiver
    (WINDOW_PROVINCE, "submit", 0.4),  # during the forward, at the sender
    (COMPETENT_PROVINCE, "accept", 0.1),
    (COMPETENT_PROVINCE, "approve", 0.8),  # while sealing, or between sealing and delivery
    (WINDOW_PROVINCE, "approve", 0.8),  # while the result is being delivered to it
    (WINDOW_PROVINCE, "print", 0.2),
)
ONCE_PER_CASE = {
    WINDOW_PROVINCE: ("Submitted", "Forwarded", "ResultReceived", "Verified", "Printed"),
    COMPETENT_PROVINCE: ("Received", "Accepted", "Approved", "ResultIssued", "ResultDelivered"),
}


# -- the two nodes -----------------------------------------------------------------------------

@dataclass
class Cluster:
    federation: Federation
    configs: dict[str, NodeConfig]
    procs: dict[str, NodeProcess] = field(default_factory=dict)

    def start(self, code: str) -> None:
        self.procs[code] = spawn_node(self.configs[code], env=NODE_ENV)
        wait_serving(self.procs[code], self.federation, timeout=60)

    def kill(self, code: str) -> None:
        process = self.procs[code].process
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def address(self, code: str) -> str:
        return self.configs[code].listen

    @property
    def log_tails(self) -> str:
        return "\n".join(f"--- {c}\n{p.log_path.read_text(errors='replace')[-3000:]}" for c, p in self.procs.items())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path, federation: Federation) -> Iterator[Cluster]:
    event_store: EventStoreSettings | None = None
    if request.param == "postgres":
        event_store = request.getfixturevalue("postgres_schema")
    configs = loopback_configs(tmp_path, [WINDOW_PROVINCE, COMPETENT_PROVINCE], event_store=event_store,
                               pki_dir=federation.directory)
    configs = {code: replace(c, outbox=FAST_OUTBOX) for code, c in configs.items()}
    running = Cluster(federation=federation, configs=configs)
    try:
        for code in configs:
            running.start(code)
        yield running
    finally:
        running.stop_all()


# -- people at the two nodes, who retry when a node is down -------------------------------------

class Desks:
    """A clerk at the window and an officer at the competent department, each on a channel that
    reconnects when the node comes back. `doing` names the call in flight (for the killer)."""

    doing: str = ""

    def __init__(self, cluster: Cluster) -> None:
        f = cluster.federation
        self.window_channel = operator_channel(f, province=WINDOW_PROVINCE, operator_id=CLERK,
                                               address=cluster.address(WINDOW_PROVINCE))
        self.officer_channel = operator_channel(f, province=COMPETENT_PROVINCE, operator_id=OFFICER,
                                                address=cluster.address(COMPETENT_PROVINCE))
        self.window = WindowClient(self.window_channel, timeout=20)
        self.officer = OfficerClient(self.officer_channel, timeout=20)

    def close(self) -> None:
        self.window_channel.close()
        self.officer_channel.close()


@dataclass
class CaseRun:
    """One application carried from the window to a printed certificate, one idempotent step at
    a time: each step reads where the case is, then does the next thing."""

    index: int
    rng: random.Random
    materials: list[Any] | None = None
    files: tuple[bytes, bytes] | None = None
    number: str = ""
    printed: bool = False
    steps: list[str] = field(default_factory=list)

    @property
    def request_id(self) -> str:
        return f"fault-batch-{self.index}"

    def step(self, desks: Desks) -> str:
        if self.materials is None:
            if self.files is None:
                name = f"测试申请人{self.index}"
                # A form padded to ~1.5 MB, so a kill can land while it streams to the competent node.
                form = signed_application_form(applicant=name, id_masked=mask_id(self.id_number), matter="营业执照遗失补领")
                self.files = (scanned_id_card(seed=self.index), form + b"\n%" + self.rng.randbytes(1_500_000))
            scan, form = self.files
            self.materials = [
                desks.window.upload([scan], kind="id_card", file_name="身份证扫描件.png", media_type="image/png"),
                desks.window.upload([form[i:i + 256_000] for i in range(0, len(form), 256_000)],
                                    kind="application_form", file_name="补领申请书.pdf", media_type="application/pdf"),
            ]
            return "uploaded"
        if not self.number:
            desks.doing = "submit"
            case = desks.window.submit(
                matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name=f"测试申请人{self.index}",
                applicant_id=self.id_number, materials=self.materials,
                checklist={"id_card": True, "application_form": True}, request_id=self.request_id)
            self.number = case.case_number
            return "submitted"
        at_window = desks.window.get_case(self.number).status
        if at_window == "printed":
            self.printed = True
            return "done"
        if at_window == "result_received":
            desks.doing = "verify"
            desks.window.verify(self.number)
            return "verified"
        if at_window == "verified":
            desks.doing = "print"
            desks.window.print(self.number, copies=1)
            return "printed"
        try:
            at_competent = desks.officer.get_case(self.number).status
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return "waiting for the forward"
            raise
        if at_competent == "received":
            desks.doing = "accept"
            desks.officer.accept(self.number)
            return "accepted"
        if at_competent == "accepted":
            desks.doing = "approve"
            desks.officer.approve(self.number)
            return "approved"
        return f"waiting ({at_window} / {at_competent})"

    @property
    def id_number(self) -> str:
        return make_resident_id(f"33010619850315{self.index:03d}")


def run_batch(desks: Desks, runs: list[CaseRun], *, deadline: float, stagger: int = 0) -> None:
    """Advance every case a step at a time; a node that is down or busy is tried again. With
    `stagger`, case n starts n·stagger rounds late, so submitting, approving and printing of
    different cases go on throughout the batch."""
    rounds = 0
    while not all(r.printed for r in runs):
        rounds += 1
        if time.monotonic() > deadline:
            stuck = {r.index: (r.number, r.steps[-3:]) for r in runs if not r.printed}
            raise AssertionError(f"cases did not complete in time: {stuck}")
        progressed = False
        for position, run in enumerate(runs):
            if run.printed or rounds <= position * stagger:
                continue
            try:
                outcome = run.step(desks)
            except grpc.RpcError as exc:
                if exc.code() not in RETRY:
                    raise AssertionError(f"case {run.index} ({run.number}): {exc.code().name}: {exc.details()}") from None
                outcome = f"retry ({exc.code().name})"
            finally:
                desks.doing = ""
            run.steps.append(outcome)
            progressed |= not outcome.startswith(("waiting", "retry"))
        if not progressed:
            time.sleep(0.2)


# -- what must hold afterwards ------------------------------------------------------------------

def open_outbox(config: NodeConfig) -> tuple[CaseLedger, Any]:
    ledger = CaseLedger(env=config.event_store.application_env())
    return ledger, outbox_of(ledger.recorder)


def wait_until_drained(cluster: Cluster, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for config in cluster.configs.values():
        ledger, outbox = open_outbox(config)
        try:
            while outbox.pending():
                assert time.monotonic() < deadline, f"outbox of {config.province} not drained: {outbox.backlog()}"
                time.sleep(0.2)
            assert not any(b.refused for b in outbox.backlog()), outbox.backlog()
        finally:
            ledger.close()


def events_per_case(config: NodeConfig, numbers: list[str]) -> dict[str, Counter[str]]:
    ledger = CaseLedger(env=config.event_store.application_env())
    try:
        return {n: Counter(e.topic.rsplit(".", 1)[-1] for e in ledger.recorder.select_events(case_id(n)))
                for n in numbers}
    finally:
        ledger.close()


def cases_at(config: NodeConfig) -> list[str]:
    ledger = CaseLedger(env=config.event_store.application_env())
    try:
        return [c.case_number for c in ledger.cases()]
    finally:
        ledger.close()


def assert_exactly_once(cluster: Cluster, runs: list[CaseRun]) -> dict[str, int]:
    numbers = [r.number for r in runs]
    duplicates = 0
    for code, config in cluster.configs.items():
        assert sorted(cases_at(config)) == sorted(numbers), f"{code} holds other cases than the batch"
        for number, counts in events_per_case(config, numbers).items():
            for event in ONCE_PER_CASE[code]:
                duplicates += max(0, counts[event] - 1)
                assert counts[event] == 1, f"{code} recorded {event} of {number} {counts[event]} times: {counts}"
        with open_log_store(config.event_store) as log:
            report = verify_log(log, node=code)
        assert report.passed, report.render()
    # The materials arrived whole at the competent node, each stored once under its SHA-256.
    store = open_object_store(cluster.configs[COMPETENT_PROVINCE].object_store)
    shas = [m.sha256 for r in runs for m in r.materials or []]
    assert len(set(shas)) == len(shas) and all(store.stat(sha) is not None for sha in shas)
    return {"cases": len(runs), "lost": len(runs) - sum(r.printed for r in runs), "duplicates": duplicates}


# -- the tests ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_every_case_completes_exactly_once_while_either_node_is_killed_at_random(cluster: Cluster) -> None:
    seed = int(os.environ.get("TONGBAN_FAULT_SEED", random.SystemRandom().randrange(1 << 30)))
    print(f"\nfault seed {seed} (TONGBAN_FAULT_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    runs = [CaseRun(index=i, rng=random.Random(seed + i)) for i in range(12)]
    faults: list[str] = []
    stop = threading.Event()
    killer_error: list[BaseException] = []
    desks = Desks(cluster)

    def killer() -> None:
        """Wait for a moment of each kind, then kill -9 a node a random instant into it."""
        try:
            remaining = list(SCENARIOS)
            rng.shuffle(remaining)
            while remaining:
                while not stop.is_set() and desks.doing not in {during for _, during, _ in remaining}:
                    time.sleep(0.005)
                if stop.is_set():
                    return
                victim, during, window = next(s for s in remaining if s[1] == desks.doing)
                remaining.remove((victim, during, window))
                delay = rng.uniform(0.0, window)
                time.sleep(delay)
                cluster.kill(victim)
                faults.append(f"{NAMES[victim]} killed {delay * 1000:.0f} ms into {during}")
                stop.wait(rng.uniform(0.0, 0.5))  # down for a moment; the other node keeps trying
                cluster.start(victim)
        except BaseException as exc:  # surfaced by the test below
            killer_error.append(exc)

    thread = threading.Thread(target=killer, name="killer")
    thread.start()
    try:
        run_batch(desks, runs, deadline=time.monotonic() + 150, stagger=3)
    finally:
        stop.set()
        thread.join()
        desks.close()
    assert not killer_error, killer_error
    wait_until_drained(cluster)
    figures = assert_exactly_once(cluster, runs)
    figures["faults injected"] = len(faults)
    logs = "".join(p.log_path.read_text(errors="replace") for p in cluster.procs.values())
    figures["sends retried"] = logs.count("not delivered (attempt")
    figures["resends already applied"] = logs.count("had already applied it")
    assert "internal error" not in logs, cluster.log_tails
    print("faults:\n  " + "\n  ".join(faults))
    print("figures: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    assert figures["lost"] == 0 and figures["duplicates"] == 0


def peer_health(cluster: Cluster, code: str, peer: str) -> int:
    cert, key = cluster.federation.node_tls(code)
    creds = channel_credentials(cluster.federation, cert_pem=cert, key_pem=key, province_of_cert=code)
    with secure_channel(cluster.address(code), creds, province=code) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=f"tongban.peer.{peer}"), timeout=5).status


def status_cli(config: NodeConfig) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "nodes.cli", "status", "--json", "--config",
                           str(config.data_dir / "node.toml")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_backlog_for_a_stopped_partner_shows_in_status_and_drains_in_order_when_it_returns(cluster: Cluster) -> None:
    window_config = cluster.configs[WINDOW_PROVINCE]
    cluster.procs[COMPETENT_PROVINCE].stop()
    desks = Desks(cluster)
    runs = [CaseRun(index=100 + i, rng=random.Random(i)) for i in range(4)]
    try:
        for run in runs:
            assert run.step(desks) == "uploaded" and run.step(desks) == "submitted"
            # Taken in and recorded; the forward waits in the outbox instead of failing the clerk.
            assert desks.window.get_case(run.number).status == "submitted"

        wait_for(lambda: peer_health(cluster, WINDOW_PROVINCE, COMPETENT_PROVINCE)
                 == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=20, what="the peer's health to turn")
        [backlog] = status_cli(window_config)["outbox"]
        assert backlog["peer"] == COMPETENT_PROVINCE and backlog["pending"] == len(runs)
        assert backlog["oldest_case"] == runs[0].number and backlog["attempts"] >= 1 and backlog["last_error"]
        assert "测试申请人" not in json.dumps(backlog, ensure_ascii=False)  # case numbers only
        text = subprocess.run([sys.executable, "-m", "nodes.cli", "status", "--config",
                               str(window_config.data_dir / "node.toml")], cwd=ROOT, capture_output=True,
                              text=True, timeout=60).stdout
        assert f"forward_case {runs[0].number}" in text and "last error" in text

        cluster.start(COMPETENT_PROVINCE)
        wait_until_drained(cluster)
        assert all(desks.window.get_case(r.number).status == "forwarded" for r in runs)
        wait_for(lambda: peer_health(cluster, WINDOW_PROVINCE, COMPETENT_PROVINCE)
                 == health_pb2.HealthCheckResponse.SERVING, timeout=20, what="the peer's health to recover")
        assert status_cli(window_config)["outbox"] == []
        # In order: the competent node received the cases in the order the window took them in.
        assert cases_at(cluster.configs[COMPETENT_PROVINCE]) == [r.number for r in runs]

        # The rest of the way goes through as usual, exactly once.
        run_batch(desks, runs, deadline=time.monotonic() + 90)
    finally:
        desks.close()
    wait_until_drained(cluster)
    figures = assert_exactly_once(cluster, runs)
    print("\nbacklog figures: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
