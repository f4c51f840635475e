"""gRPC servicers: thin translations between messages and the application services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc

from exchange.validation import moment as parse_moment
from exchange import parties, validation
from exchange.audit import timeline
from exchange.case import Actor, Case
from exchange.context import NodeContext
from exchange.department import DepartmentDesk
from exchange.envelopes import check_handed_case
from exchange.errors import InvalidRequest, TongbanError
from exchange.lookup import deadline_from_timeline, find_cases, statuses_from
from exchange.materials import TransferBusy
from exchange.monitoring import monitor
from exchange.window import WindowDesk
from nodes.interceptors import caller, peer_actor, sending_province
from nodes.peers import PUSH_CHUNK
from nodes.prefetch import read_ahead
from nodes.translate import (
    case_to_pb, listing_to_pb, material_from_pb, material_to_pb, matter_to_pb, monitor_to_pb, report_to_pb, split_header,
)
from tongban_pb import (
    audit_pb2, audit_pb2_grpc, common_pb2, department_pb2_grpc, peer_pb2, peer_pb2_grpc,
    window_pb2, window_pb2_grpc,
)


def current_actor(ctx: NodeContext) -> Actor:
    who = caller.get()
    return {
        "node": ctx.province_code,
        "department": who.department_key or "",
        "operator": who.operator_id or who.common_name,
    }


def identity_from_pb(identity: common_pb2.IdentityCheck) -> dict[str, Any]:
    return {"method": identity.method, "verified": identity.verified}


def agent_from_pb(request: Any) -> dict[str, str] | None:
    if not request.HasField("agent"):
        return None
    a = request.agent
    return {"name": a.name, "id_number": a.id_number, "relationship": a.relationship}


def run_monitor(ctx: NodeContext, request: Any) -> common_pb2.MonitorReport:
    since = parse_moment(request.since, field="since")
    report = monitor(
        ctx.ledger.index.monitored(), node=ctx.province_code, now=ctx.now(),
        due_within_days=request.due_within_days if request.HasField("due_within_days") else 3,
        since=since, matter_code=ctx.catalog.get(request.matter_code).code if request.matter_code else "",
        partner_province=request.partner_province,
    )
    return monitor_to_pb(report)


class WindowServicer(window_pb2_grpc.WindowServiceServicer):
    def __init__(self, ctx: NodeContext, *, witnesses: Any = None) -> None:
        self.ctx = ctx
        self.desk = WindowDesk(ctx)
        self.witnesses = witnesses  # partners' WitnessService, for the case history across provinces

    def _taken_in_here(self, case_number: str, what: str) -> str:
        """A window acts only on cases its own province took in (not on cases it decides for
        another province's window, nor on its part of another province's joint case)."""
        parties.require_origin(self.ctx.ledger.get_case(case_number), self.ctx.province_code, what=what)
        return case_number

    def UploadMaterial(self, request_iterator, context):  # type: ignore[no-untyped-def]
        return self._take_material(*split_header(request_iterator))

    def UploadWholeMaterial(self, request, context):  # type: ignore[no-untyped-def]
        if not request.HasField("header"):
            raise InvalidRequest("header", "a material sent in one message carries its header (kind, file name, "
                                           "media type) with its bytes")
        return self._take_material(request.header, iter([request.data]))

    def _take_material(self, header: common_pb2.MaterialHeader, data: Iterator[bytes]) -> common_pb2.MaterialRef:
        material = self.desk.take_material(
            data, kind=header.kind, file_name=header.file_name,
            media_type=header.media_type, declared_sha256=header.sha256 or None,
        )
        return material_to_pb(material)

    def SubmitApplication(self, request, context):  # type: ignore[no-untyped-def]
        case = self.desk.submit(
            matter_code=request.matter_code,
            competent_province=request.competent_province,
            applicant={"name": request.applicant.name, "id_number": request.applicant.id_number},
            materials=[material_from_pb(m) for m in request.materials],
            checklist=dict(request.checklist),
            identity=identity_from_pb(request.identity),
            agent=agent_from_pb(request),
            actor=current_actor(self.ctx),
            request_id=request.request_id,
        )
        return case_to_pb(case)

    def SubmitOnline(self, request, context):  # type: ignore[no-untyped-def]
        case = self.desk.submit_online(
            matter_code=request.matter_code,
            applicant={"name": request.applicant.name, "id_number": request.applicant.id_number},
            materials=[material_from_pb(m) for m in request.materials],
            identity=identity_from_pb(request.identity),
            agent=agent_from_pb(request),
            actor=current_actor(self.ctx),
        )
        return case_to_pb(case)

    def SubmitJoint(self, request, context):  # type: ignore[no-untyped-def]
        case = self.desk.submit_joint(
            matter_code=request.matter_code,
            partner_provinces=list(request.partner_provinces),
            applicant={"name": request.applicant.name, "id_number": request.applicant.id_number},
            materials=[material_from_pb(m) for m in request.materials],
            checklist=dict(request.checklist),
            identity=identity_from_pb(request.identity),
            agent=agent_from_pb(request),
            actor=current_actor(self.ctx),
        )
        return case_to_pb(case)

    def GetCase(self, request, context):  # type: ignore[no-untyped-def]
        return case_to_pb(self.ctx.ledger.get_case(request.case_number))

    def SearchCatalog(self, request, context):  # type: ignore[no-untyped-def]
        found = self.ctx.catalog.search(request.text, limit=request.limit or 20)
        return common_pb2.CatalogResults(matters=[matter_to_pb(m, province=self.ctx.province_code) for m in found])

    def SupplementCase(self, request, context):  # type: ignore[no-untyped-def]
        number = self._taken_in_here(request.case_number, "take its 补正")
        case = self.desk.supplement(
            number, materials=[material_from_pb(m) for m in request.materials], actor=current_actor(self.ctx),
        )
        return case_to_pb(case)

    def WithdrawCase(self, request, context):  # type: ignore[no-untyped-def]
        number = self._taken_in_here(request.case_number, "withdraw it")
        return case_to_pb(self.desk.withdraw(number, reason=request.reason, actor=current_actor(self.ctx)))

    def VerifyResult(self, request, context):  # type: ignore[no-untyped-def]
        number = self._taken_in_here(request.case_number, "verify its result")
        _, outcome, _ = self.desk.record_verification(number, actor=current_actor(self.ctx))
        return report_to_pb(outcome)

    def MailResult(self, request, context):  # type: ignore[no-untyped-def]
        number = self._taken_in_here(request.case_number, "mail its result")
        case = self.desk.mail_result(
            number, carrier=request.carrier, tracking_number=request.tracking_number,
            address=request.address, actor=current_actor(self.ctx),
        )
        return case_to_pb(case)

    def DeliverOnline(self, request, context):  # type: ignore[no-untyped-def]
        number = self._taken_in_here(request.case_number, "deliver its result")
        case = self.desk.deliver_online(number, channel=request.channel or "online", actor=current_actor(self.ctx))
        return case_to_pb(case)

    def EvaluateCase(self, request, context):  # type: ignore[no-untyped-def]
        number = self._taken_in_here(request.case_number, "record its evaluation")
        case = self.desk.evaluate(number, rating=request.rating, comment=request.comment, actor=current_actor(self.ctx))
        return case_to_pb(case)

    def CloseCase(self, request, context):  # type: ignore[no-untyped-def]
        number = self._taken_in_here(request.case_number, "close it")
        return case_to_pb(self.desk.close(number, actor=current_actor(self.ctx)))

    def Monitor(self, request, context):  # type: ignore[no-untyped-def]
        return run_monitor(self.ctx, request)

    def PrintResult(self, request, context):  # type: ignore[no-untyped-def]
        case, outcome, spool_ref = self.desk.print_result(  # the desk checks the case was taken in here
            request.case_number, copies=request.copies or 1, actor=current_actor(self.ctx), reprint_reason=request.reprint_reason,
        )
        return window_pb2.PrintReceipt(case=case_to_pb(case), report=report_to_pb(outcome), spool_ref=spool_ref)

    def ListCases(self, request, context):  # type: ignore[no-untyped-def]
        ledger = self.ctx.ledger
        cases = [ledger.get_case(request.case_number)] if request.case_number else ledger.index.summaries()
        # A window lists the cases its own province took in, not those it decides for others.
        here = (c for c in cases if c.origin_province == self.ctx.province_code)
        found = find_cases(
            here, statuses=statuses_from(request.statuses),
            applicant_id_number=request.applicant_id_number, only_awaiting_print=request.awaiting_print,
            limit=request.limit or 50,
        )
        listed = [c if isinstance(c, Case) else ledger.get_case(c.case_number) for c in found]
        return window_pb2.CaseList(cases=[listing_to_pb(c, self.ctx.catalog) for c in listed])

    def CaseHistory(self, request, context):  # type: ignore[no-untyped-def]
        from nodes.audit import federated_case_log
        from nodes.witness import log_entry_to_pb

        case = self.ctx.ledger.get_case(self._taken_in_here(request.case_number, "read its history"))
        if self.witnesses is None:
            raise TongbanError("this node was started without its partners' witness service")
        entries, nodes, unreachable = federated_case_log(self.ctx, self.witnesses, request.case_number)
        deadline = deadline_from_timeline(entries, competent_province=case.competent_province)
        return window_pb2.CaseHistoryReply(
            listing=listing_to_pb(case, self.ctx.catalog), entries=[log_entry_to_pb(e) for e in entries],
            nodes=nodes, unreachable=unreachable,
            due_at=deadline.due_at.isoformat() if deadline.due_at else "",
            clock_paused=deadline.paused, clock_stopped=deadline.stopped,
        )

    def GetResultDocument(self, request, context):  # type: ignore[no-untyped-def]
        case, outcome, pdf = self.desk.result_document(
            self._taken_in_here(request.case_number, "read its result"), actor=current_actor(self.ctx))
        return window_pb2.ResultDocument(report=report_to_pb(outcome), pdf=pdf or b"",
                                         file_name=f"{case.case_number}.pdf" if pdf else "")


class DepartmentServicer(department_pb2_grpc.DepartmentServiceServicer):
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.desk = DepartmentDesk(ctx)

    def GetCase(self, request, context):  # type: ignore[no-untyped-def]
        return case_to_pb(self.ctx.ledger.get_case(request.case_number))

    def AcceptCase(self, request, context):  # type: ignore[no-untyped-def]
        return case_to_pb(self.desk.accept(request.case_number, actor=current_actor(self.ctx)))

    def ApproveCase(self, request, context):  # type: ignore[no-untyped-def]
        return case_to_pb(self.desk.approve(request.case_number, actor=current_actor(self.ctx)))

    def RequestSupplement(self, request, context):  # type: ignore[no-untyped-def]
        case = self.desk.request_supplement(
            request.case_number, missing=list(request.missing), note=request.note, actor=current_actor(self.ctx),
        )
        return case_to_pb(case)

    def RejectCase(self, request, context):  # type: ignore[no-untyped-def]
        case = self.desk.reject(
            request.case_number, legal_basis=request.legal_basis, reason=request.reason, actor=current_actor(self.ctx),
        )
        return case_to_pb(case)

    def ReturnCase(self, request, context):  # type: ignore[no-untyped-def]
        return case_to_pb(self.desk.return_case(request.case_number, reason=request.reason, actor=current_actor(self.ctx)))

    def CompletePart(self, request, context):  # type: ignore[no-untyped-def]
        case = self.desk.complete_part(
            request.case_number, outcome=request.outcome, note=request.note, actor=current_actor(self.ctx),
        )
        return case_to_pb(case)

    def Monitor(self, request, context):  # type: ignore[no-untyped-def]
        return run_monitor(self.ctx, request)


class PeerServicer(peer_pb2_grpc.PeerServiceServicer):
    """Calls from partner nodes. The sender's province is the one in its certificate; a
    message claiming another is refused."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.department = DepartmentDesk(ctx)
        self.window = WindowDesk(ctx)

    def PushMaterial(self, request_iterator, context):  # type: ignore[no-untyped-def]
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidRequest("header", "a material push starts with its PushHeader message")
        push, header = first.header, first.header.material
        sender = sending_province(header.from_province, context)
        validation.case_number(header.case_number, field="header.material.case_number")
        validation.sha256(header.sha256, field="header.material.sha256")
        # Who may send it is checked by the desk: the opening province at once, the case's parties
        # on the case it reads under the case's lock before anything is stored.

        def chunks() -> Iterator[tuple[int, bytes]]:
            for message in request_iterator:
                if message.WhichOneof("part") != "data":
                    raise InvalidRequest("header", "only one header per material push")
                yield message.data.offset, message.data.data

        # The next messages are taken off the wire in a thread of their own while the desk
        # hashes, seals and writes the ones before (nodes.prefetch says why). A few suffice;
        # more would only be lost, and sent again, when this node stops mid-stream. A material
        # of one message has nothing to overlap and is taken in this thread.
        ahead = read_ahead(chunks(), messages=-(-push.size // PUSH_CHUNK), depth=3, name=f"receive-{header.sha256[:12]}")
        try:
            sha = self.department.take_pushed_material(
                ahead, from_province=sender, case_number=header.case_number, sha256=header.sha256,
                media_type=header.media_type, kind=header.kind, file_name=header.file_name,
                size=push.size, offset=push.offset,
            )
        except TransferBusy as exc:  # ABORTED: the sender retries from the confirmed offset
            context.abort(grpc.StatusCode.ABORTED, str(exc))
        except grpc.RpcError:
            # The sender's stream was cut off (it stopped or lost the connection): not our fault
            # and nothing to log as one; the confirmed segments stay for its resume.
            context.abort(grpc.StatusCode.CANCELLED, "the material stream was cut off; resume from GetTransferOffset")
        finally:
            ahead.close()
        return common_pb2.MaterialRef(
            kind=header.kind, file_name=header.file_name, media_type=header.media_type, size=push.size, sha256=sha
        )

    def GetTransferOffset(self, request, context):  # type: ignore[no-untyped-def]
        sender = sending_province(request.from_province, context)
        parties.material_sender_check(self.ctx.ledger, case_number=request.case_number, sender=sender,
                                      here=self.ctx.province_code)
        offset, complete = self.department.pushed_material_offset(
            from_province=sender, case_number=request.case_number, sha256=request.sha256
        )
        return peer_pb2.TransferOffset(confirmed_offset=offset, complete=complete)

    def ForwardCase(self, request, context):  # type: ignore[no-untyped-def]
        sender = sending_province(request.from_province, context)
        # The opening province at once; a case already here is checked against it by the desk,
        # on the case it reads under the case's lock.
        parties.require_opened_by(request.case_number, sender, what="forward it")
        envelope: dict[str, Any] = {
            "case_number": request.case_number,
            "matter_code": request.matter_code,
            "mode": request.mode,
            "origin_province": request.origin_province,
            "competent_province": request.competent_province,
            "competent_department": request.competent_department,
            "applicant": {"name": request.applicant.name, "id_number": request.applicant.id_number},
            "materials": [material_from_pb(m) for m in request.materials],
            "checklist": dict(request.checklist),
            "identity": identity_from_pb(request.identity) if request.HasField("identity") else {},
            "agent": agent_from_pb(request),
        }
        check_handed_case(envelope, catalog=self.ctx.catalog, mode="proxy")
        actor = peer_actor(self.ctx.province_code, sender)
        case, already = self.department.take_forward(envelope, from_province=sender, actor=actor,
                                                     message_id=request.message_id,
                                                     carried={c.sha256: c.data for c in request.carried})
        return peer_pb2.Ack(case_number=case.case_number, status=case.status.value, already_applied=already)

    def DeliverResult(self, request, context):  # type: ignore[no-untyped-def]
        sender = sending_province(request.from_province, context)
        actor = peer_actor(self.ctx.province_code, sender)
        case, already = self.window.take_result(
            case_number=request.case_number, from_province=sender, pdf=request.pdf,
            issued_sha256=request.issued_sha256, actor=actor, message_id=request.message_id,
        )
        return peer_pb2.Ack(case_number=case.case_number, status=case.status.value, already_applied=already)

    def GetIssuedResult(self, request, context):  # type: ignore[no-untyped-def]
        sha = self.department.issued_to_origin(request.case_number, asking_province=caller.get().province_code)
        return peer_pb2.IssuedResult(case_number=request.case_number, sha256=sha or "")


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def CaseTimeline(self, request, context):  # type: ignore[no-untyped-def]
        entries = timeline(self.ctx.ledger, request.case_number)
        return audit_pb2.Timeline(
            case_number=request.case_number,
            node=self.ctx.province_code,
            entries=[
                audit_pb2.TimelineEntry(
                    version=e.version, event=e.event, recorded_at=e.recorded_at.isoformat(),
                    actor=common_pb2.Actor(**e.actor),
                    detail_json=json.dumps(e.detail, ensure_ascii=False, sort_keys=True),
                )
                for e in entries
            ],
        )
