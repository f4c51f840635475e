"""The origin window's side: take in an application, forward it, receive the result,
verify it and print it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from collections.abc import Iterable, Mapping
from typing import Any

from exchange import parties
from exchange.case import Actor, Case, CaseStatus, Material
from exchange.context import NodeContext
from exchange.errors import (
    CaseCatchingUp, IllegalTransition, InvalidRequest, MaterialIntegrityError, MaterialNotFound, NotAuthorised,
    NotFound, PeerRefused, PrintRefused, TongbanError,
)
from exchange.materials import check_file_name, check_media_type, guarded_chunks, retain_for_matter
from exchange.outbox import FORWARD_CASE, NOTIFY_PROGRESS, new_message
from exchange.people import check_resident_id
from exchange.ports import VerificationOutcome
from exchange.workdays import CHINA_TIME


# A result from another province arrives as RESULT_RECEIVED; one issued here (多地联办 taken in
# at this province's own window) is RESULT_ISSUED and is verified all the same before printing.
_AWAITING_VERIFICATION = (CaseStatus.RESULT_RECEIVED, CaseStatus.RESULT_ISSUED)
IDENTITY_METHODS = ("id_card_reader", "face_match", "online_real_name", "document_check")


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
        identity: Mapping[str, Any] | None = None,
        agent: Mapping[str, str] | None = None,
        request_id: str = "",
    ) -> Case:
        """异地代收代办: 形式审查 and 身份核验 here, decision in the competent province. The case
        and its forwarding (an outbox message) are recorded together; the forward is tried at
        once, and if the competent node cannot be reached now the case stays `submitted` and
        the relay forwards it when it can. A repeated `request_id` returns the first case."""
        ctx = self.ctx
        # Scoped to the clerk: another clerk's id can never return someone else's case.
        submission = f"submit:{actor.get('operator', '')}:{request_id}" if request_id else ""
        if submission and ctx.outbox is not None:
            earlier = ctx.outbox.inbox_case(submission)
            if earlier:
                case = ctx.ledger.get_case(earlier)
                # The same application sent again, as a console does when it did not hear the answer.
                same = (case.applicant.get("id_number"), case.matter_code, case.competent_province,
                        sorted(m["sha256"] for m in case.materials)) == (
                    applicant.get("id_number"), ctx.catalog.get(matter_code).code, competent_province,
                    sorted(m["sha256"] for m in materials))
                if not same:
                    raise InvalidRequest("request_id", "this request id was already used for another application; "
                                         "use a new id for each application")
                return case
        matter = ctx.catalog.get(matter_code)
        matter.require_mode("proxy")
        if competent_province == ctx.province_code:
            raise InvalidRequest("competent_province", "the competent province is this node's own; use the local system")
        ctx.province(competent_province)
        department = matter.lead_department
        ctx.department_name(competent_province, department)
        case = Case.submit(
            case_number=self._new_case_number(), matter_code=matter.code, mode="proxy",
            origin_province=ctx.province_code, competent_province=competent_province, competent_department=department,
            **self._take_in(matter, applicant=applicant, identity=identity, agent=agent, materials=materials,
                            checklist=checklist),
            actor=actor, at=ctx.stamp(),
        )
        forward = new_message(peer=competent_province, kind=FORWARD_CASE, case_number=case.case_number,
                              payload={"actor": dict(actor)}, at=ctx.stamp())
        with ctx.case_lock(case.case_number):  # held through the forward: the courier sends this very case
            ctx.save(case, outbox=[forward], inbox=submission)
            return ctx.send_now([forward], current=case).get(case.case_number, case)

    def submit_online(
        self,
        *,
        matter_code: str,
        applicant: Mapping[str, str],
        materials: list[Material],
        actor: Actor,
        identity: Mapping[str, Any] | None = None,
        agent: Mapping[str, str] | None = None,
    ) -> Case:
        """全程网办: the applicant applies through this (competent) province's online portal;
        no window, no forwarding: the case starts where it is decided."""
        ctx = self.ctx
        matter = ctx.catalog.get(matter_code)
        matter.require_mode("online")
        department = matter.lead_department
        ctx.department_name(ctx.province_code, department)
        case = Case.submit_online(
            case_number=self._new_case_number(), matter_code=matter.code, mode="online",
            origin_province=ctx.province_code, competent_province=ctx.province_code, competent_department=department,
            # Online there is no clerk to tick a checklist: every required material must be there.
            **self._take_in(matter, applicant=applicant, identity=identity, agent=agent, materials=materials,
                            checklist=None),
            actor=actor, at=ctx.stamp(),
        )
        ctx.save(case)
        return case

    def submit_joint(
        self,
        *,
        matter_code: str,
        partner_provinces: list[str],
        applicant: Mapping[str, str],
        materials: list[Material],
        checklist: Mapping[str, bool],
        actor: Actor,
        identity: Mapping[str, Any] | None = None,
        agent: Mapping[str, str] | None = None,
    ) -> Case:
        """多地联办: one acceptance here (e.g. 迁入地, 转入地); the partner provinces (迁出地,
        转出地) act on tasks this node hands them when its department accepts the case."""
        ctx = self.ctx
        matter = ctx.catalog.get(matter_code)
        matter.require_mode("joint")
        partners = sorted({p.strip() for p in partner_provinces if p.strip()})
        if not partners:
            raise InvalidRequest("partner_provinces", "name the other provinces that act on this case (迁出地, 转出地…)")
        if ctx.province_code in partners:
            raise InvalidRequest("partner_provinces", "this node's own province accepts the case; list only the others")
        for p in partners:
            ctx.province(p)
            ctx.department_name(p, matter.lead_department)
        department = matter.lead_department
        ctx.department_name(ctx.province_code, department)
        case = Case.submit_joint(
            case_number=self._new_case_number(), matter_code=matter.code, mode="joint",
            origin_province=ctx.province_code, competent_province=ctx.province_code, competent_department=department,
            **self._take_in(matter, applicant=applicant, identity=identity, agent=agent, materials=materials,
                            checklist=checklist),
            partners=partners, actor=actor, at=ctx.stamp(),
        )
        ctx.save(case)
        return case

    # -- 补正, 撤回: what the applicant does at the window while the case is elsewhere ---------

    def record_progress(
        self, *, case_number: str, from_province: str, step: str, detail: Mapping[str, Any], actor: Actor,
        message_id: str = "",
    ) -> Case:
        """The competent node told us of 补正, 驳回 or 退回; the window's record follows."""
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = ctx.ledger.get_case(case_number)
            if from_province != case.competent_province:
                raise NotAuthorised(f"only {case.competent_province} decides case {case_number}")
            at = str(detail.get("at") or ctx.stamp())
            if ctx.already_applied(message_id, case_number=case_number) or _already(case, step):
                return case  # a repeated notice (the sender retried) changes nothing
            _require_forwarded(case)
            if step == "supplement_requested":
                case.request_supplement(missing=list(detail.get("missing", [])), note=str(detail.get("note", "")), actor=actor, at=at)
            elif step == "rejected":
                case.reject(legal_basis=str(detail.get("legal_basis", "")), reason=str(detail.get("reason", "")), actor=actor, at=at)
            elif step == "returned":
                case.return_case(reason=str(detail.get("reason", "")), actor=actor, at=at)
            else:
                raise InvalidRequest("step", f"a window is told of supplement_requested, rejected or returned, not {step!r}")
            ctx.save(case, inbox=message_id)
        return case

    def supplement(self, case_number: str, *, materials: list[Material], actor: Actor) -> Case:
        """The applicant brings what 补正 asked for; it goes on to the competent node."""
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = ctx.ledger.get_case(case_number)
            materials = self._as_stored(materials)
            case.supplement(materials=materials, actor=actor, at=ctx.stamp())
            retain_for_matter(ctx.store, matter=ctx.catalog.get(case.matter_code), materials=materials, now=ctx.now())
            outgoing = []
            if case.competent_province != ctx.province_code:
                # The courier pushes the materials, then the notice naming them.
                outgoing.append(new_message(
                    peer=case.competent_province, kind=NOTIFY_PROGRESS, case_number=case_number,
                    payload={"step": "supplemented", "detail": {"materials": [dict(m) for m in materials],
                                                                "at": ctx.stamp()}},
                    at=ctx.stamp()))
            ctx.save(case, outbox=outgoing)
        return ctx.send_now(outgoing).get(case_number, case)

    def withdraw(self, case_number: str, *, reason: str, actor: Actor) -> Case:
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = ctx.ledger.get_case(case_number)
            was_submitted = case.status is CaseStatus.SUBMITTED
            case.withdraw(reason=reason, actor=actor, at=ctx.stamp())
            outgoing = [  # 多地联办: the partners stop their parts too
                new_message(peer=province, kind=NOTIFY_PROGRESS, case_number=case_number, at=ctx.stamp(),
                            payload={"step": "withdrawn", "detail": {"reason": f"申请人撤回：{reason}", "at": ctx.stamp()}})
                for province in case.open_tasks()
            ]
            if case.competent_province != ctx.province_code:
                # Not through the outbox: the competent node's answer decides whether the
                # applicant may still withdraw. If it already decided it refuses, and nothing
                # is saved here either; if it cannot be reached the clerk tries again. A case
                # whose forward is still waiting here and that the competent node has not
                # received is simply withdrawn: the courier then does not send it.
                try:
                    self._coordination().notify_progress(
                        case.competent_province, case_number=case_number, step="withdrawn",
                        detail={"reason": reason, "at": ctx.stamp()},
                    )
                except PeerRefused as exc:
                    if not (was_submitted and exc.code == "NOT_FOUND"):
                        raise
            ctx.save(case, outbox=outgoing)
        return ctx.send_now(outgoing).get(case_number, case)

    # -- 回传打印 ---------------------------------------------------------------------------

    def receive_result(
        self, *, case_number: str, from_province: str, pdf: bytes, issued_sha256: str, actor: Actor,
        message_id: str = "",
    ) -> Case:
        return self.take_result(case_number=case_number, from_province=from_province, pdf=pdf,
                                issued_sha256=issued_sha256, actor=actor, message_id=message_id)[0]

    def take_result(
        self, *, case_number: str, from_province: str, pdf: bytes, issued_sha256: str, actor: Actor,
        message_id: str = "",
    ) -> tuple[Case, bool]:
        """The case with the delivered result, and whether it had been delivered before (a
        resend: nothing changes)."""
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = parties.case_of_party(ctx.ledger, case_number, from_province)  # not here: refused alike
            parties.require_competent(case, from_province, what="deliver its result")
            parties.require_origin(case, ctx.province_code, what="receive its result")
            if ctx.already_applied(message_id, case_number=case_number) or (case.result is not None and case.result["sha256"] == issued_sha256):
                return case, True  # delivered before (the sender did not hear our answer)
            _require_forwarded(case)
            # Everything that can refuse the delivery comes before the store: a refused result
            # leaves no file behind, and none under retention.
            case.check_can_receive_result()
            if hashlib.sha256(pdf).hexdigest() != issued_sha256:
                raise InvalidRequest("issued_sha256", "the delivered bytes do not hash to the declared SHA-256")
            stored = ctx.store.put_bytes(pdf, media_type="application/pdf", metadata={"case": case_number, "kind": "result"})
            retain_for_matter(ctx.store, matter=ctx.catalog.get(case.matter_code), materials=[{"sha256": stored.sha256}],
                              now=ctx.now())
            case.receive_result(sha256=stored.sha256, object_key=stored.key, actor=actor, at=ctx.stamp())
            ctx.save(case, inbox=message_id)
        return case, False

    def verify_result(self, case_number: str, *,
                      case: Case | None = None) -> tuple[Case, VerificationOutcome, bytes | None]:
        """The case, the verdict, and the very bytes verified (None if the stored copy cannot be
        read): whoever prints or shows the result uses these, not a second read. `case`: read
        by the caller under the case's lock, so it is current."""
        ctx = self.ctx
        assert ctx.verifier is not None, "this node was started without a seal verifier"
        case = case or ctx.ledger.get_case(case_number)
        if case.result is None:
            raise IllegalTransition(f"case {case_number} is {case.status.value} and has no result; "
                                    "a result is verified, printed or delivered after it has arrived")
        try:
            pdf = ctx.store.read_bytes(case.result["sha256"])
        except (MaterialNotFound, MaterialIntegrityError) as exc:
            return case, StoredCopyUnusable(sha256=case.result["sha256"], problem=str(exc)), None
        # Ask the competent node what it recorded as issued rather than trusting our own copy.
        # If it recorded nothing, no bytes can match: "" fails closed where None would skip.
        if case.competent_province == ctx.province_code:
            issued = case.result["sha256"]  # what this node itself recorded as issued
        else:
            issued = ctx.peers.issued_result_sha256(case.competent_province, case_number=case_number)
        outcome = ctx.verifier.verify(
            pdf,
            competent_province=case.competent_province,
            competent_department=case.competent_department,
            issued_sha256=issued or "",
        )
        return case, outcome, pdf

    def print_result(
        self, case_number: str, *, copies: int, actor: Actor, reprint_reason: str = "",
    ) -> tuple[Case, VerificationOutcome, str]:
        ctx = self.ctx
        assert ctx.spool is not None, "this node was started without a print spool"
        with ctx.case_lock(case_number):
            # Who may print comes first: another province learns nothing from a bad copy count.
            case = parties.require_origin(ctx.ledger.get_case(case_number), ctx.province_code, what="print its result")
            if not 1 <= copies <= 10:
                raise InvalidRequest("copies", "print between 1 and 10 copies")
            case.check_reprint_reason(reprint_reason)  # before anything is spooled
            case, outcome, pdf = self._verified_or_refused(case_number, actor=actor, case=case)
            spool_ref = ctx.spool.prepare(case_number=case_number, pdf=pdf, copies=copies)
            try:
                case.print_result(copies=copies, spool_ref=spool_ref, report=outcome.summary(), actor=actor,
                                  at=ctx.stamp(), reprint_reason=reprint_reason)
                ctx.save(case)
            except BaseException:
                ctx.spool.discard(spool_ref)  # not recorded, so not printed
                raise
            ctx.spool.release(spool_ref)
        return case, outcome, spool_ref

    def settle_print_jobs(self) -> tuple[int, int]:
        """At start, the jobs a stopped run prepared but did not release: each goes to the
        printer if its print was recorded (the run stopped right after the save), else it is
        dropped. Returns (released, dropped)."""
        spool = self.ctx.spool
        if spool is None:
            return 0, 0
        released = dropped = 0
        for ref, case_number in spool.prepared():
            try:
                prints = self.ctx.ledger.get_case(case_number).prints
            except NotFound:
                prints = []
            if any(p["spool_ref"] == ref for p in prints):
                spool.release(ref)
                released += 1
            else:
                spool.discard(ref)
                dropped += 1
        return released, dropped

    def result_document(self, case_number: str, *, actor: Actor) -> tuple[Case, VerificationOutcome, bytes | None]:
        """The sealed result for the counter to show: verified now (a pass is recorded, as by
        VerifyResult), and withheld unless it passes, so a forged certificate is never on screen."""
        case, outcome, pdf = self.record_verification(case_number, actor=actor)
        return case, outcome, pdf if outcome.passed else None

    def record_verification(self, case_number: str, *,
                            actor: Actor) -> tuple[Case, VerificationOutcome, bytes | None]:
        """VerifyResult: check the seal and record a pass as the Verified step (a failure
        changes nothing until someone tries to print)."""
        with self.ctx.case_lock(case_number):
            case, outcome, pdf = self.verify_result(case_number)
            if outcome.passed and case.status in _AWAITING_VERIFICATION:
                case.record_verification(report=outcome.summary(), actor=actor, at=self.ctx.stamp())
                self.ctx.save(case)
        return case, outcome, pdf

    def mail_result(self, case_number: str, *, carrier: str, tracking_number: str, address: str, actor: Actor) -> Case:
        """寄递: only a result that verifies is put in the post."""
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case, _, _ = self._verified_or_refused(case_number, actor=actor, step="mailing")
            case.mail_result(carrier=carrier, tracking_number=tracking_number, address=address, actor=actor, at=ctx.stamp())
            ctx.save(case)
        return case

    def deliver_online(self, case_number: str, *, channel: str, actor: Actor) -> Case:
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case, _, _ = self._verified_or_refused(case_number, actor=actor, step="online delivery")
            case.deliver_online(channel=channel, actor=actor, at=ctx.stamp())
            ctx.save(case)
        return case

    def evaluate(self, case_number: str, *, rating: str, comment: str, actor: Actor) -> Case:
        with self.ctx.case_lock(case_number):
            case = self.ctx.ledger.get_case(case_number)
            case.evaluate(rating=rating, comment=comment, actor=actor, at=self.ctx.stamp())
            self.ctx.save(case)
        return case

    def close(self, case_number: str, *, actor: Actor) -> Case:
        with self.ctx.case_lock(case_number):
            case = self.ctx.ledger.get_case(case_number)
            case.close(actor=actor, at=self.ctx.stamp())
            self.ctx.save(case)
        return case

    def _verified_or_refused(self, case_number: str, *, actor: Actor, case: Case | None = None,
                             step: str = "printing") -> tuple[Case, VerificationOutcome, bytes]:
        ctx = self.ctx
        case, outcome, pdf = self.verify_result(case_number, case=case)
        if not outcome.passed:
            case.refuse_print(report=outcome.summary(), actor=actor, at=ctx.stamp())
            ctx.save(case)
            raise PrintRefused(outcome.reason or outcome.verdict, outcome.explanation_zh, step=step)
        if case.status in _AWAITING_VERIFICATION:
            case.record_verification(report=outcome.summary(), actor=actor, at=ctx.stamp())
        assert pdf is not None, "a result that passed was read"
        return case, outcome, pdf

    def _coordination(self):  # type: ignore[no-untyped-def]
        if self.ctx.coordination is None:
            raise TongbanError("this node was started without node-to-node coordination")
        return self.ctx.coordination

    # -- helpers --------------------------------------------------------------------------

    def _person(self, person: Mapping[str, str], field: str) -> dict[str, str]:
        return {
            "name": _required(person, "name", field),
            "id_number": check_resident_id(person.get("id_number", ""), field=f"{field}.id_number"),
        }

    def _identity_check(self, identity: Mapping[str, Any] | None, agent: Mapping[str, str] | None) -> dict[str, Any]:
        """身份核验: the person in front of the window (or logged in online) is who they say."""
        identity = dict(identity or {})
        method = str(identity.get("method", "")).strip()
        if method not in IDENTITY_METHODS:
            raise InvalidRequest("identity.method", f"say how identity was checked: one of {', '.join(IDENTITY_METHODS)}")
        if not identity.get("verified"):
            raise InvalidRequest("identity.verified", "the identity check did not pass; the application cannot be taken in")
        return {"method": method, "verified": True, "of": "agent" if agent else "applicant"}

    def _agent(self, agent: Mapping[str, str] | None, materials: list[Material]) -> dict[str, str] | None:
        """代办: an authorised agent or relative applies; the power of attorney is required."""
        if not agent or not any((agent.get(k) or "").strip() for k in ("name", "id_number")):
            return None
        person = self._person(agent, "agent")
        relationship = (agent.get("relationship") or "").strip()
        if not relationship:
            raise InvalidRequest("agent.relationship", "say how the agent is related to the applicant (授权代理, 亲属…)")
        return {**person, "relationship": relationship}

    def _take_in(
        self, matter: Any, *, applicant: Mapping[str, str], identity: Mapping[str, Any] | None,
        agent: Mapping[str, str] | None, materials: list[Material], checklist: Mapping[str, bool] | None,
    ) -> dict[str, Any]:
        """收件 in every mode: the applicant, 身份核验, 代办, 形式审查 (checklist None: online, where
        every required material must simply be there), then the materials kept for the matter's
        retention period before any case points at them. Returns the case's opening fields."""
        person = self._person(applicant, "applicant")
        checked_identity = self._identity_check(identity, agent)
        proxy = self._agent(agent, materials)
        required = matter.required_kinds() | ({"power_of_attorney"} if proxy else set())
        ticked = dict(checklist) if checklist is not None else {k: True for k in required}
        self._formal_review(required, materials, ticked)
        retain_for_matter(self.ctx.store, matter=matter, materials=materials, now=self.ctx.now())
        return {"applicant": person, "identity": checked_identity, "agent": proxy,
                "materials": [dict(m) for m in materials], "checklist": ticked}

    def _formal_review(self, required: frozenset[str], materials: list[Material], checklist: Mapping[str, bool]) -> None:
        """形式审查: every required material is present, stored, and ticked by the clerk."""
        present = {m["kind"] for m in materials}
        missing = sorted(required - present)
        if missing:
            raise InvalidRequest("materials", f"missing required materials: {', '.join(missing)}")
        unticked = sorted(k for k in required if not checklist.get(k))
        if unticked:
            raise InvalidRequest("checklist", f"the clerk has not confirmed: {', '.join(unticked)}")
        materials[:] = self._as_stored(materials)

    def _as_stored(self, materials: Iterable[Material]) -> list[Material]:
        """Each material as the store holds it: its size and media type are what was uploaded
        and checked then, not what a client says now (the partner would refuse a push that
        does not match, long after the clerk was told all was well)."""
        stored = []
        for m in materials:
            stat = self.ctx.store.stat(m["sha256"])
            if stat is None:
                raise InvalidRequest("materials", f"material {m['kind']} ({m['sha256'][:12]}…) was not uploaded; upload it first")
            stored.append({**m, "size": stat.size, "media_type": stat.media_type})
        return stored

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


def _already(case: Case, step: str) -> bool:
    return case.status.value == step


def _require_forwarded(case: Case) -> None:
    """The competent node answers a case it received; if this node has not yet recorded that
    it forwarded it (it stopped after the forward, before recording it), the relay here will
    record it shortly: the sender is asked to retry rather than refused."""
    if case.status is CaseStatus.SUBMITTED:
        raise CaseCatchingUp(
            f"case {case.case_number} is still being forwarded from this node; try again shortly")


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
        "identity": dict(case.identity),
        "agent": dict(case.agent) if case.agent else None,
    }


def _required(mapping: Mapping[str, str], key: str, field: str = "applicant") -> str:
    value = (mapping.get(key) or "").strip()
    if not value:
        raise InvalidRequest(f"{field}.{key}", "this field is required")
    return value
