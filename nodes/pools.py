"""Sealing and verifying in worker processes, so pyHanko's CPU work runs on every core instead of
contending for one interpreter lock with the node's gRPC threads, materials and event store.

Each worker opens the federation and loads its seal keys once (when it starts) and keeps them; a
call ships a CertificateRequest or a PDF there and its bytes or report back. The domain ports
(ResultIssuer, ResultVerifier) are unchanged: the desks cannot tell the difference.

A call goes straight down a pipe of its own to an idle worker and waits there for the answer,
in the calling thread. (concurrent.futures' process pool passes each call through a manager
thread and a feeder thread and back: measured, 203 against 46 µs of the node's CPU per call,
and three more thread hand-offs in a process whose threads already contend for its lock.)

Workers are started with `spawn`, never `fork`: a forked gRPC process is not safe to use."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from exchange.ports import CertificateRequest
from nodes.config import usable_cores
from nodes.cpu_policy import apply_cpu_policy
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
    apply_cpu_policy("normal")  # a call waits on this worker: it starts at once (nodes/cpu_policy.py)
    _exit_with_the_node(node_pid)
    quiet_pyhanko_logs()
    from nodes.wiring import build_sealer, build_verifier
    from signing.loops import keep_a_loop
    from signing.pki import Federation

    federation = Federation.open(Path(pki_dir))
    keep_a_loop()  # calls come one after another in this thread (signing.loops)
    _worker["sealer"] = build_sealer(federation, province)
    _worker["verifier"] = build_verifier(federation)  # the same as the node's own


def _issue(request: CertificateRequest) -> bytes:
    return bytes(_worker["sealer"].issue(request))


def _verify(pdf: bytes, competent_province: str, competent_department: str, issued_sha256: str | None) -> Any:
    return _worker["verifier"].verify(pdf, competent_province=competent_province,
                                      competent_department=competent_department, issued_sha256=issued_sha256)


def _ready() -> int:
    return os.getpid()


_CALLS = {"issue": _issue, "verify": _verify, "ready": _ready}


def _serve(conn: Connection, pki_dir: str, province: str, node_pid: int) -> None:
    """A worker's life: start, then answer calls one at a time until told to stop (None) or
    until the node's end of the pipe closes."""
    _start_worker(pki_dir, province, node_pid)
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):
            return
        if call is None:
            return
        name, args = call
        try:
            answer: tuple[bool, Any] = (True, _CALLS[name](*args))
        except Exception as exc:  # the caller's error (a SigningError) goes back to be raised there
            answer = (False, exc)
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an answer or an error that does not pickle
            conn.send((False, RuntimeError(f"the signing worker's answer could not be sent back: {exc!r}")))


def pool_size(setting: int | None) -> int:
    """None or a negative number: one worker per core the node may use; 0: no pool."""
    if setting is None or setting < 0:
        return usable_cores()
    return setting


_CLOSED = "the node's signing pool is closed (the node is stopping); nothing was sealed or verified"


class _WorkerGone(Exception):
    """The worker process ended (killed, out of memory) before it answered."""


