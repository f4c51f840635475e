"""The auditor's gRPC service: replay, state at a moment, log verification, checkpoints and
inclusion proofs. Thin: the work is in exchange.audit, storage.logcheck and nodes.witness."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from exchange.validation import moment as parse_moment
from exchange.audit import case_log, merge_timelines, replay_log, state_at
from exchange.case import case_id
from exchange.errors import NotFound, PeerRefused, PeerUnavailable
from exchange.merkle import MerkleTree
from exchange.parties import parties_of
from nodes.servicers import AuditServicer
from nodes.witness import LogKeeper, log_entry_to_pb, trust_anchors
from signing.checkpoint import parse_json, verify_signed_checkpoint
from signing.errors import SigningError
from storage.logcheck import Anchor, LogReport, Problem, anchors_from, recorded_checkpoints, verify_log
from tongban_pb import audit_pb2, common_pb2

RESULT_ISSUED = "ResultIssued"


def verify_node_log(keeper: LogKeeper, *, ask_witnesses: bool, progress: Any = None) -> LogReport:
    """The whole log against its chain, its own signed checkpoints and what partners co-signed."""
    anchors = trust_anchors(keeper.federation)
    problems: list[Problem] = []
    found: list[Anchor] = []
    with keeper.open() as store:
        own = recorded_checkpoints(store, log=keeper.province)
        for signed in own:
            try:
                verify_signed_checkpoint(signed, anchors=anchors)
                found += anchors_from([signed], source="the node's")
            except SigningError as exc:
                problems.append(Problem("bad_signature", f"checkpoint of {signed.checkpoint.signed_at}: {exc}"))
        if ask_witnesses:
            for partner in sorted(keeper.witnesses.peers):
                try:
                    seen = keeper.witnesses.last_seen(partner, log=keeper.province)
                except (PeerUnavailable, PeerRefused) as exc:
                    problems.append(Problem("witness_unreachable", f"{partner}: {exc}"))
                    continue
                if seen is None:
                    continue
                try:
                    verify_signed_checkpoint(seen, anchors=anchors)
                except SigningError as exc:
                    problems.append(Problem("bad_signature", f"checkpoint held by witness {partner}: {exc}"))
                    continue
                found += anchors_from([seen], source=f"witness {partner}'s")
        report = verify_log(store, node=keeper.province, anchors=found, progress=progress)
    unreachable = [p for p in problems if p.kind == "witness_unreachable"]
    failing = [p for p in problems if p.kind != "witness_unreachable"]
    if failing or unreachable:
        return LogReport(node=report.node, entries=report.entries, events=report.events,
                         anchors_checked=report.anchors_checked,
                         problems=tuple(failing) + report.problems + tuple(unreachable),
                         more_problems=report.more_problems)
    return report


# Each hand-off recorded here, and what the partner's log must hold for the same case.
_HANDOFFS = {
    "Forwarded": ("Received", "forwarded the case"),
    "Received": ("Forwarded", "received the case"),
    "ResultDelivered": ("ResultReceived", "delivered the result"),
    "ResultReceived": ("ResultDelivered", "received the result"),
}


def check_handoffs(ctx: Any, keeper: LogKeeper) -> list[Problem]:
    """Ask the partner of every hand-off in this node's log whether its log tells the same story."""
    cases: dict[str, str] = {}  # case number -> partner province
    for entry in replay_log(ctx.ledger, node=keeper.province):
        if entry.event in _HANDOFFS and entry.case_number not in cases:
            state = ctx.ledger.get_case(entry.case_number)
            partner = state.competent_province if state.origin_province == keeper.province else state.origin_province
            cases[entry.case_number] = partner
    problems = []
    for number, partner in cases.items():
        mine = case_log(ctx.ledger, number, node=keeper.province)
        try:
            reply = keeper.witnesses.call(partner, "CaseEvents", common_pb2.CaseRef(case_number=number))
            theirs = {e.event: json.loads(e.detail_json or "{}") for e in reply.entries}
        except (PeerUnavailable, PeerRefused, NotFound) as exc:
            problems.append(Problem("handoff", f"case {number}: cannot ask {partner} ({exc})"))
            continue
        issued = {**{e.event: e.detail for e in mine}, **theirs}.get("ResultIssued", {}).get("sha256")
        for e in mine:
            if e.event not in _HANDOFFS:
                continue
            expected, what = _HANDOFFS[e.event]
            if expected not in theirs:
                problems.append(Problem("handoff", f"case {number}: this node {what} but the log of {partner} "
                                        f"has no {expected}", notification_id=e.notification_id))
            elif e.event == "ResultReceived" and e.detail.get("sha256") != issued:
                problems.append(Problem("handoff", f"case {number}: the result received is not the one "
                                        f"{partner} issued", notification_id=e.notification_id))
    return problems


