"""Materials travel node to node in resumable, checked streams: real node processes on loopback,
one of them killed halfway; and every kind of bad input refused with a precise status."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from nodes.config import NodeConfig, to_toml
from nodes.launch import NodeProcess, loopback_configs, spawn_node, wait_serving
from nodes.peers import GrpcPeerGateway
from nodes.tls import channel_credentials, secure_channel
from signing.pki import Federation
from storage.factory import open_object_store
from storage.sealing import SEGMENT
from tongban_pb import common_pb2, peer_pb2, peer_pb2_grpc

SENDER, RECEIVER, STRANGER = "340000", "330000", "320000"
MiB = 1 << 20
SIZE = 64 * MiB + 4321  # not a whole number of segments
LIMIT = 96 * MiB


@dataclass
class Pair:
    federation: Federation
    configs: dict[str, NodeConfig]
    receiver: NodeProcess

    def restart_receiver(self) -> None:
        self.receiver.stop()
        self.receiver = spawn_node(self.configs[RECEIVER])
        wait_serving(self.receiver, self.federation)

    def kill_receiver(self) -> None:
        self.receiver.process.send_signal(signal.SIGKILL)
        self.receiver.process.wait()

    def peer_stub(self, as_province: str = SENDER) -> peer_pb2_grpc.PeerServiceStub:
        cert, key = self.federation.node_tls(as_province)
        creds = channel_credentials(self.federation, cert_pem=cert, key_pem=key, province_of_cert=as_province)
        return peer_pb2_grpc.PeerServiceStub(secure_channel(self.configs[RECEIVER].listen, creds, province=RECEIVER))

    def gateway(self) -> GrpcPeerGateway:
        cert, key = self.federation.node_tls(SENDER)
        return GrpcPeerGateway(
            province=SENDER, peers=self.configs[SENDER].peers, resume_patience=30.0,
            credentials=channel_credentials(self.federation, cert_pem=cert, key_pem=key, province_of_cert=SENDER),
        )

    @property
    def transfers(self) -> Path:
        return self.configs[RECEIVER].data_dir / "transfers"

    def partial_files(self, number: str) -> list[Path]:
        """What the receiver keeps of a case's partial uploads (header and data files)."""
        return sorted(self.transfers.glob(f"{number}.*"))

    def receiver_has(self, sha256: str) -> bool:
        return open_object_store(self.configs[RECEIVER].object_store).stat(sha256) is not None


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, federation: Federation) -> Iterator[Pair]:
    configs = loopback_configs(tmp_path_factory.mktemp("transfer"), [SENDER, RECEIVER], pki_dir=federation.directory)
    configs[RECEIVER] = dataclasses.replace(configs[RECEIVER], max_material_bytes=LIMIT)
    receiver = spawn_node(configs[RECEIVER])
    wait_serving(receiver, federation)
    pair = Pair(federation, configs, receiver)
    yield pair
    pair.receiver.stop()


def pdf_bytes(size: int, seed: int) -> Iterator[bytes]:
    """A large 'drawing': a PDF header then deterministic pseudo-random bytes, 1 MiB at a time."""
    import random

    rng = random.Random(seed)
    yield b"%PDF-1.7\n"
    left = size - 9
    while left:
        n = min(MiB, left)
        yield rng.randbytes(n)
        left -= n


def stored_at_sender(pair: Pair, seed: int) -> dict[str, object]:
    stored = open_object_store(pair.configs[SENDER].object_store).put_stream(
        pdf_bytes(SIZE, seed), media_type="application/pdf", metadata={"kind": "drawing", "file_name": "图纸.pdf"}
    )
    return {"kind": "drawing", "file_name": "图纸.pdf", "media_type": "application/pdf",
            "sha256": stored.sha256, "size": stored.size}


def case_number(tag: str) -> str:
    """A well-formed case number of the sender, one per tag (nodes refuse malformed ones)."""
    return f"{SENDER}-20260101-{hashlib.sha256(tag.encode()).hexdigest()[:8].upper()}"


# --- resume -----------------------------------------------------------------------------------


def memory_kb(pid: int, field: str) -> int:
    import re

    return int(re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1))  # type: ignore[union-attr]


