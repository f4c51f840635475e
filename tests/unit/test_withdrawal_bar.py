"""The bar a withdrawal puts on a forward that has not arrived, at the competent node's desk:
nothing of the case is taken afterwards, and a case that did arrive is withdrawn as any other.
A real SQLite ledger and inbox, a local folder store and real partial uploads."""

from __future__ import annotations

import grpc
import pytest

from exchange.context import NodeContext
from exchange.department import DepartmentDesk
from exchange.errors import IllegalTransition, NotFound
from exchange.outbox import forward_message_id
from tests.unit.test_supplement_refusals_and_material_names import (  # noqa: F401 (the zj fixture)
    ANHUI, FROM_ANHUI, NUMBER, SUPPLEMENT, envelope, material, push, refused, zj,
)


def test_after_a_withdrawal_bars_a_case_its_materials_are_refused_before_anything_is_stored(zj: NodeContext) -> None:
    desk = DepartmentDesk(zj)
    with pytest.raises(NotFound):
        desk.withdrawn_before_arrival(NUMBER, from_province=ANHUI)
    sha = material("application_form", SUPPLEMENT)["sha256"]
    refused(lambda: desk.pushed_material_offset(case_number=NUMBER, sha256=sha, from_province=ANHUI),
            IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION, "withdrew")
    refused(lambda: push(zj, SUPPLEMENT), IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION, "withdrew")
    assert zj.store.stat(sha) is None, "before: stored for a case that will never open"
    refused(lambda: desk.receive(envelope([]), from_province=ANHUI, actor=FROM_ANHUI,
                                 message_id=forward_message_id(NUMBER)),
            IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION, "withdrew")


def test_a_case_that_arrived_under_an_older_forward_id_is_withdrawn_not_reported_missing(zj: NodeContext) -> None:
    desk = DepartmentDesk(zj)
    data = b"%PDF-1.7 id"
    zj.store.put_bytes(data, media_type="application/pdf", metadata={})
    desk.receive(envelope([material("id_card", data)]), from_province=ANHUI, actor=FROM_ANHUI,
                 message_id="6f1c3f5e-0000-4000-8000-000000000001")  # recorded before forward ids were derived
    case = desk.withdrawn_before_arrival(NUMBER, from_province=ANHUI)  # before: NotFound, the case left open
    assert case is not None and case.case_number == NUMBER