def report_to_pb(report: LogReport) -> audit_pb2.LogVerification:
    return audit_pb2.LogVerification(
        verdict=report.verdict, node=report.node, entries=report.entries, events=report.events,
        checkpoints_checked=report.anchors_checked, rendered=report.render(),
        problems=[audit_pb2.LogProblem(kind=p.kind, detail=p.detail, position=p.position or 0,
                                       notification_id=p.notification_id or 0) for p in report.problems],
    )


def inclusion_proof(keeper: LogKeeper, case_number: str) -> dict[str, Any]:
    """The ResultIssued event of a case, its place in the log and the path to the tree head of
    a checkpoint that covers it (made and witnessed now if none does yet)."""
    with keeper.open() as store:
        rows = store.events_of(case_id(case_number).hex)
        if not rows:
            raise NotFound(f"no case {case_number} at this node")
        issued = [(row, pos) for row, pos in rows if row.topic.endswith(RESULT_ISSUED)]
        if not issued or issued[-1][1] is None:
            raise NotFound(f"this node issued no result for case {case_number}")
        row, position = issued[-1]
        assert position is not None
        covering = [c for c in recorded_checkpoints(store, log=keeper.province)
                    if c.checkpoint.size >= position and c.cosignatures]
    signed = covering[-1] if covering else keeper.make_checkpoint()[0]
    if signed.checkpoint.size < position:
        raise NotFound(f"no checkpoint covers entry {position} yet")
    with keeper.open() as store:
        tree = MerkleTree(store.leaf_hashes(signed.checkpoint.size))
    return {
        "case_number": case_number, "node": keeper.province, "notification_id": row.notification_id,
        "originator_id": row.originator_id, "version": row.version, "topic": row.topic, "state": row.state,
        "leaf_index": position - 1, "path": tree.inclusion_proof(position - 1),
        "checkpoint_json": signed.to_json(),
    }


def federated_case_log(ctx: Any, witnesses: Any, number: str) -> tuple[list[Any], list[str], list[str]]:
    """One case across every node that touched it: this node's side and what its partners
    answer for theirs (a partner that does not answer is named, not fatal)."""
    case = ctx.ledger.get_case(number)
    logs = [case_log(ctx.ledger, number, node=ctx.province_code)]
    nodes, unreachable = [ctx.province_code], []
    for partner in sorted(parties_of(case) - {ctx.province_code}):
        try:
            reply = witnesses.call(partner, "CaseEvents", common_pb2.CaseRef(case_number=number))
        except (PeerUnavailable, PeerRefused, NotFound) as exc:
            unreachable.append(f"{partner}: {exc}")
            continue
        nodes.append(partner)
        logs.append([_entry_from_pb(e) for e in reply.entries])
    return merge_timelines(*logs), nodes, unreachable