def test_the_receivers_memory_does_not_grow_with_the_size_of_the_material(pair: Pair) -> None:
    size = 90 * MiB  # far more than every buffer on the way together (gRPC windows, queues, a segment)
    stored = open_object_store(pair.configs[SENDER].object_store).put_stream(
        pdf_bytes(size, seed=9), media_type="application/pdf", metadata={"kind": "drawing", "file_name": "大图.pdf"})
    pid = pair.receiver.process.pid
    resident_before, peak_before = memory_kb(pid, "VmRSS"), memory_kb(pid, "VmHWM")

    gateway = pair.gateway()
    try:
        gateway.push_material(
            RECEIVER, case_number=case_number("MEMORY01"),
            material={"kind": "drawing", "file_name": "大图.pdf", "media_type": "application/pdf",
                      "sha256": stored.sha256, "size": stored.size},
            chunks=open_object_store(pair.configs[SENDER].object_store).iter_chunks(stored.sha256),
        )
    finally:
        gateway.close()

    assert pair.receiver_has(stored.sha256)
    grew_mib = (memory_kb(pid, "VmHWM") - max(peak_before, resident_before)) / 1024
    assert grew_mib < 60, f"the receiver's peak memory rose by {grew_mib:.0f} MiB for a {size // MiB} MiB material"



def test_a_transfer_cut_off_by_a_receiver_restart_resumes_from_the_confirmed_offset(pair: Pair) -> None:
    material = stored_at_sender(pair, seed=1)
    number = case_number("RESUME01")
    sent: list[int] = []
    killed = threading.Event()

    def progress(done: int, total: int) -> None:
        sent.append(done)
        if not killed.is_set() and done >= total * 0.4:
            killed.set()
            pair.kill_receiver()  # mid-stream, without warning

    gateway = pair.gateway()
    pusher = threading.Thread(target=lambda: gateway.push_material(
        RECEIVER, case_number=number, material=material,
        chunks=open_object_store(pair.configs[SENDER].object_store).iter_chunks(str(material["sha256"])),
        progress=progress,
    ))
    pusher.start()
    assert killed.wait(60), "the transfer never got to 40%"
    pair.restart_receiver()
    pusher.join(60)
    gateway.close()
    assert not pusher.is_alive()

    # A resumed stream starts again at the confirmed offset (possibly re-sending what was in
    # flight); starting over would re-send the 40% sent before the kill.
    chunks_in_material = -(-SIZE // MiB)
    before_kill = next(i for i, done in enumerate(sent) if done >= SIZE * 0.4) + 1
    assert len(sent) - chunks_in_material < before_kill // 2, "it must resume, not start over"
    resumed = [sent[i] - MiB for i in range(1, len(sent)) if sent[i] != sent[i - 1] + MiB and sent[i] != SIZE]
    assert all(offset % SEGMENT == 0 for offset in resumed)
    assert pair.receiver_has(str(material["sha256"]))
    store = open_object_store(pair.configs[RECEIVER].object_store)
    digest = hashlib.sha256()
    for chunk in store.iter_chunks(str(material["sha256"])):
        digest.update(chunk)
    assert digest.hexdigest() == material["sha256"]
    assert pair.partial_files(number) == [], "the partial upload is gone once stored"


def test_a_sender_killed_mid_transfer_resumes_after_it_restarts(pair: Pair, tmp_path: Path) -> None:
    material = stored_at_sender(pair, seed=2)
    number = case_number("RESUME02")
    config = tmp_path / "sender.toml"
    config.write_text(to_toml(pair.configs[SENDER]), encoding="utf-8")
    command = [sys.executable, "-m", "nodes.cli", "transfer", "--config", str(config), "--to", RECEIVER,
               "--case", number, "--sha256", str(material["sha256"])]
    root = Path(__file__).resolve().parents[2]
    partial = pair.transfers / f"{number}.{material['sha256']}.data"

    first = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size >= 8 * MiB):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    first.send_signal(signal.SIGKILL)
    first.wait()

    reply = pair.peer_stub().GetTransferOffset(
        peer_pb2.TransferRef(case_number=number, sha256=str(material["sha256"]), from_province=SENDER), timeout=10)
    assert not reply.complete and 0 < reply.confirmed_offset < SIZE

    second = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "ETA" in second.stderr and "/s" in second.stderr  # the progress bar
    resumed = int(second.stdout.split("resumed at ")[1].split()[0])
    assert resumed >= reply.confirmed_offset
    assert pair.receiver_has(str(material["sha256"]))


# --- bad input --------------------------------------------------------------------------------


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.7\n" + b"x" * 100


def push(pair: Pair, data: bytes, *, number: str = "", file_name: str = "form.pdf",
         media_type: str = "application/pdf", size: int | None = None, offset: int = 0,
         sha256: str | None = None, offsets: list[int] | None = None, as_province: str = SENDER,
         claimed: str | None = None) -> grpc.RpcError:
    header = peer_pb2.PushHeader(
        material=common_pb2.MaterialHeader(
            kind="application_form", file_name=file_name, media_type=media_type,
            sha256=sha256 or hashlib.sha256(data).hexdigest(), case_number=number or case_number("BADINPUT"),
            from_province=claimed or as_province),
        size=len(data) if size is None else size, offset=offset)
    messages = [peer_pb2.MaterialPush(header=header)]
    for i, at in enumerate(offsets if offsets is not None else [offset]):
        piece = data[i * MiB:(i + 1) * MiB] if offsets is not None else data
        messages.append(peer_pb2.MaterialPush(data=peer_pb2.PushData(offset=at, data=piece)))
    with pytest.raises(grpc.RpcError) as refused:
        pair.peer_stub(as_province).PushMaterial(iter(messages), timeout=30)
    return refused.value


