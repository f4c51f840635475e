"""The case aggregate. Each node records its own side of a case in its own event store:
the origin window's node from ``Submitted``, the competent node from ``Received``.
Events carry hashes and object keys, never file bytes."""

from __future__ import annotations

from enum import Enum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from exchange.errors import IllegalTransition

Actor = dict[str, str]  # {"node": ..., "department": ..., "operator": ...}
Material = dict[str, Any]  # {"kind", "file_name", "media_type", "size", "sha256"}


class CaseStatus(str, Enum):
    SUBMITTED = "submitted"
    FORWARDED = "forwarded"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    APPROVED = "approved"
    RESULT_ISSUED = "result_issued"
    RESULT_DELIVERED = "result_delivered"
    RESULT_RECEIVED = "result_received"
    PRINTED = "printed"


def case_id(case_number: str) -> UUID:
    """Both nodes derive the same aggregate id from the case number."""
    return uuid5(NAMESPACE_URL, f"urn:tongban:case:{case_number}")


class Case(Aggregate):
    class Submitted(Aggregate.Created):
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

        def apply(self, aggregate: Case) -> None:
            aggregate.status = CaseStatus.SUBMITTED

    class Received(Aggregate.Created):
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

        def apply(self, aggregate: Case) -> None:
            aggregate.status = CaseStatus.RECEIVED

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
    ) -> None:
        self.case_number = case_number
        self.matter_code = matter_code
        self.mode = mode
        self.origin_province = origin_province
        self.competent_province = competent_province
        self.competent_department = competent_department
        self.applicant = applicant
        self.materials = materials
        self.checklist = checklist
        self.status = CaseStatus.SUBMITTED  # the creation event's apply() says which side
        self.result: dict[str, Any] | None = None
        self.prints: list[dict[str, Any]] = []
        self.refusals: list[dict[str, Any]] = []

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def submit(cls, **fields: Any) -> Case:
        return cls._create(cls.Submitted, id=case_id(fields["case_number"]), **fields)

    @classmethod
    def receive(cls, **fields: Any) -> Case:
        return cls._create(cls.Received, id=case_id(fields["case_number"]), **fields)

    # -- guards ----------------------------------------------------------------------------

    def _require(self, action: str, *allowed: CaseStatus) -> None:
        if self.status not in allowed:
            wanted = " or ".join(s.value for s in allowed)
            raise IllegalTransition(
                f"case {self.case_number} is {self.status.value}; to {action} it must be {wanted}"
            )

    # -- origin window's side --------------------------------------------------------------

    def forward(self, *, actor: Actor) -> None:
        self._require("forward", CaseStatus.SUBMITTED)
        self._forwarded(to_province=self.competent_province, actor=actor)

    @event("Forwarded")
    def _forwarded(self, *, to_province: str, actor: Actor) -> None:
        self.status = CaseStatus.FORWARDED

    def receive_result(self, *, sha256: str, object_key: str, actor: Actor) -> None:
        self._require("receive a result for", CaseStatus.FORWARDED)
        self._result_received(sha256=sha256, object_key=object_key, actor=actor)

    @event("ResultReceived")
    def _result_received(self, *, sha256: str, object_key: str, actor: Actor) -> None:
        self.status = CaseStatus.RESULT_RECEIVED
        self.result = {"sha256": sha256, "object_key": object_key}

    def print_result(self, *, copies: int, spool_ref: str, report: dict[str, Any], actor: Actor) -> None:
        self._require("print", CaseStatus.RESULT_RECEIVED, CaseStatus.PRINTED)
        self._printed(copies=copies, spool_ref=spool_ref, report=report, actor=actor)

    @event("Printed")
    def _printed(self, *, copies: int, spool_ref: str, report: dict[str, Any], actor: Actor) -> None:
        self.status = CaseStatus.PRINTED
        self.prints.append({"copies": copies, "spool_ref": spool_ref})

    def refuse_print(self, *, report: dict[str, Any], actor: Actor) -> None:
        self._require("refuse to print", CaseStatus.RESULT_RECEIVED, CaseStatus.PRINTED)
        self._print_refused(report=report, actor=actor)

    @event("PrintRefused")
    def _print_refused(self, *, report: dict[str, Any], actor: Actor) -> None:
        self.refusals.append(report)

    # -- competent department's side -------------------------------------------------------

    def accept(self, *, actor: Actor) -> None:
        self._require("accept", CaseStatus.RECEIVED)
        self._accepted(actor=actor)

    @event("Accepted")
    def _accepted(self, *, actor: Actor) -> None:
        self.status = CaseStatus.ACCEPTED

    def approve(self, *, actor: Actor) -> None:
        self._require("approve", CaseStatus.ACCEPTED)
        self._approved(actor=actor)

    @event("Approved")
    def _approved(self, *, actor: Actor) -> None:
        self.status = CaseStatus.APPROVED

    def issue_result(self, *, sha256: str, object_key: str, verification_code: str, actor: Actor) -> None:
        self._require("issue a result for", CaseStatus.APPROVED)
        self._result_issued(
            sha256=sha256, object_key=object_key, verification_code=verification_code, actor=actor
        )

    @event("ResultIssued")
    def _result_issued(
        self, *, sha256: str, object_key: str, verification_code: str, actor: Actor
    ) -> None:
        self.status = CaseStatus.RESULT_ISSUED
        self.result = {
            "sha256": sha256, "object_key": object_key, "verification_code": verification_code,
        }

    def deliver_result(self, *, to_province: str, actor: Actor) -> None:
        self._require("deliver the result of", CaseStatus.RESULT_ISSUED)
        self._result_delivered(to_province=to_province, actor=actor)

    @event("ResultDelivered")
    def _result_delivered(self, *, to_province: str, actor: Actor) -> None:
        self.status = CaseStatus.RESULT_DELIVERED
