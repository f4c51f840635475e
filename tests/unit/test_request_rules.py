"""Every field of every request a node accepts has a rule, and a broken rule names its field."""

from __future__ import annotations

import functools

import pytest

from exchange import validation
from exchange.errors import InvalidRequest
from nodes.request_rules import check_request, request_types, rule_for
from nodes.server import SERVICES
from tongban_pb import (
    audit_pb2, common_pb2, department_pb2, directory_pb2, joint_pb2, peer_pb2, window_pb2, witness_pb2,
)

PROVINCES = {"340000", "330000", "320000", "310000"}
NUMBER = "340000-20261123-1A2B3C4D"
SHA = "0123456789abcdef" * 4


def services():  # type: ignore[no-untyped-def]
    for module in (audit_pb2, department_pb2, directory_pb2, joint_pb2, peer_pb2, window_pb2, witness_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.full_name in SERVICES:
                yield service


def refusal(message, field: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest) as refused:
        check_request(message, provinces=PROVINCES)
    assert refused.value.field == field, str(refused.value)
    return str(refused.value)


def test_every_field_of_every_request_message_has_a_rule() -> None:
    missing = [f"{d.full_name}.{f.name}" for s in services() for d in request_types(s) for f in d.fields
               if rule_for(d, f) is None]
    assert missing == []
    assert len(list(services())) == len(SERVICES)


def test_a_well_formed_request_passes() -> None:
    check_request(window_pb2.SubmitApplicationRequest(
        matter_code="KS2020-044", competent_province="330000",
        applicant=common_pb2.Applicant(name="李四", id_number="340102199001010011"),
        materials=[common_pb2.MaterialRef(kind="id_card", file_name="身份证.png", media_type="image/png", size=9,
                                          sha256=SHA)],
        checklist={"id_card": True}, identity=common_pb2.IdentityCheck(method="id_card_reader", verified=True),
    ), provinces=PROVINCES)


@pytest.mark.parametrize("number", ["", "340000-20261123-1a2b3c4d", "34000-20261123-1A2B3C4D",
                                    "340000-20261332-1A2B3C4D", "340000-20261123-1A2B3C4D\n", "x" * 10_000,
                                    "990000-20261123-1A2B3C4D"])
def test_a_malformed_case_number_is_refused_naming_the_field(number: str) -> None:
    message = refusal(common_pb2.CaseRef(case_number=number), "case_number")
    assert len(message) < 300, "a hostile value is not echoed back in full"


def test_a_field_deep_in_a_message_is_named_by_its_path() -> None:
    request = window_pb2.SupplementCaseRequest(case_number=NUMBER, materials=[
        common_pb2.MaterialRef(kind="id_card", file_name="a.png", media_type="image/png", size=1, sha256=SHA),
        common_pb2.MaterialRef(kind="id_card", file_name="b.png", media_type="image/png", size=1, sha256=SHA.upper()),
    ])
    assert "SHA-256" in refusal(request, "materials[1].sha256")


def test_a_province_outside_the_federation_is_refused() -> None:
    assert "not a province of this federation" in refusal(
        peer_pb2.TransferRef(case_number=NUMBER, sha256=SHA, from_province="110000"), "from_province")


@pytest.mark.parametrize("bad", ["line\x00break", "bell\x07", "esc\x1b[31m", "bidi\u202e"[:4] + "\x85"])
def test_control_characters_are_refused_in_names_and_notes(bad: str) -> None:
    refusal(common_pb2.Applicant(name=bad), "name")
    refusal(department_pb2.RejectRequest(case_number=NUMBER, legal_basis="第一条", reason=bad), "reason")


def test_a_note_may_have_line_breaks_but_not_be_endless() -> None:
    check_request(department_pb2.SupplementNotice(case_number=NUMBER, note="第一行\n第二行\t"), provinces=PROVINCES)
    assert "limit of 4000" in refusal(department_pb2.SupplementNotice(case_number=NUMBER, note="字" * 4001), "note")


def test_too_many_repeated_entries_are_refused() -> None:
    refusal(window_pb2.SubmitJointRequest(matter_code="KS2020-044", partner_provinces=["330000"] * 41),
            "partner_provinces")
    refusal(window_pb2.SubmitApplicationRequest(matter_code="KS2020-044", competent_province="330000",
                                                checklist={f"k{i}": True for i in range(65)}), "checklist")


def test_times_must_carry_their_offset() -> None:
    assert "UTC offset" in refusal(common_pb2.MonitorRequest(since="2026-11-23T10:00:00"), "since")
    refusal(joint_pb2.ProgressNotice(case_number=NUMBER, from_province="330000", step="rejected", at="yesterday"), "at")


def test_a_material_stream_header_from_a_window_needs_no_case_but_a_nodes_does() -> None:
    check_request(common_pb2.MaterialChunk(header=common_pb2.MaterialHeader(
        kind="id_card", file_name="a.png", media_type="image/png")), provinces=PROVINCES)
    refusal(common_pb2.MaterialChunk(header=common_pb2.MaterialHeader(
        kind="id_card", file_name="a.png", media_type="image/png", case_number="nope")), "header.case_number")


def test_revocation_list_issuers_are_provinces_or_the_root() -> None:
    check_request(directory_pb2.RevocationListsRequest(issuers=["root", "330000"]), provinces=PROVINCES)
    refusal(directory_pb2.RevocationListsRequest(issuers=["root", "../../etc"]), "issuers[1]")


def test_validation_checks_return_the_value() -> None:
    assert validation.case_number(NUMBER) == NUMBER
    assert validation.sha256(SHA) == SHA
    assert validation.province_code("330000", field="p", known=PROVINCES) == "330000"
    assert validation.token("KS2020-044", field="matter_code") == "KS2020-044"
    assert validation.moment("2026-11-23T10:00:00+08:00", field="at") is not None
    assert validation.moment("", field="at") is None


def test_a_value_in_a_field_without_a_rule_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import nodes.request_rules as rules

    monkeypatch.setattr(rules, "BY_FIELD", {k: v for k, v in rules.BY_FIELD.items() if k != "reason"})
    monkeypatch.setattr(rules, "_plan", functools.cache(rules._plan.__wrapped__))  # plans made with that table
    check_request(window_pb2.WithdrawRequest(case_number=NUMBER), provinces=PROVINCES)  # unset: harmless
    assert "no rule" in refusal(window_pb2.WithdrawRequest(case_number=NUMBER, reason="x"), "reason")


def test_every_tongban_service_has_the_role_that_may_call_it() -> None:
    from nodes.interceptors import SERVICE_ROLES

    assert set(SERVICES) == set(SERVICE_ROLES)


def test_a_log_read_from_the_last_possible_position_is_refused_not_an_internal_error() -> None:
    # Read from after + 1, which must fit the store's 64-bit column (before: OverflowError on SQLite).
    assert "outside 0..9223372036854775806" in refusal(audit_pb2.NodeLogRequest(after=(1 << 63) - 1), "after")
    check_request(audit_pb2.NodeLogRequest(after=(1 << 63) - 2), provinces=PROVINCES)


@pytest.mark.parametrize("number", ["340000-２０２６０１０１-1A2B3C4D", "340000-٢٠٢٦٠١٠١-1A2B3C4D", "３４００００-20260101-1A2B3C4D"])
def test_a_case_number_in_other_scripts_digits_is_refused_not_looked_for(number: str) -> None:
    refusal(common_pb2.CaseRef(case_number=number), "case_number")  # before: accepted, then NOT_FOUND


def test_a_material_message_over_the_chunk_limit_is_refused_and_one_at_it_passes() -> None:
    from nodes.request_rules import MAX_CHUNK

    at_limit = peer_pb2.MaterialPush()
    at_limit.data.data = b"\0" * MAX_CHUNK
    check_request(at_limit, provinces=PROVINCES)
    over = peer_pb2.MaterialPush()
    over.data.data = b"\0" * (MAX_CHUNK + 1)
    assert "more than the limit" in refusal(over, "data.data")
    assert "more than the limit" in refusal(common_pb2.MaterialChunk(data=b"\0" * (MAX_CHUNK + 1)), "data")
