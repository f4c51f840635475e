"""The origin window's side: take in an application, forward it, receive the result,
verify it and print it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from collections.abc import Iterable, Mapping
from typing import Any

from exchange.case import Actor, Case, Material
from exchange.context import CHINA_TIME, NodeContext
from exchange.errors import InvalidRequest, MaterialIntegrityError, MaterialNotFound, PrintRefused
from exchange.materials import check_file_name, check_media_type, guarded_chunks
from exchange.people import check_resident_id
from exchange.ports import VerificationOutcome


class WindowDesk:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    # -- 收件 -----------------------------------------------------------------------------

    def take_material(
        self,
        chunks: Iterable[bytes],
        *,
        kind: str,
        file_name: str,
        media_type: str,
        declared_sha256: str | None = None,
    ) -> Material:
        if not kind:
            raise InvalidRequest("kind", "say which material this is (e.g. id_card)")
        check_file_name(file_name)
        check_media_type(media_type)
        stored = self.ctx.store.put_stream(
            guarded_chunks(chunks, media_type=media_type, max_bytes=self.ctx.max_material_bytes),
            media_type=media_type,
            metadata={"kind": kind, "file_name": file_name},
            expected_sha256=declared_sha256 or None,
        )
        return {
            "kind": kind,
            "file_name": file_name,
            "media_type": media_type,
            "size": stored.size,
            "sha256": stored.sha256,
        }

    def submit(
        self,
        *,
        matter_code: str,
        competent_province: str,
        applicant: Mapping[str, str],
        materials: list[Material],
        checklist: Mapping[str, bool],
        actor: Actor,
    ) -> Case:
        ctx = self.ctx
        matter = ctx.catalog.get(matter_code)
        if "proxy" not in matter.modes:
            raise InvalidRequest("matter_code", f"{matter.name} cannot be taken in at a window of another province")
        if competent_province == ctx.province_code:
            raise InvalidRequest("competent_province", "the competent province is this node's own; use the local system")
        ctx.province(competent_province)
        department = matter.lead_department
        ctx.department_name(competent_province, department)
        person = {
            "name": _required(applicant, "name"),
            "id_number": check_resident_id(applicant.get("id_number", "")),
        }
        self._formal_review(matter.required_kinds(), materials, checklist)
        case = Case.submit(
            case_number=self._new_case_number(),
            matter_code=matter.code,
            mode="proxy",
            origin_province=ctx.province_code,
            competent_province=competent_province,
            competent_department=department,
            applicant=person,
            materials=[dict(m) for m in materials],
            checklist=dict(checklist),
            actor=actor,
        )
        ctx.save(case)
        return self.forward(case.case_number, actor=actor)

    def forward(self, case_number: str, *, actor: Actor) -> Case:
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = ctx.ledger.get_case(case_number)
            for material in case.materials:
                ctx.peers.push_material(
                    case.competent_province,
                    case_number=case.case_number,
                    material=material,
                    chunks=ctx.store.iter_chunks(material["sha256"]),
                )
            ctx.peers.forward_case(case.competent_province, envelope=envelope_of(case))
            case.forward(actor=actor)
            ctx.save(case)
        return case

    # -- 回传打印 ---------------------------------------------------------------------------

    def receive_result(self, *, case_number: str, from_province: str, pdf: bytes, issued_sha256: str, actor: Actor) -> Case:
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = ctx.ledger.get_case(case_number)
            if from_province != case.competent_province:
                raise InvalidRequest("from_province", f"only {case.competent_province} may deliver the result of case {case_number}")
            stored = ctx.store.put_bytes(pdf, media_type="application/pdf", metadata={"case": case_number, "kind": "result"})
            if stored.sha256 != issued_sha256:
                raise InvalidRequest("issued_sha256", "the delivered bytes do not hash to the declared SHA-256")
            case.receive_result(sha256=stored.sha256, object_key=stored.key, actor=actor)
            ctx.save(case)
        return case

    def verify_result(self, case_number: str) -> tuple[Case, VerificationOutcome]:
        ctx = self.ctx
        assert ctx.verifier is not None, "this node was started without a seal verifier"
        case = ctx.ledger.get_case(case_number)
        if case.result is None:
            raise InvalidRequest("case_number", f"case {case_number} has no result yet")
        try:
            pdf = ctx.store.read_bytes(case.result["sha256"])
        except (MaterialNotFound, MaterialIntegrityError) as exc:
            return case, StoredCopyUnusable(sha256=case.result["sha256"], problem=str(exc))
        # Ask the competent node what it recorded as issued rather than trusting our own copy.
        # If it recorded nothing, no bytes can match: "" fails closed where None would skip.
        issued = ctx.peers.issued_result_sha256(case.competent_province, case_number=case_number)
        outcome = ctx.verifier.verify(
            pdf,
            competent_province=case.competent_province,
            competent_department=case.competent_department,
            issued_sha256=issued or "",
        )
        return case, outcome

    def print_result(self, case_number: str, *, copies: int, actor: Actor) -> tuple[Case, VerificationOutcome, str]:
        ctx = self.ctx
        assert ctx.spool is not None, "this node was started without a print spool"
        if not 1 <= copies <= 10:
            raise InvalidRequest("copies", "print between 1 and 10 copies")
        with ctx.case_lock(case_number):
            case, outcome = self.verify_result(case_number)
            if not outcome.passed:
                case.refuse_print(report=outcome.summary(), actor=actor)
                ctx.save(case)
                raise PrintRefused(outcome.reason or outcome.verdict, outcome.explanation_zh)
            assert case.result is not None
            pdf = ctx.store.read_bytes(case.result["sha256"])
            spool_ref = ctx.spool.submit(case_number=case_number, pdf=pdf, copies=copies)
            case.print_result(copies=copies, spool_ref=spool_ref, report=outcome.summary(), actor=actor)
            ctx.save(case)
        return case, outcome, spool_ref

    # -- helpers --------------------------------------------------------------------------

    def _formal_review(self, required: frozenset[str], materials: list[Material], checklist: Mapping[str, bool]) -> None:
        """形式审查: every required material is present, stored, and ticked by the clerk."""
        present = {m["kind"] for m in materials}
        missing = sorted(required - present)
        if missing:
            raise InvalidRequest("materials", f"missing required materials: {', '.join(missing)}")
        unticked = sorted(k for k in required if not checklist.get(k))
        if unticked:
            raise InvalidRequest("checklist", f"the clerk has not confirmed: {', '.join(unticked)}")
        for m in materials:
            stat = self.ctx.store.stat(m["sha256"])
            if stat is None:
                raise InvalidRequest("materials", f"material {m['file_name']} was not uploaded; upload it first")
            m["size"] = stat.size

    def _new_case_number(self) -> str:
        today = self.ctx.now().astimezone(CHINA_TIME)
        return f"{self.ctx.province_code}-{today:%Y%m%d}-{secrets.token_hex(4).upper()}"


@dataclass(frozen=True)
class StoredCopyUnusable:
    """The window's own stored copy of the result is missing or no longer hashes to what was
    received: refused before any seal check, since there are no trustworthy bytes to check."""

    sha256: str
    problem: str
    passed: bool = False
    verdict: str = "TOTAL_FAILED"
    reason: str = "HASH_FAILURE"
    explanation_zh: str = "本窗口保存的结果文件已损坏或被改动，请勿打印，请联系承办地重新传送。"

    def summary(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "reason": self.reason, "explanation_zh": self.explanation_zh,
            "detail": f"stored copy {self.sha256[:12]}… unusable: {self.problem}",
            "document_sha256": self.sha256, "signer": None, "signed_at": None, "checked_at": None,
        }


def envelope_of(case: Case) -> dict[str, Any]:
    return {
        "case_number": case.case_number,
        "matter_code": case.matter_code,
        "mode": case.mode,
        "origin_province": case.origin_province,
        "competent_province": case.competent_province,
        "competent_department": case.competent_department,
        "applicant": dict(case.applicant),
        "materials": [dict(m) for m in case.materials],
        "checklist": dict(case.checklist),
    }


def _required(mapping: Mapping[str, str], key: str) -> str:
    value = (mapping.get(key) or "").strip()
    if not value:
        raise InvalidRequest(f"applicant.{key}", "this field is required")
    return value
