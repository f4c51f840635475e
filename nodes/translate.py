"""Translation between protobuf messages and the domain's plain data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from exchange.case import Case
from exchange.catalog import Catalog, Matter
from exchange.errors import NotFound
from exchange.people import mask_id
from exchange.monitoring import Report
from exchange.errors import InvalidRequest
from tongban_pb import window_pb2
from exchange.ports import VerificationOutcome
from tongban_pb import common_pb2

CHUNK_SIZE = 1 << 20


def material_to_pb(m: dict[str, Any]) -> common_pb2.MaterialRef:
    return common_pb2.MaterialRef(
        kind=m["kind"], file_name=m["file_name"], media_type=m["media_type"],
        size=int(m["size"]), sha256=m["sha256"],
    )


def material_from_pb(m: common_pb2.MaterialRef) -> dict[str, Any]:
    return {
        "kind": m.kind, "file_name": m.file_name, "media_type": m.media_type,
        "size": int(m.size), "sha256": m.sha256,
    }


def put_identity_and_agent(msg: Any, source: Mapping[str, Any]) -> None:
    """身份核验 and 代办, when `source` (a case envelope or a progress detail) carries them, onto a
    message with `identity` and `agent` fields (CaseEnvelope, ProgressNotice)."""
    identity = source.get("identity")
    if identity:
        msg.identity.CopyFrom(common_pb2.IdentityCheck(method=identity["method"], verified=bool(identity["verified"])))
    agent = source.get("agent")
    if agent:
        msg.agent.CopyFrom(common_pb2.Agent(name=agent["name"], id_number=agent["id_number"],
                                            relationship=agent.get("relationship", "")))


def case_to_pb(case: Case) -> common_pb2.CaseView:
    return common_pb2.CaseView(
        case_number=case.case_number,
        matter_code=case.matter_code,
        mode=case.mode,
        status=case.status.value,
        origin_province=case.origin_province,
        competent_province=case.competent_province,
        competent_department=case.competent_department,
        materials=[material_to_pb(m) for m in case.materials],
        result_sha256=(case.result or {}).get("sha256", ""),
        version=case.version,
        progress=progress_to_pb(case),
    )


def listing_to_pb(case: Case, catalog: Catalog) -> window_pb2.CaseListing:
    try:
        matter_name = catalog.get(case.matter_code).name
    except NotFound:  # a matter since dropped from the catalog: the code still names it
        matter_name = case.matter_code
    return window_pb2.CaseListing(
        case=case_to_pb(case), matter_name=matter_name, applicant_name=case.applicant.get("name", ""),
        applicant_id_masked=mask_id(case.applicant.get("id_number", "")),
        updated_at=case.modified_on.isoformat(), print_refused=bool(case.refusals),
        printed_copies=sum(int(p.get("copies", 0)) for p in case.prints),
    )


def report_to_pb(outcome: VerificationOutcome) -> common_pb2.VerificationReport:
    s = outcome.summary()
    signer = s.get("signer") or {}
    return common_pb2.VerificationReport(
        verdict=str(s.get("verdict", outcome.verdict)),
        reason=str(s.get("reason") or ""),
        explanation_zh=outcome.explanation_zh,
        detail=str(s.get("detail", "")),
        document_sha256=str(s.get("document_sha256", "")),
        signer=common_pb2.SignerInfo(
            common_name=str(signer.get("common_name", "")),
            province_code=str(signer.get("province_code", "")),
            department_key=str(signer.get("department_key") or ""),
            fingerprint_sha256=str(signer.get("fingerprint_sha256", "")),
        ),
        signed_at=str(s.get("signed_at") or ""),
        checked_at=str(s.get("checked_at") or ""),
    )


def split_header(
    request_iterator: Iterator[common_pb2.MaterialChunk],
) -> tuple[common_pb2.MaterialHeader, Iterator[bytes]]:
    """The first message of a material stream is its header; the rest are data, in order."""
    first = next(request_iterator, None)
    if first is None or first.WhichOneof("part") != "header":
        raise InvalidRequest("header", "a material stream starts with its header message")

    def data() -> Iterator[bytes]:
        for chunk in request_iterator:
            if chunk.WhichOneof("part") != "data":
                raise InvalidRequest("data", "only one header per material stream")
            yield chunk.data

    return first.header, data()


def chunk_stream(header: common_pb2.MaterialHeader, chunks: Iterator[bytes]) -> Iterator[common_pb2.MaterialChunk]:
    yield common_pb2.MaterialChunk(header=header)
    for chunk in chunks:
        for start in range(0, len(chunk), CHUNK_SIZE):
            yield common_pb2.MaterialChunk(data=chunk[start:start + CHUNK_SIZE])


def progress_to_pb(case: Case) -> common_pb2.CaseProgress:
    limit = case.time_limit()
    due = limit.due_at if limit else None
    decision = case.decision or {}
    delivery = case.delivery or {}
    return common_pb2.CaseProgress(
        opened_at=case.opened_at,
        due_at=due.isoformat() if due else "",
        clock_paused=bool(limit and limit.paused),
        supplement_missing=case.supplements[-1]["missing"] if case.status.value == "supplement_requested" else [],
        decision=decision.get("outcome", ""),
        decision_reason=decision.get("reason", ""),
        legal_basis=decision.get("legal_basis", ""),
        delivery=delivery.get("how", ""),
        tracking_number=delivery.get("tracking_number", ""),
        rating=(case.evaluation or {}).get("rating", ""),
        partners=list(case.partners),
        tasks=[
            common_pb2.JointTask(province=p, department=t["department"], task=t["task"], status=t["status"],
                                 outcome=t.get("outcome", ""))
            for p, t in sorted(case.tasks.items())
        ],
        identity_method=str(case.identity.get("method", "")),
        agent_relationship=(case.agent or {}).get("relationship", ""),
    )


def matter_to_pb(matter: Matter, *, province: str) -> common_pb2.MatterInfo:
    return common_pb2.MatterInfo(
        code=matter.code, name=matter.name, scenario=matter.scenario, kind=matter.kind,
        lead_department=matter.lead_department, cooperating_departments=list(matter.cooperating_departments),
        modes=list(matter.modes),
        required_materials=[common_pb2.RequiredMaterialInfo(kind=m.kind, name=m.name) for m in matter.required_materials],
        time_limit_days=matter.time_limit_days, result_kind=matter.result_kind,
        lists=[common_pb2.MatterListing(list=l.list, batch=l.batch, seq=l.seq) for l in matter.lists],
        aliases=list(matter.aliases), time_limit_here=matter.time_limit_for(province),
    )


def monitor_to_pb(report: Report) -> common_pb2.MonitorReport:
    return common_pb2.MonitorReport(
        node=report.node, at=report.at.isoformat(), due_within_days=report.due_within_days,
        buckets=[
            common_pb2.MonitorBucket(
                matter_code=b.matter_code, partner_province=b.partner_province, open=b.open, overdue=b.overdue,
                due_soon=b.due_soon, paused=b.paused, overdue_cases=list(b.overdue_cases),
            )
            for b in report.buckets
        ],
        throughput=[
            common_pb2.MatterThroughput(
                matter_code=t.matter_code, decided=t.decided, approved=t.approved,
                rejected_or_returned=t.rejected_or_returned,
                median_handling_hours=t.median_handling_hours if t.median_handling_hours is not None else -1.0,
                within_time_limit=t.within_time_limit,
            )
            for t in report.throughput
        ],
        totals=dict(report.totals),
    )
