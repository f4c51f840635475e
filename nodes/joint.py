"""Node-to-node coordination (joint.proto): 多地联办 tasks and the progress notices both ends
of a proxy case record. The servicer is thin; the gateway turns gRPC failures into domain errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

from exchange import parties
from exchange.context import NodeContext
from exchange.department import DepartmentDesk
from exchange.envelopes import check_handed_case, check_identity_notice
from exchange.errors import InvalidRequest
from exchange.window import WindowDesk
from nodes.interceptors import peer_actor, sending_province
from nodes.peers import partner_error
from nodes.tls import PartnerStubs
from nodes.translate import material_from_pb, material_to_pb, put_identity_and_agent
from tongban_pb import common_pb2, joint_pb2, joint_pb2_grpc

_TO_ORIGIN = {"supplement_requested", "rejected", "returned"}
_TO_COMPETENT = {"identified", "supplemented", "withdrawn"}


class CoordinationServicer(joint_pb2_grpc.CoordinationServiceServicer):
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.department = DepartmentDesk(ctx)
        self.window = WindowDesk(ctx)

    def _actor(self, sender: str) -> dict[str, str]:
        return peer_actor(self.ctx.province_code, sender)

    def AssignTask(self, request, context):  # type: ignore[no-untyped-def]
        sender = sending_province(request.from_province, context)
        parties.task_assignment_check(self.ctx.ledger, case_number=request.case_number, sender=sender)
        envelope: dict[str, Any] = {
            "case_number": request.case_number, "matter_code": request.matter_code, "mode": "joint",
            "origin_province": sender, "competent_province": sender,
            "competent_department": request.competent_department,
            "applicant": {"name": request.applicant.name, "id_number": request.applicant.id_number},
            "materials": [material_from_pb(m) for m in request.materials],
            "checklist": dict(request.checklist), "partners": list(request.partners),
            "identity": {"method": request.identity_method, "verified": bool(request.identity_method)},
        }
        check_handed_case(envelope, catalog=self.ctx.catalog, mode="joint")
        already = self.ctx.already_applied(request.message_id, case_number=envelope["case_number"])
        case = self.department.receive_task(
            envelope, from_province=sender, department=request.department, task=request.task,
            actor=self._actor(sender), message_id=request.message_id,
        )
        return joint_pb2.CoordinationAck(case_number=case.case_number, status=case.status.value, already_applied=already)

    def ReportTask(self, request, context):  # type: ignore[no-untyped-def]
        sender = sending_province(request.from_province, context)
        parties.require_partner(parties.case_of_party(self.ctx.ledger, request.case_number, sender), sender,
                                what="report a part of it")
        already = self.ctx.already_applied(request.message_id, case_number=request.case_number)
        case = self.department.record_task_report(
            case_number=request.case_number, from_province=sender, outcome=request.outcome,
            note=request.note, actor=self._actor(sender), message_id=request.message_id,
        )
        return joint_pb2.CoordinationAck(case_number=case.case_number, status=case.status.value, already_applied=already)

    def NotifyProgress(self, request, context):  # type: ignore[no-untyped-def]
        sender = sending_province(request.from_province, context)
        number = request.case_number
        if request.step == "withdrawn" and parties.opened_by(number) == sender and self.ctx.ledger.find_case(number) is None:
            # Its forward may still be on its way: barred here, it can never open the case.
            self.department.withdrawn_before_arrival(number, from_province=sender)  # NotFound, unless it arrived
        parties.case_of_party(self.ctx.ledger, number, sender)
        detail = {
            "missing": list(request.missing), "note": request.note, "legal_basis": request.legal_basis,
            "reason": request.reason, "materials": [material_from_pb(m) for m in request.materials],
            "at": request.at,
            "identity": {"method": request.identity.method, "verified": request.identity.verified},
            "agent": ({"name": request.agent.name, "id_number": request.agent.id_number,
                       "relationship": request.agent.relationship} if request.HasField("agent") else None),
        }
        if request.step == "identified":
            check_identity_notice(detail)
        already = self.ctx.already_applied(request.message_id, case_number=request.case_number)
        if request.step in _TO_ORIGIN:
            case = self.window.record_progress(
                case_number=request.case_number, from_province=sender, step=request.step, detail=detail,
                actor=self._actor(sender), message_id=request.message_id,
            )
        elif request.step in _TO_COMPETENT:
            case = self.department.record_applicant_step(
                case_number=request.case_number, from_province=sender, step=request.step, detail=detail,
                actor=self._actor(sender), message_id=request.message_id,
            )
        else:
            raise InvalidRequest("step", f"unknown step {request.step!r}")
        return joint_pb2.CoordinationAck(case_number=case.case_number, status=case.status.value, already_applied=already)


class GrpcCoordinationGateway:
    """Implements exchange.ports.CoordinationGateway over the partner nodes' CoordinationService."""

    def __init__(
        self, *, province: str, peers: Mapping[str, str], credentials: grpc.ChannelCredentials, timeout: float = 30.0,
    ) -> None:
        self.province = province
        self.peers = dict(peers)
        self.credentials = credentials
        self.timeout = timeout
        self._partners = PartnerStubs(peers=peers, credentials=credentials, stub_class=joint_pb2_grpc.CoordinationServiceStub,
                                      missing=lambda p: InvalidRequest("province", f"this node has no peer address for province {p}"))

    def _stub(self, province: str) -> joint_pb2_grpc.CoordinationServiceStub:
        return self._partners.get(province)

    def _call(self, province: str, what: str, method: str, message: Any) -> Any:
        try:
            return getattr(self._stub(province), method)(message, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise partner_error(province, what, exc) from None

    def assign_task(
        self, province: str, *, envelope: Mapping[str, Any], department: str, task: str, message_id: str = "",
    ) -> bool:
        msg = joint_pb2.TaskAssignment(
            from_province=self.province, case_number=envelope["case_number"], matter_code=envelope["matter_code"],
            department=department, task=task, applicant=common_pb2.Applicant(**envelope["applicant"]),
            materials=[material_to_pb(m) for m in envelope["materials"]], checklist=envelope["checklist"],
            partners=envelope["partners"], competent_department=envelope["competent_department"],
            identity_method=str((envelope.get("identity") or {}).get("method", "")), message_id=message_id,
        )
        return bool(self._call(province, f"take its part of case {envelope['case_number']}", "AssignTask", msg)
                    .already_applied)

    def report_task(
        self, province: str, *, case_number: str, outcome: str, note: str, message_id: str = "",
    ) -> bool:
        msg = joint_pb2.TaskReport(from_province=self.province, case_number=case_number, outcome=outcome, note=note,
                                   message_id=message_id)
        return bool(self._call(province, f"record our part of case {case_number}", "ReportTask", msg).already_applied)

    def notify_progress(
        self, province: str, *, case_number: str, step: str, detail: Mapping[str, Any], message_id: str = "",
    ) -> bool:
        msg = joint_pb2.ProgressNotice(
            from_province=self.province, case_number=case_number, step=step, message_id=message_id,
            missing=list(detail.get("missing", [])), note=str(detail.get("note", "")),
            legal_basis=str(detail.get("legal_basis", "")), reason=str(detail.get("reason", "")),
            materials=[material_to_pb(m) for m in detail.get("materials", [])], at=str(detail.get("at", "")),
        )
        put_identity_and_agent(msg, detail)
        return bool(self._call(province, f"record {step} of case {case_number}", "NotifyProgress", msg).already_applied)

    def close(self) -> None:
        self._partners.close()
