"""1 GB node to node on loopback: tongban's resumable, sealed PushMaterial between two real
processes (the receiving node and `tongban transfer` acting as the sending node), next to raw
loopback TCP (one process sending 1 MiB buffers, another receiving) measured in the same run.

Also measured in the same run: the per-byte work no transport can avoid, each side alone in
one thread with no network at all: the sender's store read (open every sealed segment,
re-hash) and the receiver's partial upload (hash, seal, write, fsync, commit into its store).
From them two "work bounds": serial (both in one thread) and pipelined (each side on a core of
its own: the slower side's rate). The transfer does that work plus TLS and gRPC framing on
both sides, so on 2 cores the pipelined bound is its realistic ceiling, and raw TCP (which
does none of that work) is far above it.

Prints throughput, each side's peak RSS and the ratios. No thresholds.
Usage: python bench/bench_transfer.py [--size 1GB]   (e.g. --size 256MB for a quick run)
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


def work_bounds_mb_per_s(store_settings, sha256: str, workdir: Path) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The per-byte work of a transfer without any transport, each side alone in one thread:
    the sender's verified read of its sealed copy (open every segment, re-hash), and the
    receiver's sealed partial upload of the same number of bytes (hash, seal, write, fsync,
    commit into its store). Returns (sender MB/s, receiver MB/s)."""
    from storage.factory import open_object_store
    from storage.local import LocalFolderStore
    from storage.sealing import NodeKeyring, Sealer
    from storage.transfers import PartialUploads

    source = open_object_store(store_settings)
    size = source.stat(sha256).size
    started = time.perf_counter()
    for _ in source.iter_chunks(sha256):
        pass
    sender = size / 1e6 / (time.perf_counter() - started)

    sealer = Sealer(NodeKeyring.open(workdir / "bound-keys.json"))
    target = LocalFolderStore(workdir / "bound-store", sealer=sealer)
    uploads = PartialUploads(workdir / "bound-transfers", store=target, sealer=sealer)
    block = b"%PDF-" + os.urandom(MiB - 5)
    started = time.perf_counter()
    upload = uploads.open(case_number="BENCH-1", sha256="0" * 64, declared={"size": size, "media_type": "application/pdf"})
    try:
        left = size
        while left:
            upload.append(block[:min(MiB, left)])
            left -= min(MiB, left)
        upload.commit(sha256=upload.sha256(), metadata={"case": "BENCH-1"})
        upload.discard()
    finally:
        upload.close()
    receiver = size / 1e6 / (time.perf_counter() - started)
    shutil.rmtree(workdir / "bound-store", ignore_errors=True)
    return sender, receiver


def parse_size(text: str) -> int:
    """'1GB', '256MB', '512' (MiB): binary units, as the material is built from 1 MiB blocks."""
    match = re.fullmatch(r"\s*(\d+)\s*(GB|GIB|G|MB|MIB|M)?\s*", text.upper())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 1GB or 256MB")
    return int(match.group(1)) * (1024 if (match.group(2) or "M").startswith("G") else 1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=parse_size, default=1024, dest="size_mb", help="e.g. 1GB (default), 256MB")
    parser.add_argument("--size-mb", type=int, dest="size_mb", help=argparse.SUPPRESS)
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
        sender_work, receiver_work = work_bounds_mb_per_s(sender.object_store, stored.sha256, workdir)
        serial = 1 / (1 / sender_work + 1 / receiver_work)  # both sides' work in one thread
        pipelined = min(sender_work, receiver_work)  # each side on its own core, no transport

        receiver_cpu_before = cpu_seconds(receiver.process.pid)
        process = subprocess.Popen(
            [sys.executable, "-m", "nodes.cli", "transfer", "--config", str(sender_toml), "--to", COMPETENT_PROVINCE,
             "--case", f"{WINDOW_PROVINCE}-20260101-BE4C0001", "--sha256", stored.sha256],
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
        receiver_cpu = cpu_seconds(receiver.process.pid) - receiver_cpu_before
        sender_cpu = usage.ru_utime + usage.ru_stime
        receiver.stop()
        sender_rss = usage.ru_maxrss / 1024
        assert open_object_store(receiver_config.object_store).stat(stored.sha256) is not None

        rate = stored.size / 1e6 / seconds
        print(f"material                 {stored.size / 1e6:.0f} MB (sealed at rest on both sides)")
        print(f"raw loopback TCP         {raw:8.0f} MB/s  (baseline, same run, best of 3)")
        print(f"tongban node to node     {rate:8.0f} MB/s  ({seconds:.2f} s, TLS + sealed staging + re-hash + sealed store)")
        print(f"sender's work alone      {sender_work:8.0f} MB/s  (same run, one thread: verified read of the sealed copy)")
        print(f"receiver's work alone    {receiver_work:8.0f} MB/s  (same run, one thread: hash, seal, write, fsync, commit)")
        print(f"work bound, serial       {serial:8.0f} MB/s  (both sides' work in one thread, no transport)")
        print(f"work bound, pipelined    {pipelined:8.0f} MB/s  (each side on its own core, no transport: the ceiling here)")
        print(f"ratio to raw TCP         {rate / raw:8.3f}")
        print(f"ratio to serial bound    {rate / serial:8.3f}")
        print(f"ratio to pipelined bound {rate / pipelined:8.3f}")
        for name, figure in per_core_mb_per_s().items():
            print(f"{name + ' one core':24s} {figure:8.0f} MB/s  (context: per-byte work on this machine)")
        print(f"load average             {os.getloadavg()[0]:8.2f}     (on {os.cpu_count()} cores)")
        print(f"CPU time sender          {sender_cpu:8.2f} s    (whole command, start-up included)")
        print(f"CPU time receiver        {receiver_cpu:8.2f} s    (both: 2 cores x {seconds:.2f} s = {2 * seconds:.2f} s available)")
        print(f"peak RSS sender          {sender_rss:8.0f} MB")
        print(f"peak RSS receiver        {receiver_rss:8.0f} MB")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
