"""Clients for people at a node: a window clerk, a department officer, an auditor."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import grpc

from nodes.tls import channel_credentials, secure_channel
from nodes.translate import CHUNK_SIZE, chunk_stream
from signing.pki import Federation
from tongban_pb import (
    audit_pb2, audit_pb2_grpc, common_pb2, department_pb2, department_pb2_grpc, window_pb2, window_pb2_grpc,
)


def operator_channel(federation: Federation, *, province: str, operator_id: str, address: str) -> grpc.Channel:
    cert, key = federation.operator_tls(province, operator_id)
    creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=province)
    return secure_channel(address, creds, province=province)


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk


# A scan of up to a megabyte, most of them, goes in one call: a stream costs the window more
# than such a material's bytes do.
WHOLE_UPLOAD = CHUNK_SIZE


class WindowClient:
    def __init__(self, channel: grpc.Channel, *, timeout: float = 60.0) -> None:
        self.stub = window_pb2_grpc.WindowServiceStub(channel)
        self.timeout = timeout
        self._streams_only = False  # the window node answered UNIMPLEMENTED to a one-call upload

    def upload(self, chunks: Iterable[bytes], *, kind: str, file_name: str, media_type: str) -> common_pb2.MaterialRef:
        """A material of up to one message (`WHOLE_UPLOAD` bytes) in one call, a larger one streamed."""
        header = common_pb2.MaterialHeader(kind=kind, file_name=file_name, media_type=media_type)
        chunks = iter(chunks)
        held: list[bytes] = []
        size = 0
        for chunk in chunks:
            held.append(chunk)
            size += len(chunk)
            if size > WHOLE_UPLOAD or self._streams_only:
                return self._stream(header, itertools.chain(held, chunks))
        data = b"".join(held)
        try:
            return self.stub.UploadWholeMaterial(window_pb2.WholeMaterial(header=header, data=data),
                                                 timeout=self.timeout)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                raise
            # A window node older than one-call uploads: streamed, as any larger material is,
            # from now on.
            self._streams_only = True
            return self._stream(header, iter([data]))

    def _stream(self, header: common_pb2.MaterialHeader, chunks: Iterator[bytes]) -> common_pb2.MaterialRef:
        return self.stub.UploadMaterial(chunk_stream(header, chunks), timeout=self.timeout)

    def submit(
        self, *, matter_code: str, competent_province: str, applicant_name: str, applicant_id: str,
        materials: list[common_pb2.MaterialRef], checklist: Mapping[str, bool],
        identity_method: str = "id_card_reader", identity_verified: bool = True,
        agent: common_pb2.Agent | None = None, request_id: str = "",
    ) -> common_pb2.CaseView:
        """异地代收代办. The clerk's console reads the ID card (身份核验) before it submits;
        pass identity_verified=False if the check did not pass. A `request_id` makes a repeated
        submission (the answer was lost) return the case the first one opened."""
        return self.stub.SubmitApplication(
            window_pb2.SubmitApplicationRequest(
                matter_code=matter_code,
                competent_province=competent_province,
                applicant=common_pb2.Applicant(name=applicant_name, id_number=applicant_id),
                materials=materials,
                checklist=dict(checklist),
                identity=common_pb2.IdentityCheck(method=identity_method, verified=identity_verified),
                agent=agent, request_id=request_id,
            ),
            timeout=self.timeout,
        )

    def submit_online(
        self, *, matter_code: str, applicant_name: str, applicant_id: str, materials: list[common_pb2.MaterialRef],
        identity_method: str = "online_real_name", identity_verified: bool = True,
    ) -> common_pb2.CaseView:
        return self.stub.SubmitOnline(
            window_pb2.SubmitOnlineRequest(
                matter_code=matter_code, applicant=common_pb2.Applicant(name=applicant_name, id_number=applicant_id),
                materials=materials,
                identity=common_pb2.IdentityCheck(method=identity_method, verified=identity_verified),
            ),
            timeout=self.timeout,
        )

    def submit_joint(
        self, *, matter_code: str, partner_provinces: list[str], applicant_name: str, applicant_id: str,
        materials: list[common_pb2.MaterialRef], checklist: Mapping[str, bool],
        identity_method: str = "id_card_reader", identity_verified: bool = True,
    ) -> common_pb2.CaseView:
        return self.stub.SubmitJoint(
            window_pb2.SubmitJointRequest(
                matter_code=matter_code, partner_provinces=partner_provinces,
                applicant=common_pb2.Applicant(name=applicant_name, id_number=applicant_id),
                materials=materials, checklist=dict(checklist),
                identity=common_pb2.IdentityCheck(method=identity_method, verified=identity_verified),
            ),
            timeout=self.timeout,
        )

    def search_catalog(self, text: str, *, limit: int = 20) -> common_pb2.CatalogResults:
        return self.stub.SearchCatalog(common_pb2.CatalogQuery(text=text, limit=limit), timeout=self.timeout)

    def supplement(self, case_number: str, materials: list[common_pb2.MaterialRef]) -> common_pb2.CaseView:
        return self.stub.SupplementCase(
            window_pb2.SupplementCaseRequest(case_number=case_number, materials=materials), timeout=self.timeout)

    def withdraw(self, case_number: str, *, reason: str) -> common_pb2.CaseView:
        return self.stub.WithdrawCase(window_pb2.WithdrawRequest(case_number=case_number, reason=reason), timeout=self.timeout)

    def mail(self, case_number: str, *, carrier: str, tracking_number: str, address: str) -> common_pb2.CaseView:
        return self.stub.MailResult(window_pb2.MailRequest(
            case_number=case_number, carrier=carrier, tracking_number=tracking_number, address=address,
        ), timeout=self.timeout)

    def deliver_online(self, case_number: str, *, channel: str) -> common_pb2.CaseView:
        return self.stub.DeliverOnline(
            window_pb2.DeliverOnlineRequest(case_number=case_number, channel=channel), timeout=self.timeout)

    def evaluate(self, case_number: str, *, rating: str, comment: str = "") -> common_pb2.CaseView:
        return self.stub.EvaluateCase(
            window_pb2.EvaluationRequest(case_number=case_number, rating=rating, comment=comment), timeout=self.timeout)

    def close(self, case_number: str) -> common_pb2.CaseView:
        return self.stub.CloseCase(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)

    def monitor(self, *, due_within_days: int = 3, matter_code: str = "", partner_province: str = "",
                since: str = "") -> common_pb2.MonitorReport:
        return self.stub.Monitor(common_pb2.MonitorRequest(
            due_within_days=due_within_days, matter_code=matter_code, partner_province=partner_province, since=since,
        ), timeout=self.timeout)

    def get_case(self, case_number: str) -> common_pb2.CaseView:
        return self.stub.GetCase(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)

    def verify(self, case_number: str) -> common_pb2.VerificationReport:
        return self.stub.VerifyResult(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)

    def print(self, case_number: str, *, copies: int = 1, reprint_reason: str = "") -> window_pb2.PrintReceipt:
        return self.stub.PrintResult(window_pb2.PrintRequest(
            case_number=case_number, copies=copies, reprint_reason=reprint_reason), timeout=self.timeout)

    def list_cases(self, *, statuses: list[str] | None = None, applicant_id_number: str = "", case_number: str = "",
                   awaiting_print: bool = False, limit: int = 50) -> window_pb2.CaseList:
        return self.stub.ListCases(window_pb2.CaseQuery(
            statuses=statuses or [], applicant_id_number=applicant_id_number, case_number=case_number,
            awaiting_print=awaiting_print, limit=limit), timeout=self.timeout)

    def history(self, case_number: str) -> window_pb2.CaseHistoryReply:
        return self.stub.CaseHistory(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)

    def result_document(self, case_number: str) -> window_pb2.ResultDocument:
        return self.stub.GetResultDocument(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)


class OfficerClient:
    def __init__(self, channel: grpc.Channel, *, timeout: float = 60.0) -> None:
        self.stub = department_pb2_grpc.DepartmentServiceStub(channel)
        self.timeout = timeout

    def accept(self, case_number: str) -> common_pb2.CaseView:
        return self.stub.AcceptCase(department_pb2.DecisionRequest(case_number=case_number), timeout=self.timeout)

    def approve(self, case_number: str) -> common_pb2.CaseView:
        return self.stub.ApproveCase(department_pb2.DecisionRequest(case_number=case_number), timeout=self.timeout)

    def get_case(self, case_number: str) -> common_pb2.CaseView:
        return self.stub.GetCase(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)

    def request_supplement(self, case_number: str, *, missing: list[str], note: str = "") -> common_pb2.CaseView:
        return self.stub.RequestSupplement(
            department_pb2.SupplementNotice(case_number=case_number, missing=missing, note=note), timeout=self.timeout)

    def reject(self, case_number: str, *, legal_basis: str, reason: str) -> common_pb2.CaseView:
        return self.stub.RejectCase(
            department_pb2.RejectRequest(case_number=case_number, legal_basis=legal_basis, reason=reason),
            timeout=self.timeout)

    def return_case(self, case_number: str, *, reason: str) -> common_pb2.CaseView:
        return self.stub.ReturnCase(department_pb2.ReturnRequest(case_number=case_number, reason=reason), timeout=self.timeout)

    def complete_part(self, case_number: str, *, outcome: str, note: str = "") -> common_pb2.CaseView:
        return self.stub.CompletePart(
            department_pb2.PartRequest(case_number=case_number, outcome=outcome, note=note), timeout=self.timeout)

    def monitor(self, *, due_within_days: int = 3, matter_code: str = "", partner_province: str = "",
                since: str = "") -> common_pb2.MonitorReport:
        return self.stub.Monitor(common_pb2.MonitorRequest(
            due_within_days=due_within_days, matter_code=matter_code, partner_province=partner_province, since=since,
        ), timeout=self.timeout)


class AuditorClient:
    def __init__(self, channel: grpc.Channel, *, timeout: float = 60.0) -> None:
        self.stub = audit_pb2_grpc.AuditServiceStub(channel)
        self.timeout = timeout

    def timeline(self, case_number: str):  # type: ignore[no-untyped-def]
        return self.stub.CaseTimeline(common_pb2.CaseRef(case_number=case_number), timeout=self.timeout)

    def refusals(self, *, province: str = "", since: str = "", limit: int = 0) -> audit_pb2.RefusalList:
        return self.stub.Refusals(audit_pb2.RefusalsRequest(province=province, since=since, limit=limit),
                                  timeout=self.timeout)
