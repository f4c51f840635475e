"""A node checks what a partner hands it even when the partner is a party to the case."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.envelopes import check_handed_case
from exchange.errors import InvalidRequest
from exchange.people import make_resident_id
from nodes.wiring import load_catalog

CATALOG = load_catalog()


def forwarded(**changes: Any) -> dict[str, Any]:
    envelope = {
        "mode": "proxy", "matter_code": "KS2020-044",
        "applicant": {"name": "李四", "id_number": make_resident_id("34010219900101001")},
        "materials": [{"kind": "id_card"}, {"kind": "application_form"}],
        "checklist": {"id_card": True, "application_form": True},
    }
    return {**envelope, **changes}


def refused_field(envelope: dict[str, Any], *, mode: str = "proxy") -> str:
    with pytest.raises(InvalidRequest) as refused:
        check_handed_case(envelope, catalog=CATALOG, mode=mode)
    return refused.value.field


def test_a_forward_a_window_could_have_taken_in_passes() -> None:
    check_handed_case(forwarded(), catalog=CATALOG, mode="proxy")


@pytest.mark.parametrize(("changes", "field"), [
    ({"mode": "online"}, "mode"),
    ({"applicant": {"name": "", "id_number": make_resident_id("34010219900101001")}}, "applicant.name"),
    ({"applicant": {"name": "李四", "id_number": "340102199001010010"}}, "applicant.id_number"),
    ({"materials": [{"kind": "id_card"}]}, "materials"),
    ({"checklist": {"id_card": True}}, "checklist"),
])
def test_a_forward_no_window_could_have_taken_in_is_refused_naming_the_field(changes: dict, field: str) -> None:
    assert refused_field(forwarded(**changes)) == field


def test_a_joint_task_needs_a_joint_matter_and_a_real_applicant_but_no_files() -> None:
    task = forwarded(mode="joint", matter_code="KS35-061", materials=[], checklist={})
    check_handed_case(task, catalog=CATALOG, mode="joint")
    assert refused_field(forwarded(mode="joint"), mode="joint") == "mode"  # KS2020-044 is not offered jointly


def test_an_identity_notice_must_name_a_window_method_that_passed() -> None:
    from exchange.envelopes import check_identity_notice

    check_identity_notice({"identity": {"method": "face_match", "verified": True}, "agent": None})
    for identity, field in (({"method": "trust_me", "verified": True}, "identity.method"),
                            ({"method": "face_match", "verified": False}, "identity.verified")):
        with pytest.raises(InvalidRequest) as refused:
            check_identity_notice({"identity": identity})
        assert refused.value.field == field
