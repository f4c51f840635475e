"""A forward of a case the competent node already holds is a resend of the one that opened it,
or another application under a case number given twice: only the first is acknowledged."""

from __future__ import annotations

import pytest

from exchange.case import Case
from exchange.department import _require_the_same_application
from exchange.errors import IllegalTransition

ACTOR = {"node": "330000", "department": "market", "operator": ""}


def material(tag: str) -> dict[str, object]:
    return {"sha256": tag * 64, "size": 10, "kind": f"kind-{tag}", "file_name": f"{tag}.pdf",
            "media_type": "application/pdf"}


def held_with(*tags: str) -> Case:
    return Case.receive(case_number="340000-20261206-00000001", matter_code="KS2020-044", mode="proxy",
                        origin_province="340000", competent_province="330000", competent_department="market",
                        applicant={"name": "王小明", "id_number": "330106198503151234"},
                        materials=[material(t) for t in tags], checklist={}, actor=ACTOR, at="2026-12-06T01:00:00+00:00")


def test_a_resend_listing_what_the_case_holds_is_the_same_application() -> None:
    _require_the_same_application(held_with("a", "b"), same_matter=True, materials=[material("a"), material("b")])


def test_a_resend_after_materials_were_supplied_for_correction_is_still_the_same_application() -> None:
    _require_the_same_application(held_with("a", "b", "c"), same_matter=True, materials=[material("a"), material("b")])


@pytest.mark.parametrize(("same_matter", "listed"), [
    (True, ["a", "d"]),   # a material the case never held
    (False, ["a", "b"]),  # another matter
])
def test_another_application_under_the_same_number_is_refused(same_matter: bool, listed: list[str]) -> None:
    with pytest.raises(IllegalTransition, match="given twice"):
        _require_the_same_application(held_with("a", "b"), same_matter=same_matter,
                                      materials=[material(t) for t in listed])
