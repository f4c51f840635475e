"""The window asks the competent node, before it prints, what was issued for the case. A result,
once issued, never changes, so the process that issued it answers from memory; any other (a
replica, a restarted node) reads the case, which also decides who may ask.
A real SQLite ledger, outbox and folder store; the window and the sealer are fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.case import CaseStatus
from exchange.context import NodeContext
from exchange.department import DepartmentDesk
from exchange.errors import NotAuthorised
from exchange.issued import IssuedResults
from tests.unit.test_lifecycle_desks import received  # a case forwarded here from 340000
from tests.unit.test_sent_from_the_saved_case import CountedReads, competent_node

OFFICER = {"node": "330000", "department": "", "operator": "officer-z"}


@pytest.fixture
def competent(tmp_path: Path) -> Iterator[NodeContext]:
    ctx = competent_node(tmp_path)
    yield ctx
    ctx.ledger.close()


def approved(ctx: NodeContext, desk: DepartmentDesk) -> str:
    case = received(ctx)
    desk.accept(case.case_number, actor=OFFICER)
    done = desk.approve(case.case_number, actor=OFFICER)
    assert done.status is CaseStatus.RESULT_DELIVERED and done.result is not None
    return case.case_number


def test_the_process_that_issued_a_result_tells_the_window_without_reading_the_case(competent: NodeContext) -> None:
    desk = DepartmentDesk(competent)
    number = approved(competent, desk)
    issued = competent.ledger.get_case(number).result["sha256"]  # type: ignore[index]
    reads = CountedReads(competent.ledger)
    reads.counting = True
    assert desk.issued_to_origin(number, asking_province="340000") == issued
    assert reads.reads == 0


def test_the_desk_the_window_asks_is_not_the_one_that_approved_and_still_answers_from_memory(
    competent: NodeContext,
) -> None:
    number = approved(competent, DepartmentDesk(competent))  # the officers' service
    peers_desk = DepartmentDesk(competent)  # the peer service's own desk, on the same node
    reads = CountedReads(competent.ledger)
    reads.counting = True
    assert peers_desk.issued_to_origin(number, asking_province="340000") is not None
    assert reads.reads == 0


def test_another_process_reads_the_case_and_gives_the_same_answer(competent: NodeContext) -> None:
    number = approved(competent, DepartmentDesk(competent))
    competent.issued = IssuedResults()  # another replica, or this node restarted: nothing remembered
    replica = DepartmentDesk(competent)
    reads = CountedReads(competent.ledger)
    reads.counting = True
    assert replica.issued_to_origin(number, asking_province="340000") == \
        competent.ledger.get_case(number).result["sha256"]  # type: ignore[index]
    assert reads.reads == 2  # its own, and the check above


def test_only_the_window_that_took_the_case_in_is_told_even_from_memory(competent: NodeContext) -> None:
    desk = DepartmentDesk(competent)
    number = approved(competent, desk)
    for stranger in ("310000", "330000"):  # not a party; the competent province itself is no window here
        with pytest.raises(NotAuthorised):
            desk.issued_to_origin(number, asking_province=stranger)


def test_a_case_not_yet_approved_has_nothing_issued_and_nothing_is_remembered(competent: NodeContext) -> None:
    desk = DepartmentDesk(competent)
    case = received(competent)
    desk.accept(case.case_number, actor=OFFICER)
    assert desk.issued_to_origin(case.case_number, asking_province="340000") is None
    assert competent.issued.for_origin(case.case_number, "340000") is None


def test_an_approval_that_could_not_be_saved_is_not_remembered(competent: NodeContext) -> None:
    desk = DepartmentDesk(competent)
    case = received(competent)
    desk.accept(case.case_number, actor=OFFICER)
    saves = competent.save

    def approval_lost(case, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database went away")

    competent.save = approval_lost  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        desk.approve(case.case_number, actor=OFFICER)
    competent.save = saves  # type: ignore[method-assign]
    assert competent.issued.for_origin(case.case_number, "340000") is None
    assert desk.issued_to_origin(case.case_number, asking_province="340000") is None


def test_the_memory_keeps_the_latest_results_only() -> None:
    class Issued:
        def __init__(self, number: int) -> None:
            self.case_number, self.origin_province = f"340000-20261206-{number:08d}", "340000"
            self.result = {"sha256": f"{number:064x}"}

    memory = IssuedResults(size=2)
    for n in (1, 2, 3):
        memory.remember(Issued(n))  # type: ignore[arg-type]
    assert memory.for_origin("340000-20261206-00000001", "340000") is None
    assert memory.for_origin("340000-20261206-00000003", "340000") == f"{3:064x}"
