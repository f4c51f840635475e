"""The case aggregate. Each node records its own side of a case in its own event store:
the origin window's node from ``Submitted``, the competent node from ``Received`` (or from
``SubmittedOnline`` when the applicant applied online, 全程网办). Every event records who
(``actor``: node, department, operator), when (``at``, ISO 8601 UTC, given by the desk's clock)
and, where a person decided something, why. Events carry hashes and object keys, never bytes.

The lifecycle, as the policy texts describe it::

  Submitted ─ Forwarded ─────────────────────────────── ResultReceived ─ Verified ─ Printed ─┐
  (形式审查, 身份核验)                                                                  Mailed ─┤
                 Received ─ Accepted ─ Approved ─ ResultIssued ─ ResultDelivered           │
                    │   ╲      │  ╲                     ╲ DeliveredOnline ─────────────────┤
                    │  SupplementRequested ⇄ Supplemented  (补正: the clock stops)          │
                    │          ╰ Rejected (驳回, legal reason) / Returned (退回)  ──────────┤
                    ╰─ Withdrawn (before a decision) ──────────────────────────── Evaluated ─ Closed
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from exchange.errors import IllegalTransition, InvalidRequest
from exchange.workdays import MAX_LIMIT_DAYS, TimeLimit, time_limit

Actor = dict[str, str]  # {"node": ..., "department": ..., "operator": ...}
Material = dict[str, Any]  # {"kind", "file_name", "media_type", "size", "sha256"}


class CaseStatus(str, Enum):
    SUBMITTED = "submitted"
    FORWARDED = "forwarded"
    RECEIVED = "received"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    ACCEPTED = "accepted"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"
    RESULT_ISSUED = "result_issued"
    RESULT_DELIVERED = "result_delivered"
    RESULT_RECEIVED = "result_received"
    VERIFIED = "verified"
    PRINTED = "printed"
    MAILED = "mailed"
    DELIVERED_ONLINE = "delivered_online"
    CLOSED = "closed"


S = CaseStatus
# Before a decision the applicant may still withdraw.
UNDECIDED = (S.SUBMITTED, S.FORWARDED, S.RECEIVED, S.SUPPLEMENT_REQUESTED, S.ACCEPTED)
# The applicant has had an answer: a result in hand, or a decision against.
CONCLUDED = (S.PRINTED, S.MAILED, S.DELIVERED_ONLINE, S.REJECTED, S.RETURNED, S.WITHDRAWN)
# Personal data may be erased (依法删除) once nothing more is done for the applicant with it.
ANSWERED = (*CONCLUDED, S.CLOSED, S.RESULT_DELIVERED)
# Open cases for monitoring: not yet decided at the department; at the window, until the
# applicant has the answer (a result that came back is open until it is printed or sent).
# RESULT_ISSUED: decided, its result not yet handed over (at the node's own window, or to the
# window of the province that took it in).
OPEN = (S.RECEIVED, S.SUPPLEMENT_REQUESTED, S.ACCEPTED, S.SUBMITTED, S.FORWARDED, S.RESULT_ISSUED,
        S.RESULT_RECEIVED, S.VERIFIED)
RATINGS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")  # 好差评 five grades


def case_id(case_number: str) -> UUID:
    """Both nodes derive the same aggregate id from the case number."""
    return uuid5(NAMESPACE_URL, f"urn:tongban:case:{case_number}")


def parse_at(at: str) -> datetime:
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise InvalidRequest("at", "times must carry a UTC offset")
    return moment


class CaseOpened(Aggregate.Created):
    """What both sides record when a case opens at their node; which side is the subclass."""

    partners: list[str]
    part: dict[str, str] | None
    case_number: str
    matter_code: str
    mode: str
    origin_province: str
    competent_province: str
    competent_department: str
    applicant: dict[str, str]
    materials: list[Material]
    checklist: dict[str, bool]
    actor: Actor
    identity: dict[str, Any]
    agent: dict[str, str] | None
    at: str


class Case(Aggregate):
    class Submitted(CaseOpened):
        def apply(self, aggregate: Case) -> None:
            aggregate.status = CaseStatus.SUBMITTED

    class Received(CaseOpened):
        def apply(self, aggregate: Case) -> None:
            aggregate.status = CaseStatus.RECEIVED

    class SubmittedOnline(Received):
        """全程网办: the applicant applied through the competent province's online portal."""

    class JointSubmitted(Received):
        """多地联办: taken in at the accepting province's own window; other provinces act on
        tasks it assigns (``partners``)."""

    class TaskReceived(Received):
        """多地联办, at a partner province: this node's part (``part``) of a case accepted elsewhere."""

    def __init__(
        self,
        *,
        case_number: str,
        matter_code: str,
        mode: str,
        origin_province: str,
        competent_province: str,
        competent_department: str,
        applicant: dict[str, str],
        materials: list[Material],
        checklist: dict[str, bool],
        actor: Actor,
        identity: dict[str, Any] | None = None,
        agent: dict[str, str] | None = None,
        at: str = "",
        partners: list[str] | None = None,
        part: dict[str, str] | None = None,
    ) -> None:
        # Defaults let cases recorded before these fields existed replay unchanged.
        self.partners = list(partners or [])
        self.part = part
        self.case_number = case_number
        self.matter_code = matter_code
        self.mode = mode
        self.origin_province = origin_province
        self.competent_province = competent_province
        self.competent_department = competent_department
        self.applicant = applicant
        self.materials = materials
        self.checklist = checklist
        self.identity = dict(identity or {})
        self.agent = agent
        self.opened_at = at
        self.status = CaseStatus.SUBMITTED  # the creation event's apply() says which side
        self.result: dict[str, Any] | None = None
        self.prints: list[dict[str, Any]] = []
        self.refusals: list[dict[str, Any]] = []
        self.supplements: list[dict[str, Any]] = []
        self.decision: dict[str, Any] | None = None
        self.delivery: dict[str, Any] | None = None
        self.verification: dict[str, Any] | None = None
        self.evaluation: dict[str, Any] | None = None
        self.tasks: dict[str, dict[str, Any]] = {}  # 多地联办: province -> task
        # accepted_at, limit_days, pauses ([start, end or None] per 补正), paused_since,
        # paused_seconds (calendar time, for handling_seconds), stopped_at
        self.clock: dict[str, Any] = {}
        self.closed_at: str | None = None
        self.erasure: dict[str, Any] | None = None  # 依法删除: when, on what basis (never the data)
        self._resume_to: str | None = None

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def submit(cls, **fields: Any) -> Case:
        return cls._create(cls.Submitted, id=case_id(fields["case_number"]), **_creation(fields))

    @classmethod
    def receive(cls, **fields: Any) -> Case:
        return cls._create(cls.Received, id=case_id(fields["case_number"]), **_creation(fields))

    @classmethod
    def submit_online(cls, **fields: Any) -> Case:
        return cls._create(cls.SubmittedOnline, id=case_id(fields["case_number"]), **_creation(fields))

    @classmethod
    def submit_joint(cls, **fields: Any) -> Case:
        return cls._create(cls.JointSubmitted, id=case_id(fields["case_number"]), **_creation(fields))

    @classmethod
    def receive_task(cls, **fields: Any) -> Case:
        return cls._create(cls.TaskReceived, id=case_id(fields["case_number"]), **_creation(fields))

    # -- guards ----------------------------------------------------------------------------

    def _require(self, action: str, *allowed: CaseStatus) -> None:
        if self.status not in allowed:
            wanted = " or ".join(s.value for s in allowed)
            raise IllegalTransition(
                f"case {self.case_number} is {self.status.value}; to {action} it must be {wanted}"
            )

    # -- origin window's side --------------------------------------------------------------

    def forward(self, *, actor: Actor, at: str = "") -> None:
        self._require("forward", CaseStatus.SUBMITTED)
        self._forwarded(to_province=self.competent_province, actor=actor, at=at)

    @event("Forwarded")
    def _forwarded(self, *, to_province: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.FORWARDED

    def check_can_receive_result(self) -> None:
        """Before the delivered file is stored: only a case waiting for its result takes one."""
        self._require("receive a result for", CaseStatus.FORWARDED)

    def receive_result(self, *, sha256: str, object_key: str, actor: Actor, at: str = "") -> None:
        self.check_can_receive_result()
        self._result_received(sha256=sha256, object_key=object_key, actor=actor, at=at)

    @event("ResultReceived")
    def _result_received(self, *, sha256: str, object_key: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.RESULT_RECEIVED
        self.result = {"sha256": sha256, "object_key": object_key}

    def record_verification(self, *, report: dict[str, Any], actor: Actor, at: str = "") -> None:
        """The window checked the seal and it passed (a failure is recorded by refuse_print)."""
        self._require("verify the result of", CaseStatus.RESULT_RECEIVED, CaseStatus.RESULT_ISSUED, CaseStatus.VERIFIED)
        if report.get("verdict") != "TOTAL_PASSED":
            raise IllegalTransition(f"case {self.case_number}: only a passed verification is recorded as verified")
        self._verified(report=report, actor=actor, at=at)

    @event("Verified")
    def _verified(self, *, report: dict[str, Any], actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.VERIFIED
        self.verification = report

    def print_result(
        self, *, copies: int, spool_ref: str, report: dict[str, Any], actor: Actor, at: str = "",
        reprint_reason: str = "",
    ) -> None:
        """打印: the first print needs no reason; every later one (补打) says why, since a second
        paper original in circulation is something an auditor will ask about."""
        self._require("print", CaseStatus.VERIFIED, CaseStatus.PRINTED)
        reprint_reason = self.check_reprint_reason(reprint_reason)
        self._printed(copies=copies, spool_ref=spool_ref, report=report, actor=actor, at=at,
                      reprint_reason=reprint_reason)

    def check_reprint_reason(self, reason: str) -> str:
        reason = reason.strip()
        if self.prints and not reason:
            raise InvalidRequest("reprint_reason", f"the result of case {self.case_number} was printed before; "
                                 "say why it is printed again (补打原因)")
        if not self.prints and reason:
            raise InvalidRequest("reprint_reason", "this is the first print of the result; a reason is only for reprints")
        return reason

    @event("Printed")
    def _printed(self, *, copies: int, spool_ref: str, report: dict[str, Any], actor: Actor, at: str = "",
                 reprint_reason: str = "") -> None:
        self.status = CaseStatus.PRINTED
        self.prints.append({"copies": copies, "spool_ref": spool_ref, "reprint_reason": reprint_reason,
                            "operator": actor.get("operator", ""), "at": at})

    def refuse_print(self, *, report: dict[str, Any], actor: Actor, at: str = "") -> None:
        self._require("refuse to print", CaseStatus.RESULT_RECEIVED, CaseStatus.RESULT_ISSUED, CaseStatus.VERIFIED,
                      CaseStatus.PRINTED)
        self._print_refused(report=report, actor=actor, at=at)

    @event("PrintRefused")
    def _print_refused(self, *, report: dict[str, Any], actor: Actor, at: str = "") -> None:
        self.refusals.append(report)
        if self.status is CaseStatus.VERIFIED:
            self.status = CaseStatus.RESULT_RECEIVED  # what passed before no longer does

    def mail_result(self, *, carrier: str, tracking_number: str, address: str, actor: Actor, at: str = "") -> None:
        """寄递: the verified paper result goes to the applicant by post."""
        self._require("mail the result of", CaseStatus.VERIFIED, CaseStatus.PRINTED)
        self._require_personal_data("be mailed to the applicant")
        if not carrier.strip():
            raise InvalidRequest("carrier", "say which carrier takes the result (EMS, 顺丰…)")
        if not tracking_number.strip():
            raise InvalidRequest("tracking_number", "a mailed result needs the carrier's tracking number")
        if not address.strip():
            raise InvalidRequest("address", "say where the result is mailed to")
        self._mailed(carrier=carrier.strip(), tracking_number=tracking_number.strip(), address=address, actor=actor,
                     at=at)

    @event("Mailed")
    def _mailed(self, *, carrier: str, tracking_number: str, address: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.MAILED
        self.delivery = {"how": "mail", "carrier": carrier, "tracking_number": tracking_number, "at": at}

    def deliver_online(self, *, channel: str, actor: Actor, at: str = "") -> None:
        """网络送达: the sealed PDF is put into the applicant's online space."""
        self._require("deliver online the result of", CaseStatus.VERIFIED, CaseStatus.RESULT_ISSUED)
        self._delivered_online(channel=channel, actor=actor, at=at)

    @event("DeliveredOnline")
    def _delivered_online(self, *, channel: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.DELIVERED_ONLINE
        self.delivery = {"how": "online", "channel": channel, "at": at}

    # -- competent department's side -------------------------------------------------------

    def record_identity(self, *, identity: dict[str, Any], agent: dict[str, str] | None, actor: Actor, at: str = "") -> None:
        """The origin window's 身份核验 (and 代办 agent), passed on after forwarding."""
        self._require("record the identity check of", CaseStatus.RECEIVED)
        if self.identity:
            raise IllegalTransition(f"case {self.case_number} already has its identity check")
        if not identity.get("verified"):
            raise InvalidRequest("identity.verified", "only a passed identity check is passed on")
        self._identified(identity=identity, agent=agent, actor=actor, at=at)

    @event("ApplicantIdentified")
    def _identified(self, *, identity: dict[str, Any], agent: dict[str, str] | None, actor: Actor, at: str = "") -> None:
        self.identity = dict(identity)
        self.agent = dict(agent) if agent else None

    def accept(self, *, actor: Actor, time_limit_days: int = 0, at: str = "") -> None:
        self._require("accept", CaseStatus.RECEIVED)
        if self.clock:
            raise IllegalTransition(f"case {self.case_number} was already accepted")
        if not 0 <= time_limit_days <= MAX_LIMIT_DAYS:
            raise InvalidRequest("time_limit_days", f"give 0 to {MAX_LIMIT_DAYS} working days")
        self._accepted(time_limit_days=time_limit_days, actor=actor, at=at)

    @event("Accepted")
    def _accepted(self, *, time_limit_days: int = 0, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.ACCEPTED
        self.clock = {"accepted_at": at, "limit_days": time_limit_days, "paused_seconds": 0.0, "paused_since": None}

    def request_supplement(self, *, missing: list[str], note: str, actor: Actor, at: str = "") -> None:
        """补正: list what is missing; once accepted, the clock stops until it arrives."""
        # FORWARDED: the origin window records what the competent department asked for.
        self._require("request a supplement for", CaseStatus.RECEIVED, CaseStatus.ACCEPTED, CaseStatus.FORWARDED)
        missing = [m.strip() for m in missing if m.strip()]
        if not missing:
            raise InvalidRequest("missing", "list every missing or defective material, so one round is enough")
        self._supplement_requested(missing=missing, note=note, actor=actor, at=at)

    @event("SupplementRequested")
    def _supplement_requested(self, *, missing: list[str], note: str, actor: Actor, at: str = "") -> None:
        self._resume_to = self.status.value
        self.status = CaseStatus.SUPPLEMENT_REQUESTED
        self.supplements.append({"missing": list(missing), "note": note, "requested_at": at})
        if self.clock:
            self.clock["paused_since"] = at
            self.clock.setdefault("pauses", []).append([at, None])

    def supplement(self, *, materials: list[Material], actor: Actor, at: str = "") -> None:
        self._require("supplement", CaseStatus.SUPPLEMENT_REQUESTED)
        if not materials:
            raise InvalidRequest("materials", "send the materials the supplement request listed")
        self._supplemented(materials=materials, actor=actor, at=at)

    @event("Supplemented")
    def _supplemented(self, *, materials: list[Material], actor: Actor, at: str = "") -> None:
        self.status = CaseStatus(self._resume_to or CaseStatus.RECEIVED.value)
        self._resume_to = None
        known = {m["sha256"] for m in self.materials}
        self.materials = self.materials + [dict(m) for m in materials if m["sha256"] not in known]
        self.supplements[-1]["supplied_at"] = at
        self.supplements[-1]["materials"] = [m["sha256"] for m in materials]
        self._resume_clock(at)

    def open_tasks(self) -> list[str]:
        """多地联办: the partner provinces still working on their part (a part done is closed there)."""
        return sorted(p for p, t in self.tasks.items() if t["status"] == "assigned")

    def approve(self, *, actor: Actor, note: str = "", at: str = "") -> None:
        self._require("approve", CaseStatus.ACCEPTED)
        pending = sorted(p for p, t in self.tasks.items() if t["status"] != "completed")
        if pending:
            raise IllegalTransition(
                f"case {self.case_number} waits for its tasks at {', '.join(pending)}; "
                "a joint case is approved only when every province has done its part"
            )
        self._approved(note=note, actor=actor, at=at)

    @event("Approved")
    def _approved(self, *, note: str = "", actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.APPROVED
        self.decision = {"outcome": "approved", "note": note, "at": at}
        self._stop_clock(at)

    def reject(self, *, legal_basis: str, reason: str, actor: Actor, at: str = "") -> None:
        """驳回: a decision against the applicant, which must cite its legal basis."""
        self._require("reject", CaseStatus.ACCEPTED, CaseStatus.FORWARDED)
        if not legal_basis.strip():
            raise InvalidRequest("legal_basis", "a rejection cites the provision it rests on (依据)")
        if not reason.strip():
            raise InvalidRequest("reason", "say why the application is rejected")
        self._rejected(legal_basis=legal_basis, reason=reason, actor=actor, at=at)

    @event("Rejected")
    def _rejected(self, *, legal_basis: str, reason: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.REJECTED
        self.decision = {"outcome": "rejected", "legal_basis": legal_basis, "reason": reason, "at": at}
        self._stop_clock(at)

    def return_case(self, *, reason: str, actor: Actor, at: str = "") -> None:
        """退回: not taken up here (wrong department, not this province's 事权...)."""
        self._require("return", CaseStatus.RECEIVED, CaseStatus.ACCEPTED, CaseStatus.SUPPLEMENT_REQUESTED, CaseStatus.FORWARDED)
        if not reason.strip():
            raise InvalidRequest("reason", "say why the case is returned and what the applicant should do")
        self._returned(reason=reason, actor=actor, at=at)

    @event("Returned")
    def _returned(self, *, reason: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.RETURNED
        self.decision = {"outcome": "returned", "reason": reason, "at": at}
        self._stop_clock(at)

    def issue_result(self, *, sha256: str, object_key: str, verification_code: str, actor: Actor, at: str = "") -> None:
        self._require("issue a result for", CaseStatus.APPROVED)
        self._result_issued(sha256=sha256, object_key=object_key, verification_code=verification_code, actor=actor, at=at)

    @event("ResultIssued")
    def _result_issued(self, *, sha256: str, object_key: str, verification_code: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.RESULT_ISSUED
        self.result = {"sha256": sha256, "object_key": object_key, "verification_code": verification_code}

    def deliver_result(self, *, to_province: str, actor: Actor, at: str = "") -> None:
        self._require("deliver the result of", CaseStatus.RESULT_ISSUED)
        self._result_delivered(to_province=to_province, actor=actor, at=at)

    @event("ResultDelivered")
    def _result_delivered(self, *, to_province: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.RESULT_DELIVERED

    # -- 多地联办: tasks at other provinces' nodes -------------------------------------------

    def assign_task(self, *, province: str, department: str, task: str, actor: Actor, at: str = "") -> None:
        self._require("assign a task for", CaseStatus.ACCEPTED)
        if self.mode != "joint":
            raise IllegalTransition(f"case {self.case_number} is {self.mode}; only a joint case has tasks elsewhere")
        if province not in self.partners:
            raise IllegalTransition(f"case {self.case_number} names no part for {province}; partners are {', '.join(self.partners) or 'none'}")
        if province in self.tasks or province == self.competent_province:
            raise IllegalTransition(f"case {self.case_number} already has its part at {province}")
        self._task_assigned(province=province, department=department, task=task, actor=actor, at=at)

    @event("TaskAssigned")
    def _task_assigned(self, *, province: str, department: str, task: str, actor: Actor, at: str = "") -> None:
        self.tasks[province] = {"department": department, "task": task, "status": "assigned", "assigned_at": at}

    def complete_task(self, *, province: str, outcome: str, note: str, actor: Actor, at: str = "") -> None:
        self._require("record a task of", CaseStatus.ACCEPTED, CaseStatus.SUPPLEMENT_REQUESTED)
        task = self.tasks.get(province)
        if task is None:
            raise IllegalTransition(f"case {self.case_number} has no task at {province}")
        if task["status"] != "assigned":
            raise IllegalTransition(f"the task of case {self.case_number} at {province} is already {task['status']}")
        self._task_completed(province=province, outcome=outcome, note=note, actor=actor, at=at)

    @event("TaskCompleted")
    def _task_completed(self, *, province: str, outcome: str, note: str, actor: Actor, at: str = "") -> None:
        self.tasks[province] = {**self.tasks[province], "status": "completed", "outcome": outcome,
                                "note": note, "completed_at": at}

    def complete_part(self, *, outcome: str, note: str, actor: Actor, at: str = "") -> None:
        """At a partner province: its part of a joint case is done (e.g. 迁出 recorded)."""
        self._require("complete its part of", CaseStatus.ACCEPTED)
        if not self.part:
            raise IllegalTransition(f"case {self.case_number} is decided here, not a part of a joint case")
        if not outcome.strip():
            raise InvalidRequest("outcome", "say what was done for this part")
        self._part_completed(outcome=outcome, note=note, actor=actor, at=at)

    @event("PartCompleted")
    def _part_completed(self, *, outcome: str, note: str, actor: Actor, at: str = "") -> None:
        self.decision = {"outcome": "approved", "part_outcome": outcome, "note": note, "at": at}
        self._stop_clock(at)
        self.status = CaseStatus.CLOSED
        self.closed_at = at

    # -- the applicant ---------------------------------------------------------------------

    def withdraw(self, *, reason: str, actor: Actor, at: str = "") -> None:
        """撤回: the applicant may withdraw until a decision is made."""
        self._require("withdraw", *UNDECIDED)
        self._withdrawn(reason=reason, actor=actor, at=at)

    @event("Withdrawn")
    def _withdrawn(self, *, reason: str, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.WITHDRAWN
        self.decision = {"outcome": "withdrawn", "reason": reason, "at": at}
        self._stop_clock(at)

    def evaluate(self, *, rating: str, comment: str, actor: Actor, at: str = "") -> None:
        """好差评: one rating per case, once the applicant has had an answer."""
        if self.evaluation is not None:
            raise IllegalTransition(f"case {self.case_number} was already rated {self.evaluation['rating']}; one rating per case")
        self._require("evaluate", *CONCLUDED)
        if rating not in RATINGS:
            raise InvalidRequest("rating", f"rate with one of {'、'.join(RATINGS)}")
        self._evaluated(rating=rating, comment=comment, actor=actor, at=at)

    @event("Evaluated")
    def _evaluated(self, *, rating: str, comment: str, actor: Actor, at: str = "") -> None:
        # A rating is kept beside the status, not as one: a reprint or a mailing may still follow.
        self.evaluation = {"rating": rating, "comment": comment, "at": at}

    def close(self, *, actor: Actor, at: str = "") -> None:
        self._require("close", *CONCLUDED, CaseStatus.RESULT_DELIVERED)
        self._closed(actor=actor, at=at)

    @event("Closed")
    def _closed(self, *, actor: Actor, at: str = "") -> None:
        self.status = CaseStatus.CLOSED
        self.closed_at = at

    # -- personal data ---------------------------------------------------------------------

    def erase_personal_data(self, *, legal_basis: str, reason: str, actor: Actor, at: str = "") -> None:
        """依法删除: on a lawful request, the applicant's personal data at this node is made
        unreadable (its case key is destroyed by storage); this records who did it and why.
        Only once the applicant has had an answer: an open case still needs its applicant."""
        if self.erasure is not None:
            raise IllegalTransition(f"the personal data of case {self.case_number} was already erased on {self.erasure['at']}")
        if self.status not in ANSWERED:
            raise IllegalTransition(
                f"case {self.case_number} is {self.status.value}: the applicant has had no answer yet, so its "
                "personal data is still needed; erase it once the case is decided, withdrawn or delivered")
        if not legal_basis.strip():
            raise InvalidRequest("legal_basis", "cite the provision the erasure rests on (e.g. 个人信息保护法第四十七条)")
        if not reason.strip():
            raise InvalidRequest("reason", "say what request the erasure answers (without personal data)")
        self._personal_data_erased(legal_basis=legal_basis.strip(), reason=reason.strip(), actor=actor, at=at)

    @event("PersonalDataErased")
    def _personal_data_erased(self, *, legal_basis: str, reason: str, actor: Actor, at: str = "") -> None:
        self.erasure = {"legal_basis": legal_basis, "reason": reason, "at": at, "by": dict(actor)}

    def _require_personal_data(self, action: str) -> None:
        if self.erasure is not None:
            raise IllegalTransition(f"the personal data of case {self.case_number} was erased on "
                                    f"{self.erasure['at']}; it cannot {action}")

    # -- time limits -----------------------------------------------------------------------

    def _stop_clock(self, at: str) -> None:
        if self.clock and not self.clock.get("stopped_at"):
            self._resume_clock(at)
            self.clock["stopped_at"] = at

    def _resume_clock(self, at: str) -> None:
        if self.clock.get("paused_since"):
            paused = parse_at(at) - parse_at(self.clock["paused_since"])
            self.clock["paused_seconds"] += max(paused.total_seconds(), 0.0)
            self.clock["paused_since"] = None
            self.clock["pauses"][-1][1] = at

    def time_limit(self) -> TimeLimit | None:
        """办结时限: working days from acceptance, the clock stopped while 补正 is awaited
        (exchange.workdays says how the days are counted). None until accepted."""
        if not self.clock or not self.clock.get("accepted_at"):
            return None
        pauses = [(parse_at(start), parse_at(end) if end else None) for start, end in self.clock.get("pauses", [])]
        return time_limit(accepted_at=parse_at(self.clock["accepted_at"]), limit_days=self.clock["limit_days"],
                          pauses=pauses)

    def due_at(self) -> datetime | None:
        limit = self.time_limit()
        return limit.due_at if limit else None

    def handling_seconds(self) -> float | None:
        """From acceptance to the decision, not counting 补正 waits."""
        if not self.clock or not self.clock.get("stopped_at"):
            return None
        spent = parse_at(self.clock["stopped_at"]) - parse_at(self.clock["accepted_at"])
        return spent.total_seconds() - self.clock["paused_seconds"]

    def is_paused(self) -> bool:
        """Waiting for 补正 with time left; a case late before the 补正 was asked for stays late."""
        limit = self.time_limit()  # a decision or withdrawal ends the wait (_stop_clock)
        return bool(limit and limit.paused)


def _creation(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    fields.setdefault("identity", {})
    fields.setdefault("agent", None)
    fields.setdefault("at", "")
    fields.setdefault("partners", [])
    fields.setdefault("part", None)
    return fields
