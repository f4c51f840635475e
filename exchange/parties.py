"""Who may touch a case: the provinces that are party to it, and the part each plays.

The origin province took the case in (its window, or its online portal); the competent
province decides it; a joint case's partner provinces each do a part, handed out by the
accepting province (origin and competent at once). A province that is none of these is told
nothing about the case, and a party may only do what its part allows. The case number names
the province that opened it, so a message about a case that has not arrived yet can still be
checked against it. See docs/authorisation.md for the whole matrix."""

from __future__ import annotations

from exchange.case import Case
from exchange.errors import NotAuthorised
from exchange.ledger import CaseLedger


def opened_by(case_number: str) -> str:
    return case_number.split("-", 1)[0]


def parties_of(case: Case) -> frozenset[str]:
    found = {case.origin_province, case.competent_province, *case.partners}
    if case.part:
        found.add(str(case.part.get("coordinator", "")))
    return frozenset(p for p in found if p)


def require_party(case: Case, province: str) -> Case:
    if province not in parties_of(case):
        raise NotAuthorised(f"province {province} is not a party to case {case.case_number}")
    return case


def case_of_party(ledger: CaseLedger, case_number: str, province: str) -> Case:
    """The case, if `province` is party to it. A case that is not here is refused as one the
    province is no party to, in the same words: else a partner learns which numbers exist."""
    case = ledger.find_case(case_number)
    if case is None or province not in parties_of(case):
        raise NotAuthorised(f"this node has no case {case_number} that province {province} is party to")
    return case


def require_opened_by(case_number: str, province: str, *, what: str) -> None:
    """Only the province that opened a case may send what it opened it with."""
    if opened_by(case_number) != province:
        raise NotAuthorised(f"province {province} did not open case {case_number} and may not {what}")


def require_origin(case: Case, province: str, *, what: str) -> Case:
    require_party(case, province)
    if case.origin_province != province:
        raise NotAuthorised(f"case {case.case_number} was taken in by {case.origin_province}; "
                            f"only its window may {what}")
    return case


def require_competent(case: Case, province: str, *, what: str) -> Case:
    require_party(case, province)
    if case.competent_province != province:
        raise NotAuthorised(f"case {case.case_number} is decided by {case.competent_province}; "
                            f"only that province may {what}")
    return case


def require_partner(case: Case, province: str, *, what: str) -> Case:
    require_party(case, province)
    if province not in case.partners:
        raise NotAuthorised(f"province {province} has no part in case {case.case_number} and may not {what}")
    return case


def material_sender_check(ledger: CaseLedger, *, case_number: str, sender: str, here: str) -> None:
    """Materials travel before their case: the sender must have opened the case, and once the
    case is here this node must be the one deciding it."""
    require_opened_by(case_number, sender, what="send its materials")
    case = ledger.find_case(case_number)
    if case is not None:
        require_origin(case, sender, what="send its materials")
        require_competent(case, here, what="receive its materials")


def task_assignment_check(ledger: CaseLedger, *, case_number: str, sender: str) -> None:
    require_opened_by(case_number, sender, what="hand out its tasks")
    case = ledger.find_case(case_number)
    if case is not None:
        if (case.part or {}).get("coordinator") != sender:
            raise NotAuthorised(f"province {sender} does not coordinate case {case_number} here")