class LogAuditServicer(AuditServicer):
    def __init__(self, ctx: Any, keeper: LogKeeper) -> None:
        super().__init__(ctx)
        self.keeper = keeper

    def FederatedTimeline(self, request, context):  # type: ignore[no-untyped-def]
        number = request.case_number
        merged, nodes, unreachable = federated_case_log(self.ctx, self.keeper.witnesses, number)
        return audit_pb2.FederatedTimelineReply(
            case_number=number, nodes=nodes, entries=[log_entry_to_pb(e) for e in merged], unreachable=unreachable)

    def NodeLog(self, request, context):  # type: ignore[no-untyped-def]
        for entry in replay_log(self.ctx.ledger, node=self.ctx.province_code, after=request.after,
                                limit=request.limit or None):
            yield log_entry_to_pb(entry)

    def CaseStateAt(self, request, context):  # type: ignore[no-untyped-def]
        moment = parse_moment(request.moment, field="moment")
        state = state_at(self.ctx.ledger, request.case_number, version=request.version or None, moment=moment)
        return audit_pb2.CaseState(case_number=state.case_number, version=state.version,
                                   as_of=state.as_of.isoformat(),
                                   state_json=json.dumps(state.fields, ensure_ascii=False, sort_keys=True))

    def VerifyLog(self, request, context):  # type: ignore[no-untyped-def]
        report = verify_node_log(self.keeper, ask_witnesses=request.ask_witnesses)
        if request.check_handoffs:
            handoffs = check_handoffs(self.ctx, self.keeper)
            report = LogReport(node=report.node, entries=report.entries, events=report.events,
                               anchors_checked=report.anchors_checked, problems=report.problems + tuple(handoffs),
                               more_problems=report.more_problems)
        return report_to_pb(report)

    def MakeCheckpoint(self, request, context):  # type: ignore[no-untyped-def]
        signed, witnessed, refused = self.keeper.make_checkpoint()
        return audit_pb2.CheckpointReply(checkpoint_json=signed.to_json(), witnessed_by=witnessed, refused=refused)

    def ResultInclusionProof(self, request, context):  # type: ignore[no-untyped-def]
        return audit_pb2.InclusionProof(**inclusion_proof(self.keeper, request.case_number))

    def Refusals(self, request, context):  # type: ignore[no-untyped-def]
        from exchange.validation import moment
        from nodes.refusals import RefusalLog, since_utc

        found = RefusalLog(open_store=self.keeper.open).list(
            province=request.province or None, since=since_utc(moment(request.since, field="since")),
            limit=request.limit or None)
        return audit_pb2.RefusalList(node=self.ctx.province_code,
                                     refusals=[audit_pb2.RefusalRecord(**vars(r)) for r in found])

    def EvidenceBundle(self, request, context):  # type: ignore[no-untyped-def]
        from nodes.evidence import assemble_bundle, case_side
        from nodes.witness import now_iso

        number = request.case_number
        case = self.ctx.ledger.get_case(number)
        sides = [case_side(self.keeper, number, mapper=self.ctx.ledger.mapper)]
        for partner in sorted({case.origin_province, case.competent_province} - {self.ctx.province_code}):
            reply = self.keeper.witnesses.call(partner, "CaseEvidence", common_pb2.CaseRef(case_number=number))
            sides.append(_partner_side(partner, reply.side_json))
        pdf, report = None, None
        if case.result and self.ctx.store.stat(case.result["sha256"]) is not None:
            pdf = self.ctx.store.read_bytes(case.result["sha256"])
            if self.ctx.verifier is not None:
                report = self.ctx.verifier.verify(
                    pdf, competent_province=case.competent_province,
                    competent_department=case.competent_department, issued_sha256=case.result["sha256"],
                ).summary()
        bundle = assemble_bundle(case_number=number, sides=sides, pdf=pdf, report=report,
                                 assembled_by=self.ctx.province_code, assembled_at=now_iso())
        return audit_pb2.EvidenceBundleReply(bundle_json=json.dumps(bundle, ensure_ascii=False, default=str))


def _partner_side(partner: str, side_json: str) -> Any:
    """A partner's side as it sent it (the bundle's verifier checks it); what is not JSON at all
    is the partner's fault, not an internal error of this node."""
    try:
        return parse_json(side_json, what="case evidence")
    except (SigningError, ValueError) as exc:
        raise PeerRefused(f"the node of {partner} sent case evidence that is not a JSON document ({exc}); "
                          "no bundle was assembled; ask that node's operator") from None


def _entry_from_pb(e: audit_pb2.LogEntry) -> Any:
    from exchange.audit import LogEntry

    return LogEntry(node=e.node, notification_id=e.notification_id, case_number=e.case_number,
                    version=e.version, event=e.event, recorded_at=datetime.fromisoformat(e.recorded_at),
                    actor={"node": e.actor.node, "department": e.actor.department, "operator": e.actor.operator},
                    detail=json.loads(e.detail_json or "{}"))


__all__ = ["LogAuditServicer", "federated_case_log", "inclusion_proof", "verify_node_log"]
