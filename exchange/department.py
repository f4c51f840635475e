"""The competent department's side: receive a forwarded case, accept it, approve it,
issue the sealed result and send it back to the window that took the application in."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from exchange.case import Actor, Case
from exchange.context import CHINA_TIME, NodeContext
from exchange.errors import InvalidRequest, MaterialNotFound, NotAuthorised
from exchange.people import mask_id
from exchange.ports import CertificateRequest


class DepartmentDesk:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    # -- incoming from peers --------------------------------------------------------------

    def take_pushed_material(
        self, chunks: Iterable[bytes], *, from_province: str, case_number: str, sha256: str, media_type: str
    ) -> str:
        """Store a material streamed by the origin node; the store refuses it unless the bytes
        hash to the SHA-256 the sender declared."""
        if not case_number.startswith(from_province + "-"):
            raise NotAuthorised(f"{from_province} did not open case {case_number} and may not send its materials")
        stored = self.ctx.store.put_stream(
            chunks, media_type=media_type, metadata={"case": case_number}, expected_sha256=sha256
        )
        return stored.sha256

    def receive(self, envelope: Mapping[str, Any], *, from_province: str, actor: Actor) -> Case:
        ctx = self.ctx
        if envelope.get("origin_province") != from_province:
            raise NotAuthorised(f"{from_province} may only forward cases it took in itself")
        if envelope.get("competent_province") != ctx.province_code:
            raise InvalidRequest("competent_province", f"this node decides for {ctx.province_code} only")
        case_number = str(envelope["case_number"])
        matter = ctx.catalog.get(str(envelope["matter_code"]))
        if envelope.get("competent_department") != matter.lead_department:
            raise InvalidRequest("competent_department", f"{matter.name} is decided by {matter.lead_department}")
        with ctx.case_lock(case_number):
            if ctx.ledger.has_case(case_number):
                return ctx.ledger.get_case(case_number)  # a repeated forward changes nothing
            for m in envelope["materials"]:
                if ctx.store.stat(m["sha256"]) is None:
                    raise MaterialNotFound(
                        f"material {m['file_name']} ({m['sha256'][:12]}…) has not arrived; push it before forwarding"
                    )
            case = Case.receive(**{k: envelope[k] for k in _ENVELOPE_FIELDS}, actor=actor)
            ctx.save(case)
        return case

    def issued_sha256(self, case_number: str, *, asking_province: str) -> str | None:
        case = self.ctx.ledger.get_case(case_number)
        if asking_province not in {case.origin_province, case.competent_province}:
            raise NotAuthorised(f"{asking_province} is not a party to case {case_number}")
        return case.result["sha256"] if case.result else None

    # -- 受理, 核准, 签章, 回传 ---------------------------------------------------------------

    def accept(self, case_number: str, *, actor: Actor) -> Case:
        with self.ctx.case_lock(case_number):
            case = self._own_case(case_number)
            case.accept(actor=self._as_department(case, actor))
            self.ctx.save(case)
        return case

    def approve(self, case_number: str, *, actor: Actor) -> Case:
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = self._own_case(case_number)
            actor = self._as_department(case, actor)
            case.approve(actor=actor)
            ctx.save(case)
            self._issue(case, actor)
            self._deliver(case, actor)
        return case

    def _issue(self, case: Case, actor: Actor) -> None:
        ctx = self.ctx
        assert ctx.issuer is not None, "this node was started without a department sealer"
        matter = ctx.catalog.get(case.matter_code)
        code = secrets.token_hex(6).upper()
        pdf = ctx.issuer.issue(
            CertificateRequest(
                case_number=case.case_number,
                matter_code=matter.code,
                matter_name=matter.name,
                applicant_name=case.applicant["name"],
                applicant_id_masked=mask_id(case.applicant["id_number"]),
                province_code=case.competent_province,
                department_key=case.competent_department,
                department_name=ctx.department_name(case.competent_province, case.competent_department),
                issued_on=ctx.now().astimezone(CHINA_TIME).date(),
                verification_code=f"{code[:4]}-{code[4:8]}-{code[8:]}",
            )
        )
        stored = ctx.store.put_bytes(
            pdf, media_type="application/pdf", metadata={"case": case.case_number, "kind": "result"}
        )
        case.issue_result(sha256=stored.sha256, object_key=stored.key, verification_code=code, actor=actor)
        ctx.save(case)

    def _deliver(self, case: Case, actor: Actor) -> None:
        ctx = self.ctx
        assert case.result is not None
        pdf = ctx.store.read_bytes(case.result["sha256"])
        ctx.peers.deliver_result(
            case.origin_province, case_number=case.case_number, pdf=pdf, issued_sha256=case.result["sha256"]
        )
        case.deliver_result(to_province=case.origin_province, actor=actor)
        ctx.save(case)

    def _own_case(self, case_number: str) -> Case:
        case = self.ctx.ledger.get_case(case_number)
        if case.competent_province != self.ctx.province_code:
            raise NotAuthorised(f"case {case_number} is decided in {case.competent_province}, not here")
        return case

    def _as_department(self, case: Case, actor: Actor) -> Actor:
        return {**actor, "department": case.competent_department}


_ENVELOPE_FIELDS = (
    "case_number", "matter_code", "mode", "origin_province", "competent_province",
    "competent_department", "applicant", "materials", "checklist",
)
