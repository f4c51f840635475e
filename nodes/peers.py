"""Calls to partner nodes over mutual TLS; gRPC failures become domain errors."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import grpc

from exchange.errors import InvalidRequest, PeerBusy, PeerRefused, PeerUnavailable
from nodes.prefetch import Prefetched
from nodes.tls import PartnerStubs
from nodes.translate import material_to_pb, put_identity_and_agent
from nodes.wire import encode_push_data, serialize_push
from storage.streams import take_front
from tongban_pb import common_pb2, peer_pb2, peer_pb2_grpc

PUSH_CHUNK = 1 << 20  # bytes per PushData message: larger ones cost more memory than they save time
_READ_AHEAD = 4  # messages' worth of bytes read ahead of the stream
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# A push also waits out ABORTED (the receiver is taking the same material from another stream)
# and RESOURCE_EXHAUSTED (it serves as many calls from this node as it takes at once).
_PUSH_RETRYABLE = _RETRYABLE | {grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED}


def partner_error(province: str, what: str, exc: grpc.RpcError) -> Exception:
    """A partner's gRPC answer as the domain's error: about this request only (PeerBusy), the
    partner out of reach (PeerUnavailable), or a refusal that sending again will not change."""
    code, details = exc.code(), exc.details()
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:  # it serves as many calls from here as it takes
        return PeerBusy(f"the node of {province} is busy and could not {what} just now ({details}); "
                        "nothing was lost, try again in a moment")
    if code == grpc.StatusCode.ABORTED:  # about this request only: the partner itself is fine
        return PeerBusy(f"the node of {province} could not {what} just now ({details}); "
                        "nothing was lost, try again")
    if code in _RETRYABLE:
        return PeerUnavailable(f"could not {what} at the node of {province} ({code.name}: {details}); "
                               "nothing was lost, try again when it is reachable")
    return PeerRefused(f"the node of {province} refused to {what}: {code.name}: {details}", code=code.name)


_PEER_SERVICE = peer_pb2.DESCRIPTOR.services_by_name["PeerService"].full_name


class _PeerStub(peer_pb2_grpc.PeerServiceStub):
    """The generated stub, but a material push takes data messages already encoded (nodes.wire)."""

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self.PushMaterial = channel.stream_unary(
            f"/{_PEER_SERVICE}/PushMaterial", request_serializer=serialize_push,
            response_deserializer=common_pb2.MaterialRef.FromString, _registered_method=True)


class GrpcPeerGateway:
    def __init__(
        self, *, province: str, peers: Mapping[str, str], credentials: grpc.ChannelCredentials,
        timeout: float = 30.0, stream_timeout: float = 3600.0, resume_patience: float = 60.0,
    ) -> None:
        self.province = province
        self.peers = dict(peers)
        self.credentials = credentials
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self.resume_patience = resume_patience
        self._partners = PartnerStubs(peers=peers, credentials=credentials, stub_class=_PeerStub,
                                      missing=lambda p: InvalidRequest("competent_province", f"this node has no peer address for province {p}"))

    def _stub(self, province: str) -> peer_pb2_grpc.PeerServiceStub:
        return self._partners.get(province)

    def _call(self, province: str, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as exc:
            raise partner_error(province, what, exc) from None

    def push_material(
        self, province: str, *, case_number: str, material: Mapping[str, Any], chunks: Iterable[bytes],
        progress: Callable[[int, int], None] | None = None, first_push: bool = False,
    ) -> None:
        """Stream a material to `province`, resuming where the receiver's confirmed offset says
        (on a first push, from the start without asking: a unary call saved per material).
        A stream cut off (the receiver restarts, the network drops) is retried for up to
        `resume_patience` seconds, each time from the offset the receiver confirms, so bytes it
        holds are never sent twice. `progress(sent, size)` is called as bytes go out."""
        size = int(material["size"])
        material_header = common_pb2.MaterialHeader(
            kind=material["kind"], file_name=material["file_name"], media_type=material["media_type"],
            sha256=material["sha256"], case_number=case_number, from_province=self.province,
        )
        ref = peer_pb2.TransferRef(case_number=case_number, sha256=material["sha256"], from_province=self.province)
        what = f"receive material {material['kind']} ({material['sha256'][:12]}…)"  # file names may name the applicant
        pieces = coalesced(chunks, size=PUSH_CHUNK)
        if first_push and size <= PUSH_CHUNK:
            # One message has nothing to overlap: read here, not in a thread of its own (its
            # start and two hand-offs per material, and most are this small). Only when the
            # stream is sent anyway: a resend first asks whether the receiver holds it all.
            self._push(province, ref=ref, material_header=material_header, size=size, what=what,
                       source=ReplayableSource(list(pieces)), progress=progress, ask=False, wait_while_busy=False)
            return
        # Reading, opening and hashing the stored copy runs a few segments ahead in its own
        # thread, while gRPC frames and sends what is ready (nodes.prefetch says why).
        with Prefetched(pieces, depth=_READ_AHEAD, name=f"read-{material['sha256'][:12]}") as ahead:
            self._push(province, ref=ref, material_header=material_header, size=size, what=what,
                       source=ReplayableSource(ahead), progress=progress, ask=not first_push,
                       wait_while_busy=not first_push)

    def _push(
        self, province: str, *, ref: peer_pb2.TransferRef, material_header: common_pb2.MaterialHeader, size: int,
        what: str, source: ReplayableSource, progress: Callable[[int, int], None] | None, ask: bool = True,
        wait_while_busy: bool = True,
    ) -> None:
        """`wait_while_busy`: wait out a partner at its cap of calls from this node. Not for a
        clerk's submission, which holds the counter: the relay sends it a moment later."""
        stub = self._stub(province)
        deadline = time.monotonic() + self.resume_patience
        pause = 0.2
        while True:
            failure: list[BaseException] = []
            offset = 0
            try:
                if ask:
                    reply = stub.GetTransferOffset(ref, timeout=self.timeout)
                    if reply.complete:
                        if progress:
                            progress(size, size)
                        return
                    offset = int(reply.confirmed_offset)
                ask = True  # a retry resumes from what the receiver confirms
                source.seek(offset)
                header = peer_pb2.PushHeader(material=material_header, size=size, offset=offset)
                stub.PushMaterial(_push_messages(header, source, failure, progress, size), timeout=self.stream_timeout)
                return
            except grpc.RpcError as exc:
                if failure:  # our own source broke (e.g. the stored copy is corrupt): say so
                    raise failure[0] from None
                if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and offset > 0:
                    # The stream met less than the offset confirmed to us: behind one address
                    # another replica took it (each keeps its own partial uploads), or the
                    # receiver lost them. Any replica takes a stream from the start, skipping
                    # what it holds; one that refuses that too is answered below.
                    ask = False
                    continue
                busy = exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                if exc.code() in _PUSH_RETRYABLE and time.monotonic() < deadline and (wait_while_busy or not busy):
                    time.sleep(pause)
                    pause = min(pause * 2, 2.0)
                    continue
                self._call(province, what, _reraise, exc)

    def forward_case(self, province: str, *, envelope: Mapping[str, Any], message_id: str = "",
                     carried: Mapping[str, bytes] | None = None) -> bool:
        msg = peer_pb2.CaseEnvelope(
            case_number=envelope["case_number"],
            matter_code=envelope["matter_code"],
            mode=envelope["mode"],
            origin_province=envelope["origin_province"],
            competent_province=envelope["competent_province"],
            competent_department=envelope["competent_department"],
            applicant=common_pb2.Applicant(**envelope["applicant"]),
            materials=[material_to_pb(m) for m in envelope["materials"]],
            checklist=envelope["checklist"],
            from_province=self.province,
            message_id=message_id,
            carried=[peer_pb2.CarriedMaterial(sha256=sha256, data=data) for sha256, data in (carried or {}).items()],
        )
        put_identity_and_agent(msg, envelope)
        stub = self._stub(province)
        reply = self._call(province, f"take case {envelope['case_number']}", stub.ForwardCase, msg, timeout=self.timeout)
        return bool(reply.already_applied)

    def deliver_result(
        self, province: str, *, case_number: str, pdf: bytes, issued_sha256: str, message_id: str = "",
    ) -> bool:
        msg = peer_pb2.ResultEnvelope(
            case_number=case_number, from_province=self.province, pdf=pdf, issued_sha256=issued_sha256,
            message_id=message_id,
        )
        stub = self._stub(province)
        reply = self._call(province, f"receive the result of {case_number}", stub.DeliverResult, msg,
                           timeout=self.timeout)
        return bool(reply.already_applied)

    def issued_result_sha256(self, province: str, *, case_number: str) -> str | None:
        stub = self._stub(province)
        reply = self._call(
            province, f"say what it issued for {case_number}", stub.GetIssuedResult,
            common_pb2.CaseRef(case_number=case_number), timeout=self.timeout,
        )
        return reply.sha256 or None

    def close(self) -> None:
        self._partners.close()


