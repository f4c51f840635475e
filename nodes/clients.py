"""Clients for people at a node: a window clerk, a department officer, an auditor."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import grpc

from nodes.tls import channel_credentials, secure_channel
from nodes.translate import CHUNK_SIZE, chunk_stream
from signing.pki import Federation
from tongban_pb import (
    audit_pb2_grpc, common_pb2, department_pb2, department_pb2_grpc, window_pb2, window_pb2_grpc,
)


def operator_channel(federation: Federation, *, province: str, operator_id: str, address: str) -> grpc.Channel:
    cert, key = federation.operator_tls(province, operator_id)
    creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=province)
    return secure_channel(address, creds, province=province)


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk


class WindowClient:
    def __init__(self, channel: grpc.Channel, *, timeout: float = 60.0) -> None:
        self.stub = window_pb2_grpc.WindowServiceStub(channel)
        self.timeout = timeout

    def upload(self, chunks: Iterable[bytes], *, kind: str, file_name: str, media_type: str) -> common_pb2.MaterialRef:
        header = common_pb2.MaterialHeader(kind=kind, file_name=file_name, media_type=media_type)
        return self.stub.UploadMaterial(chunk_stream(header, iter(chunks)), timeout=self.timeout)

    def submit(
        self, *, matter_code: str, competent_province: str, applicant_name: str, applicant_id: str,
        materials: list[common_pb2.MaterialRef], checklist: Mapping[str, bool],
    ) -> common_pb2.CaseView:
        return self.stub.SubmitApplication(
            window_pb2.SubmitApplicationRequest(
                matter_code=matter_code,
                competent_province=competent_province,
                applicant=common_pb2.Applicant(name=applicant_name, id_number=applicant_id),
                materials=materials,
                checklist=dict(checklist),
            ),
            timeout=self.timeout,
        )

    def get_case(self, case_number: str) -> common_pb2.CaseView:
        return self.stub.GetCase(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)

    def verify(self, case_number: str) -> common_pb2.VerificationReport:
        return self.stub.VerifyResult(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)

    def print(self, case_number: str, *, copies: int = 1) -> window_pb2.PrintReceipt:
        return self.stub.PrintResult(window_pb2.PrintRequest(case_number=case_number, copies=copies), timeout=self.timeout)


class OfficerClient:
    def __init__(self, channel: grpc.Channel, *, timeout: float = 60.0) -> None:
        self.stub = department_pb2_grpc.DepartmentServiceStub(channel)
        self.timeout = timeout

    def accept(self, case_number: str) -> common_pb2.CaseView:
        return self.stub.AcceptCase(department_pb2.DecisionRequest(case_number=case_number), timeout=self.timeout)

    def approve(self, case_number: str) -> common_pb2.CaseView:
        return self.stub.ApproveCase(department_pb2.DecisionRequest(case_number=case_number), timeout=self.timeout)


class AuditorClient:
    def __init__(self, channel: grpc.Channel, *, timeout: float = 60.0) -> None:
        self.stub = audit_pb2_grpc.AuditServiceStub(channel)
        self.timeout = timeout

    def timeline(self, case_number: str):  # type: ignore[no-untyped-def]
        return self.stub.CaseTimeline(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)