def nothing_left(pair: Pair, data: bytes, number: str = "") -> None:
    assert not pair.receiver_has(hashlib.sha256(data).hexdigest())
    assert pair.partial_files(number or case_number("BADINPUT")) == []


def test_an_empty_material_is_refused(pair: Pair) -> None:
    error = push(pair, b"")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "empty" in error.details()


def test_a_material_over_the_configured_limit_is_refused_before_any_byte_is_kept(pair: Pair) -> None:
    error = push(pair, PDF, size=LIMIT + 1)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"limit of {LIMIT} bytes" in error.details()
    nothing_left(pair, PDF)


def test_more_bytes_than_declared_are_refused_and_dropped(pair: Pair) -> None:
    error = push(pair, PDF, size=50)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "more than the declared 50" in error.details()
    nothing_left(pair, PDF)


def test_a_declared_type_that_is_not_the_content_is_refused_and_the_refusal_recorded(pair: Pair) -> None:
    error = push(pair, PNG, media_type="application/pdf")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and error.details().startswith("media_type:")
    nothing_left(pair, PNG)
    refusals = (pair.transfers / "refusals.jsonl").read_text(encoding="utf-8")
    assert hashlib.sha256(PNG).hexdigest() in refusals and "not application/pdf" in refusals


@pytest.mark.parametrize("name", ["../../etc/passwd", "scans\\id.pdf", "id\x07.pdf", "id\n.pdf", ".."])
def test_a_file_name_with_separators_or_control_characters_is_refused(pair: Pair, name: str) -> None:
    error = push(pair, PDF, file_name=name)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "file_name:" in error.details()
    nothing_left(pair, PDF)


def test_a_chunk_out_of_order_is_refused_naming_the_expected_offset(pair: Pair) -> None:
    data = PDF + bytes(3 * MiB)
    number = case_number("ORDER001")
    error = push(pair, data, number=number, offsets=[0, 2 * MiB, MiB])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "data.offset" in error.details() and f"offset {MiB} was due" in error.details()
    assert not pair.receiver_has(hashlib.sha256(data).hexdigest())


def test_a_stream_starting_before_what_the_receiver_holds_only_adds_what_is_new(pair: Pair) -> None:
    # A stream that broke can go on writing what it had taken in after the sender asked for
    # the offset, so a resumed stream may repeat bytes the receiver holds by then.
    data = PDF + os.urandom(3 * MiB)
    number = case_number("OVERLAP1")
    cut = push(pair, data, number=number, offsets=[0, MiB], size=len(data))  # then the stream ends
    assert cut.code() == grpc.StatusCode.INVALID_ARGUMENT and "resume from offset 2097152" in cut.details()

    header = peer_pb2.PushHeader(
        material=common_pb2.MaterialHeader(
            kind="application_form", file_name="form.pdf", media_type="application/pdf",
            sha256=hashlib.sha256(data).hexdigest(), case_number=number, from_province=SENDER),
        size=len(data), offset=MiB)
    resumed = [peer_pb2.MaterialPush(header=header)] + [
        peer_pb2.MaterialPush(data=peer_pb2.PushData(offset=at, data=data[at:at + MiB]))
        for at in range(MiB, len(data), MiB)]
    ref = pair.peer_stub().PushMaterial(iter(resumed), timeout=30)

    assert ref.sha256 == hashlib.sha256(data).hexdigest() and pair.receiver_has(ref.sha256)
    assert open_object_store(pair.configs[RECEIVER].object_store).read_bytes(ref.sha256) == data


def test_a_stream_resuming_at_an_offset_the_receiver_never_confirmed_is_refused(pair: Pair) -> None:
    error = push(pair, PDF, number=case_number("OFFSET01"), size=10 * MiB, offset=5 * MiB)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "holds 0 bytes" in error.details() and "GetTransferOffset" in error.details()


