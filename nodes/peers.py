"""Calls to partner nodes over mutual TLS; gRPC failures become domain errors."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from exchange.errors import InvalidRequest, PeerRefused, PeerUnavailable
from nodes.tls import secure_channel
from nodes.translate import chunk_stream, material_to_pb
from tongban_pb import common_pb2, peer_pb2, peer_pb2_grpc

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}


class GrpcPeerGateway:
    def __init__(
        self, *, province: str, peers: Mapping[str, str], credentials: grpc.ChannelCredentials,
        timeout: float = 30.0, stream_timeout: float = 3600.0,
    ) -> None:
        self.province = province
        self.peers = dict(peers)
        self.credentials = credentials
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self._stubs: dict[str, peer_pb2_grpc.PeerServiceStub] = {}
        self._channels: list[grpc.Channel] = []
        self._lock = threading.Lock()

    def _stub(self, province: str) -> peer_pb2_grpc.PeerServiceStub:
        with self._lock:
            if province not in self._stubs:
                address = self.peers.get(province)
                if address is None:
                    raise InvalidRequest(
                        "competent_province", f"this node has no peer address for province {province}"
                    )
                channel = secure_channel(address, self.credentials, province=province)
                self._channels.append(channel)
                self._stubs[province] = peer_pb2_grpc.PeerServiceStub(channel)
            return self._stubs[province]

    def _call(self, province: str, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            if code in _RETRYABLE:
                raise PeerUnavailable(
                    f"could not {what} at the node of {province} ({code.name}: {details}); "
                    "nothing was lost, try again when it is reachable"
                ) from None
            raise PeerRefused(f"the node of {province} refused to {what}: {code.name}: {details}") from None

    def push_material(
        self, province: str, *, case_number: str, material: Mapping[str, Any], chunks: Iterable[bytes]
    ) -> None:
        header = common_pb2.MaterialHeader(
            kind=material["kind"], file_name=material["file_name"], media_type=material["media_type"],
            sha256=material["sha256"], case_number=case_number, from_province=self.province,
        )
        stub = self._stub(province)
        self._call(
            province, f"receive material {material['file_name']}", stub.PushMaterial,
            chunk_stream(header, iter(chunks)), timeout=self.stream_timeout,
        )

    def forward_case(self, province: str, *, envelope: Mapping[str, Any]) -> None:
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
        )
        stub = self._stub(province)
        self._call(province, f"take case {envelope['case_number']}", stub.ForwardCase, msg, timeout=self.timeout)

    def deliver_result(self, province: str, *, case_number: str, pdf: bytes, issued_sha256: str) -> None:
        msg = peer_pb2.ResultEnvelope(
            case_number=case_number, from_province=self.province, pdf=pdf, issued_sha256=issued_sha256
        )
        stub = self._stub(province)
        self._call(province, f"receive the result of {case_number}", stub.DeliverResult, msg, timeout=self.timeout)

    def issued_result_sha256(self, province: str, *, case_number: str) -> str | None:
        stub = self._stub(province)
        reply = self._call(
            province, f"say what it issued for {case_number}", stub.GetIssuedResult,
            common_pb2.CaseRef(case_number=case_number), timeout=self.timeout,
        )
        return reply.sha256 or None

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
