"""1 GB node to node on loopback: tongban's resumable, sealed PushMaterial between two real
processes (the receiving node and `tongban transfer` acting as the sending node), next to raw
loopback TCP (one process sending 1 MiB buffers, another receiving) measured in the same run.

Prints throughput, each side's peak RSS and the ratio to raw TCP. No thresholds.
Usage: python bench/bench_transfer.py [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nodes.config import to_toml  # noqa: E402
from nodes.demo import COMPETENT_PROVINCE, WINDOW_PROVINCE, make_federation  # noqa: E402
from nodes.launch import loopback_configs, spawn_node, wait_serving  # noqa: E402
from storage.factory import open_object_store  # noqa: E402

MiB = 1 << 20


def _raw_receiver(port_queue: multiprocessing.Queue, total: int) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port_queue.put(server.getsockname()[1])
        conn, _ = server.accept()
        buffer = bytearray(MiB)
        got = 0
        with conn:
            while got < total:
                n = conn.recv_into(buffer)
                if not n:
                    break
                got += n
            conn.sendall(b"k")


def raw_loopback_mb_per_s(total: int) -> float:
    """Best of three: bytes from one process to another over a loopback TCP socket."""
    best = 0.0
    for _ in range(3):
        queue: multiprocessing.Queue = multiprocessing.Queue()
        receiver = multiprocessing.Process(target=_raw_receiver, args=(queue, total))
        receiver.start()
        port = queue.get(timeout=10)
        payload = os.urandom(MiB)
        with socket.create_connection(("127.0.0.1", port)) as conn:
            started = time.perf_counter()
            sent = 0
            while sent < total:
                conn.sendall(payload)
                sent += len(payload)
            conn.recv(1)
            seconds = time.perf_counter() - started
        receiver.join()
        best = max(best, total / 1e6 / seconds)
    return best


def per_core_mb_per_s() -> dict[str, float]:
    """What each byte costs on this machine, one core: the floor under any sealed transfer
    (the receiver hashes and seals every byte on top of TLS; the sender opens and hashes)."""
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    block, aead, rounds = os.urandom(MiB), AESGCM(os.urandom(32)), 128
    figures = {}
    for name, work in (("SHA-256", lambda: hashlib.sha256(block).digest()),
                       ("AES-256-GCM", lambda: aead.encrypt(b"\0" * 12, block, None))):
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        figures[name] = rounds * MiB / 1e6 / (time.perf_counter() - started)
    return figures


def peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mb * MiB

    workdir = Path(tempfile.mkdtemp(prefix="tongban-bench-transfer-"))
    try:
        federation = make_federation(workdir)
        configs = loopback_configs(workdir, [WINDOW_PROVINCE, COMPETENT_PROVINCE], pki_dir=federation.directory)
        sender, receiver_config = configs[WINDOW_PROVINCE], configs[COMPETENT_PROVINCE]

        print(f"preparing a {args.size_mb} MiB material in the sending node's (sealed) store ...", flush=True)
        block = os.urandom(MiB)

        def material():  # type: ignore[no-untyped-def]
            yield b"%PDF-1.7\n"
            for i in range(args.size_mb):
                yield i.to_bytes(8, "big") + block[8:] if i else block[9:]
        stored = open_object_store(sender.object_store).put_stream(
            material(), media_type="application/pdf", metadata={"kind": "drawing", "file_name": "bench.pdf"})

        receiver = spawn_node(receiver_config)
        wait_serving(receiver, federation)
        sender_toml = workdir / "sender.toml"
        sender_toml.write_text(to_toml(sender), encoding="utf-8")

        raw = raw_loopback_mb_per_s(size)

        process = subprocess.Popen(
            [sys.executable, "-m", "nodes.cli", "transfer", "--config", str(sender_toml), "--to", COMPETENT_PROVINCE,
             "--case", f"{WINDOW_PROVINCE}-20260101-BENCH001", "--sha256", stored.sha256],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out = process.stdout.read() if process.stdout else ""
        if process.returncode != 0:
            print(out, (receiver.log_path.read_text()[-3000:]))
            return 1
        seconds = float(re.search(r" in ([0-9.]+) s", out).group(1))  # type: ignore[union-attr]
        receiver_rss = peak_rss_mb(receiver.process.pid)
        receiver.stop()
        sender_rss = usage.ru_maxrss / 1024
        assert open_object_store(receiver_config.object_store).stat(stored.sha256) is not None

        rate = stored.size / 1e6 / seconds
        print(f"material                 {stored.size / 1e6:.0f} MB (sealed at rest on both sides)")
        print(f"raw loopback TCP         {raw:8.0f} MB/s  (baseline, same run, best of 3)")
        print(f"tongban node to node     {rate:8.0f} MB/s  ({seconds:.2f} s, TLS + sealed staging + re-hash + sealed store)")
        print(f"ratio                    {rate / raw:8.3f}")
        for name, figure in per_core_mb_per_s().items():
            print(f"{name + ' one core':24s} {figure:8.0f} MB/s  (context: per-byte work on this machine)")
        print(f"load average             {os.getloadavg()[0]:8.2f}     (on {os.cpu_count()} cores)")
        print(f"peak RSS sender          {sender_rss:8.0f} MB")
        print(f"peak RSS receiver        {receiver_rss:8.0f} MB")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
