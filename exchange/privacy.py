"""依法删除 (crypto-shredding): erasing a case's personal data at this node on a lawful request.

The domain records the erasure (who, when, on what basis, never the data); storage destroys the
case's data key, after which every personal field of the case reads as a placeholder while every
stored event keeps its bytes, so the hash chain and signed checkpoints still verify.

Each party of the agreement is a separate handler of the personal data it holds: the node that
receives the lawful request erases its own side; a request that concerns the other province's
side is passed on by the people who handle it, not by this software (see docs/personal-data.md).
"""

from __future__ import annotations

from typing import Protocol

from exchange.case import Actor, Case, case_id
from exchange.ledger import CaseLedger


class CaseKeyShredder(Protocol):
    def erase(self, case: str, *, at: str | None = None) -> None:
        """Destroy the data key of the case (32 hex digits of its aggregate id)."""


def erase_personal_data(
    ledger: CaseLedger, keys: CaseKeyShredder, case_number: str, *,
    legal_basis: str, reason: str, actor: Actor, at: str,
) -> Case:
    case = ledger.get_case(case_number)
    if case.erasure is None:
        case.erase_personal_data(legal_basis=legal_basis, reason=reason, actor=actor, at=at)
        ledger.save(case)  # recorded first: a key is never destroyed without its record
    # Again if run twice: the record may have been saved by a run that died before the key went.
    keys.erase(case_id(case_number).hex, at=case.erasure["at"] if case.erasure else at)
    return ledger.get_case(case_number)