def test_bytes_that_do_not_hash_to_the_declared_sha256_are_refused_and_the_refusal_recorded(pair: Pair) -> None:
    declared = hashlib.sha256(b"what the sender meant").hexdigest()
    error = push(pair, PDF, sha256=declared, number=case_number("HASH0001"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and declared in error.details()
    assert not pair.receiver_has(declared)
    assert pair.partial_files(case_number("HASH0001")) == []
    assert declared in (pair.transfers / "refusals.jsonl").read_text(encoding="utf-8")


def test_a_node_may_not_push_materials_for_a_case_it_is_not_party_to(pair: Pair) -> None:
    number = f"{STRANGER}-20260101-0B0E0E0F"
    error = push(pair, PDF, number=number)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and STRANGER in error.details()
    with pytest.raises(grpc.RpcError) as asked:
        pair.peer_stub().GetTransferOffset(
            peer_pb2.TransferRef(case_number=number, sha256=hashlib.sha256(PDF).hexdigest(), from_province=SENDER),
            timeout=10)
    assert asked.value.code() == grpc.StatusCode.PERMISSION_DENIED
    nothing_left(pair, PDF, number)


def test_a_node_may_not_claim_to_push_for_another_province(pair: Pair) -> None:
    error = push(pair, PDF, claimed=STRANGER, number=f"{STRANGER}-20260101-C1A13ED1")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "certificate" in error.details()


def test_the_partial_upload_is_sealed_on_the_receivers_disk(pair: Pair) -> None:
    secret = b"%PDF-1.7 " + b"340102199001010011 " * (MiB // 8)
    number = case_number("SEALED01")
    header = peer_pb2.PushHeader(
        material=common_pb2.MaterialHeader(kind="id_card", file_name="id.pdf", media_type="application/pdf",
                                           sha256=hashlib.sha256(secret).hexdigest(), case_number=number,
                                           from_province=SENDER),
        size=len(secret) + MiB, offset=0)
    messages = [peer_pb2.MaterialPush(header=header), peer_pb2.MaterialPush(data=peer_pb2.PushData(offset=0, data=secret))]
    with pytest.raises(grpc.RpcError) as cut:
        pair.peer_stub().PushMaterial(iter(messages), timeout=30)
    assert "resume from offset" in cut.value.details()
    stem = pair.transfers / f"{number}.{hashlib.sha256(secret).hexdigest()}"
    data = stem.with_name(stem.name + ".data").read_bytes()
    assert len(data) > MiB and b"340102199001010011" not in data
    assert "id.pdf" not in stem.with_name(stem.name + ".header.json").read_text(encoding="utf-8")
    os.remove(stem.with_name(stem.name + ".data"))


def test_tongban_upload_streams_a_scan_to_a_window_with_a_progress_bar(pair: Pair, tmp_path: Path) -> None:
    scan = tmp_path / "营业执照.pdf"
    with scan.open("wb") as out:
        for chunk in pdf_bytes(3 * MiB + 7, seed=3):
            out.write(chunk)
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "upload", str(scan), "--kind", "licence",
         "--pki", str(pair.federation.directory), "--province", RECEIVER, "--operator", "clerk-hangzhou-002",
         "--address", pair.configs[RECEIVER].listen],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "100.0%" in result.stderr and "MB/s" in result.stderr and "ETA" in result.stderr
    assert hashlib.sha256(scan.read_bytes()).hexdigest() in result.stdout and "营业执照.pdf" in result.stdout
    assert pair.receiver_has(hashlib.sha256(scan.read_bytes()).hexdigest())


def test_a_sender_that_goes_away_mid_stream_is_not_an_internal_error(pair: Pair) -> None:
    data = b"%PDF-1.7 " + bytes(3 * MiB)
    number = case_number("GONE0001")
    header = peer_pb2.PushHeader(
        material=common_pb2.MaterialHeader(
            kind="application_form", file_name="form.pdf", media_type="application/pdf",
            sha256=hashlib.sha256(data).hexdigest(), case_number=number, from_province=SENDER),
        size=len(data), offset=0)
    hold = threading.Event()

    def messages() -> Iterator[peer_pb2.MaterialPush]:
        yield peer_pb2.MaterialPush(header=header)
        yield peer_pb2.MaterialPush(data=peer_pb2.PushData(offset=0, data=data[:2 * MiB]))
        hold.wait(30)

    log = pair.receiver.log_path
    before = log.read_text(errors="replace").count("PeerService/PushMaterial")
    call = pair.peer_stub().PushMaterial.future(messages(), timeout=30)
    deadline = time.monotonic() + 30
    while pair.peer_stub().GetTransferOffset(peer_pb2.TransferRef(
            case_number=number, sha256=header.material.sha256, from_province=SENDER), timeout=10).confirmed_offset < MiB:
        assert time.monotonic() < deadline, "the receiver never took the first segment"
        time.sleep(0.05)
    call.cancel()
    hold.set()
    while log.read_text(errors="replace").count("PeerService/PushMaterial") == before:
        assert time.monotonic() < deadline, "the receiver never ended the stream"
        time.sleep(0.05)

    text = log.read_text(errors="replace")
    assert "internal error" not in text
    assert pair.peer_stub().GetTransferOffset(peer_pb2.TransferRef(
        case_number=number, sha256=header.material.sha256, from_province=SENDER), timeout=10).confirmed_offset == 2 * MiB
