"""Sealing and verifying in worker processes, so pyHanko's CPU work runs on every core instead of
contending for one interpreter lock with the node's gRPC threads, materials and event store.

Each worker opens the federation and loads its seal keys once (in its initializer) and keeps
them; a call ships a CertificateRequest or a PDF there and its bytes or report back. The domain
ports (ResultIssuer, ResultVerifier) are unchanged: the desks cannot tell the difference.

Workers are started with `spawn`, never `fork`: a forked gRPC process is not safe to use."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from exchange.ports import CertificateRequest
from nodes.config import usable_cores
from nodes.library_logs import quiet_pyhanko_logs

# One sealer and one verifier per worker process, built by _start_worker.
_worker: dict[str, Any] = {}


def _exit_with_the_node(node_pid: int) -> None:
    """A node killed outright (kill -9, OOM) cannot shut its pool down: its workers must not
    outlive it holding seal keys, so each notices within a second that its parent is gone. (Not
    PR_SET_PDEATHSIG: it fires when the spawning *thread* ends, and gRPC threads spawn workers.)"""

    def watch() -> None:
        while os.getppid() == node_pid:
            time.sleep(1.0)
        os._exit(0)

    if os.getppid() != node_pid:
        os._exit(0)
    threading.Thread(target=watch, name="node-watch", daemon=True).start()


def _start_worker(pki_dir: str, province: str, node_pid: int) -> None:
    _exit_with_the_node(node_pid)
    quiet_pyhanko_logs()
    from nodes.wiring import build_sealer, build_verifier
    from signing.pki import Federation

    federation = Federation.open(Path(pki_dir))
    _worker["sealer"] = build_sealer(federation, province)
    _worker["verifier"] = build_verifier(federation)  # the same as the node's own


def _issue(request: CertificateRequest) -> bytes:
    return bytes(_worker["sealer"].issue(request))


def _verify(pdf: bytes, competent_province: str, competent_department: str, issued_sha256: str | None) -> Any:
    return _worker["verifier"].verify(pdf, competent_province=competent_province,
                                      competent_department=competent_department, issued_sha256=issued_sha256)


def _ready() -> int:
    return os.getpid()


def pool_size(setting: int | None) -> int:
    """None or a negative number: one worker per core the node may use; 0: no pool."""
    if setting is None or setting < 0:
        return usable_cores()
    return setting


class SigningPool:
    """A node's worker processes for sealing and verification."""

    def __init__(self, *, pki_dir: Path, province: str, processes: int) -> None:
        if processes < 1:
            raise ValueError("a signing pool needs at least one process")
        self.processes = processes
        self._start = (str(pki_dir), province, os.getpid())
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=self._start)

    def warm(self) -> list[Future[int]]:
        """Start every worker now (imports and key loading take about a second each), so the
        first cases after a start are not the ones that pay for it."""
        return [self._executor.submit(_ready) for _ in range(self.processes)]

    def worker_pids(self) -> list[int]:
        return [p.pid for p in list(getattr(self._executor, "_processes", {}).values()) if p.pid is not None]

    def issuer(self) -> PooledIssuer:
        return PooledIssuer(self)

    def verifier(self) -> PooledVerifier:
        return PooledVerifier(self)

    def submit(self, fn: Any, *args: Any) -> Any:
        executor = self._executor
        try:
            return executor.submit(fn, *args).result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): every later call would fail the same way.
            # Sealing and verifying have no side effects, so start fresh workers and try once more.
            with self._lock:
                if self._executor is executor:
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._new_executor()
                executor = self._executor
            return executor.submit(fn, *args).result()

    def close(self) -> None:
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)


class PooledIssuer:
    """Implements exchange.ports.ResultIssuer in the pool's workers."""

    def __init__(self, pool: SigningPool) -> None:
        self.pool = pool

    def issue(self, request: CertificateRequest) -> bytes:
        return bytes(self.pool.submit(_issue, request))


class PooledVerifier:
    """Implements exchange.ports.ResultVerifier in the pool's workers."""

    def __init__(self, pool: SigningPool) -> None:
        self.pool = pool

    def verify(self, pdf: bytes, *, competent_province: str, competent_department: str,
               issued_sha256: str | None) -> Any:
        return self.pool.submit(_verify, pdf, competent_province, competent_department, issued_sha256)