class _Worker:
    """One worker process and the pipe to it, used by one call at a time."""

    def __init__(self, start: tuple[str, str, int]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, *start), name="tongban-signing", daemon=True)
        self.process.start()
        theirs.close()

    def call(self, name: str, *args: Any) -> Any:
        try:
            self.conn.send((name, args))
            ok, value = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise _WorkerGone(str(exc)) from exc
        if ok:
            return value
        raise value

    def stop(self, *, timeout: float) -> None:
        try:
            self.conn.send(None)
        except (EOFError, OSError):
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class SigningPool:
    """A node's worker processes for sealing and verification."""

    def __init__(self, *, pki_dir: Path, province: str, processes: int) -> None:
        if processes < 1:
            raise ValueError("a signing pool needs at least one process")
        self.processes = processes
        self._start = (str(pki_dir), province, os.getpid())
        self._workers = [_Worker(self._start) for _ in range(processes)]
        # Idle workers, the one back last on top: a call takes the worker that answered most
        # recently, whose memory the caches still hold. Handing calls round in turn instead
        # left each worker colder between its calls: measured under load, ≈ 0.5 ms more CPU per
        # seal and per verification (docs/performance-history.md, twelfth session).
        self._idle: list[_Worker] = list(self._workers)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a worker came back, or the pool closed
        self._closed = False

    def warm(self) -> list[Future[int]]:
        """Have every worker answer once now (imports and key loading take about a second
        each), so the first cases after a start are not the ones that pay for it."""
        with self._changed:
            # Each worker once: asked through submit, the one back first would be taken again.
            taken, self._idle = self._idle, []
        futures: list[Future[int]] = []
        for worker in taken:
            future: Future[int] = Future()

            def ready(worker: _Worker = worker, future: Future[int] = future) -> None:
                try:
                    future.set_result(self._call_on(worker, "ready"))
                except BaseException as exc:
                    future.set_exception(exc)
            threading.Thread(target=ready, name="signing-warm", daemon=True).start()
            futures.append(future)
        return futures

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def issuer(self) -> PooledIssuer:
        return PooledIssuer(self)

    def verifier(self) -> PooledVerifier:
        return PooledVerifier(self)

    def submit(self, name: str, *args: Any) -> Any:
        with self._changed:
            while not self._idle and not self._closed:
                self._changed.wait()
            if self._closed:
                raise RuntimeError(_CLOSED)
            worker = self._idle.pop()
        return self._call_on(worker, name, *args)

    def _call_on(self, worker: _Worker, name: str, *args: Any) -> Any:
        """Call on a worker taken from the idle ones, and put it (or the one started in its
        place) back on top."""
        try:
            try:
                return worker.call(name, *args)
            except _WorkerGone:
                # A worker died (killed, out of memory). Sealing and verifying have no side
                # effects, so start a fresh one in its place and try once more.
                worker = self._replace(worker)
                try:
                    return worker.call(name, *args)
                except _WorkerGone as exc:
                    raise RuntimeError(f"the signing worker ended twice in a row ({exc}); "
                                       "see the node's log and the machine's memory") from exc
        finally:
            with self._changed:
                self._idle.append(worker)
                self._changed.notify()

    def _replace(self, gone: _Worker) -> _Worker:
        gone.stop(timeout=1.0)
        with self._lock:  # held while the process starts (a few ms): close() must not slip in between
            if self._closed:  # stopped by close(): no worker holding seal keys may start after it
                raise RuntimeError(_CLOSED)
            fresh = _Worker(self._start)
            self._workers[self._workers.index(gone)] = fresh
        return fresh

    def close(self, *, timeout: float = 30.0) -> None:
        """Refuse new calls, then stop the workers once the calls they are answering have
        ended; a call still running after `timeout` has its worker killed (it fails)."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()  # callers waiting for a worker, and any after, are refused
        deadline = time.monotonic() + timeout
        stopped = 0
        while stopped < self.processes:
            with self._changed:
                if not self._changed.wait_for(lambda: self._idle, timeout=max(deadline - time.monotonic(), 0.0)):
                    break
                worker = self._idle.pop()
            worker.stop(timeout=5.0)
            stopped += 1
        with self._lock:
            for worker in self._workers:
                if worker.process.is_alive():  # busy past the deadline: its caller owns the pipe
                    worker.process.kill()
                    worker.process.join()


class PooledIssuer:
    """Implements exchange.ports.ResultIssuer in the pool's workers."""

    def __init__(self, pool: SigningPool) -> None:
        self.pool = pool

    def issue(self, request: CertificateRequest) -> bytes:
        return bytes(self.pool.submit("issue", request))


class PooledVerifier:
    """Implements exchange.ports.ResultVerifier in the pool's workers."""

    def __init__(self, pool: SigningPool) -> None:
        self.pool = pool

    def verify(self, pdf: bytes, *, competent_province: str, competent_department: str,
               issued_sha256: str | None) -> Any:
        return self.pool.submit("verify", pdf, competent_province, competent_department, issued_sha256)