def _reraise(exc: BaseException) -> None:
    raise exc


def _push_messages(
    header: peer_pb2.PushHeader, source: ReplayableSource, failure: list[BaseException],
    progress: Callable[[int, int], None] | None, size: int,
) -> Iterator[peer_pb2.MaterialPush | bytes]:
    """gRPC pulls these as the transport accepts them, so a slow receiver slows the reads."""
    yield peer_pb2.MaterialPush(header=header)
    try:
        for offset, data in source.chunks():
            yield encode_push_data(offset, data)
            if progress:
                progress(offset + len(data), size)
    except Exception as exc:
        failure.append(exc)
        raise


class ReplayableSource:
    """A one-pass chunk iterator that can resume at any later offset, and at an earlier one
    while its bytes are still among the last `keep` bytes sent: the receiver confirms whole
    segments, so what was in flight when a stream broke is sent again from here."""

    def __init__(self, chunks: Iterable[bytes], *, keep: int = 32 << 20) -> None:
        self._source = iter(chunks)
        self._kept: deque[tuple[int, bytes]] = deque()
        self._kept_bytes = 0
        self._keep = keep
        self._end = 0  # bytes taken from the source so far
        self._next = 0  # offset of the next byte to hand out

    def seek(self, offset: int) -> None:
        oldest = self._kept[0][0] if self._kept else self._end
        if offset < oldest:
            raise PeerUnavailable(
                f"the receiver confirmed offset {offset}, older than the {self._keep} bytes kept "
                "for resending; forward the case again to restart from that offset"
            )
        self._next = offset

    def chunks(self) -> Iterator[tuple[int, bytes]]:
        for start, data in list(self._kept):
            if start + len(data) > self._next:
                cut = self._next - start
                piece = data[cut:] if cut > 0 else data
                yield self._next, piece
                self._next += len(piece)
        while True:
            data = next(self._source, None)
            if data is None:
                return
            for at in range(0, len(data), PUSH_CHUNK):
                piece = data[at:at + PUSH_CHUNK]
                start = self._end
                self._end += len(piece)
                self._remember(start, piece)
                if self._end <= self._next:
                    continue  # before the resume point: the receiver has it
                cut = max(0, self._next - start)
                yield self._next, piece[cut:]
                self._next = self._end

    def _remember(self, start: int, piece: bytes) -> None:
        self._kept.append((start, piece))
        self._kept_bytes += len(piece)
        while self._kept_bytes - len(self._kept[0][1]) >= self._keep:
            self._kept_bytes -= len(self._kept.popleft()[1])


def coalesced(chunks: Iterable[bytes], *, size: int) -> Iterator[bytes]:
    """The same bytes in pieces of `size` (the last one shorter): fewer, larger gRPC messages
    cost less per byte than many small ones. Pieces already of that size pass uncopied."""
    pending = bytearray()
    for chunk in chunks:
        if not pending and len(chunk) == size:
            yield chunk
            continue
        pending += chunk
        while len(pending) >= size:
            yield take_front(pending, size)
    if pending:
        yield bytes(pending)
