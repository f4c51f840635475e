"""What `tongban bench` compares against, each measured alone in the same run: bare pyHanko
sealing and validating, bare eventsourcing appends, a raw loopback copy; and the CPU and memory
of processes, read from /proc."""

from __future__ import annotations

import array
import fcntl
import io
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from nodes.demo import COMPETENT_PROVINCE
from signing.pki import Federation
from storage.eventstore import EventStoreSettings

CLK_TCK = os.sysconf("SC_CLK_TCK")


def journal_less_ext4(folder: Path) -> bool:
    """Whether `folder` lies on an ext4 without a journal. There each file created scans past
    every inode of its block group freed in the last one to six minutes (ext4's
    recently_deleted()), so a run right after another one's clean-up, or after a test suite,
    pays for their deletions: up to a sixth of a node's CPU, measured."""
    try:
        dev = os.stat(folder).st_dev
        name = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve().name
        return Path(f"/sys/fs/ext4/{name}/journal_task").read_text().strip() == "<none>"
    except OSError:
        return False


_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


def spread_from_earlier_runs(folder: Path) -> bool:
    """Mark `folder` as the top of a directory tree (ext4's `chattr +T`), so each folder made in
    it is placed, by ext4's Orlov allocator, in a block group picked by a hash of its name rather
    than next to `folder`. Named per run, a run's node folders then do not lie among the inodes
    the last run's clean-up freed, which on an ext4 without a journal every file made would scan
    past (`journal_less_ext4`). A hint about where files go, nothing else; False where the
    filesystem has no such attribute."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags)
        flags[0] |= _FS_TOPDIR_FL
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            for child in map(int, text):
                found += [child, *child_pids(child)]
    except OSError:
        pass
    return found


def cpu_seconds(pid: int, *, kernel_only: bool = False) -> float:
    """User and kernel CPU of one process (or its kernel CPU alone: system calls, fsync, sockets)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return ((0 if kernel_only else int(fields[11])) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_cpu_seconds(pid: int, *, kernel_only: bool = False) -> float:
    """CPU of a node and its live worker processes (the signing pool)."""
    return sum(cpu_seconds(p, kernel_only=kernel_only) for p in (pid, *child_pids(pid)))


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL process on the machine (ours and anyone else's: the server is shared)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def machine_ticks() -> tuple[int, int]:
    values = list(map(int, Path("/proc/stat").read_text().splitlines()[0].split()[1:]))
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def seconds_per_call(fn: Callable[[], object], *, seconds: float = 1.5) -> float:
    """Seconds per call of fn, on one core: the fastest call, so that on a shared machine the
    calls another process preempted do not pass for the library's own cost (on an idle machine
    the fastest and the typical call differ by a few per cent)."""
    fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - started < seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bare_seal_and_verify(federation: Federation) -> dict[str, float]:
    """Seconds for bare pyHanko: a B-B signature, a B-LT signature with the same in-process TSA
    and embedded CRLs (the same cryptographic work as a tongban seal), and validating the
    B-LT file with the same trust roots and CRLs."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.validation import validate_pdf_signature

    from exchange.ports import CertificateRequest
    from signing.render import render_certificate
    from signing.tsa import AuthorityTimeStamper, TimestampAuthority
    from signing.validation import strict_context

    pdf = render_certificate(CertificateRequest(
        case_number="330000-20261123-00000000", matter_code="KS2020-044", matter_name="营业执照遗失补领、换发",
        applicant_name="王小明", applicant_id_masked="3301**********1234", province_code=COMPETENT_PROVINCE,
        department_key="market", department_name="浙江省市场监督管理局", issued_on=date.today(),
        verification_code="0000-0000-0000"), province_name="浙江省")
    cert, key = federation.seal_paths(COMPETENT_PROVINCE, "market")
    signer = signers.SimpleSigner.load(str(key), str(cert), ca_chain_files=(
        str(federation.directory / "provinces" / COMPETENT_PROVINCE / "ca.pem"),))
    assert signer is not None, "the bench federation's seal key could not be loaded"
    trust = federation.trust()
    stamper = AuthorityTimeStamper(TimestampAuthority.of_province(federation, COMPETENT_PROVINCE))
    plain = signers.PdfSignatureMetadata(field_name="Bare", subfilter=fields.SigSeedSubFilter.PADES)

    def b_lt_meta() -> signers.PdfSignatureMetadata:
        return signers.PdfSignatureMetadata(field_name="Bare", subfilter=fields.SigSeedSubFilter.PADES,
                                            embed_validation_info=True, validation_context=strict_context(trust))

    def sign_b() -> bytes:
        return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), plain, signer=signer).getvalue()

    def sign_lt() -> bytes:
        return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), b_lt_meta(), signer=signer,
                                timestamper=stamper).getvalue()

    signed = sign_lt()

    def verify() -> None:
        status = validate_pdf_signature(PdfFileReader(io.BytesIO(signed)).embedded_signatures[0],
                                        signer_validation_context=strict_context(trust),
                                        ts_validation_context=strict_context(trust))
        assert status.bottom_line, "bare pyHanko could not validate its own B-LT signature"

    return {"seal_b": seconds_per_call(sign_b), "seal_lt": seconds_per_call(sign_lt), "verify": seconds_per_call(verify)}


def bare_append_seconds(*, event_store: str, dbname: str, workdir: Path, schema: str,
                        pg_host: str = "127.0.0.1") -> float:
    """Seconds per bare eventsourcing save of one new aggregate with one event, on the same
    kind of store (PostgreSQL: a schema of its own, dropped after)."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate

    class Probe(Aggregate):
        def __init__(self, note: str) -> None:
            self.note = note

    store = EventStoreSettings(kind="sqlite", sqlite_path=workdir / "bare.sqlite") if event_store == "sqlite" \
        else EventStoreSettings(kind="postgres", dbname=dbname, schema=schema, host=pg_host)
    # eventsourcing's own recorder: tongban's hash chain is part of what is measured, not of the bound.
    env = {k: v for k, v in store.application_env().items() if k != "APPLICATION_RECORDER_TOPIC"}
    app = Application(env=env)
    try:
        return seconds_per_call(lambda: app.save(Probe(note="probe")), seconds=1.0)
    finally:
        app.close()
        if store.kind == "postgres":
            drop_schemas(store.dbname, store.schema)


def raw_loopback_mb_s(total: int = 256 << 20) -> float:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    block = os.urandom(1 << 20)

    def sink() -> None:
        conn, _ = server.accept()
        with conn:
            while conn.recv(1 << 20):
                pass

    thread = threading.Thread(target=sink)
    thread.start()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        for _ in range(total // len(block)):
            s.sendall(block)
    thread.join()
    server.close()
    return total / (1 << 20) / (time.perf_counter() - started)


def drop_schemas(dbname: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", dbname=dbname, user="postgres", autocommit=True) as conn:
        for (name,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                    (prefix.replace("_", r"\_") + "%",)).fetchall():
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')
