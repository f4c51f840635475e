"""Masking of personal data for audit output, and how storage takes personal fields out of an event."""

from __future__ import annotations

from types import SimpleNamespace

from exchange.audit import masked_detail
from exchange.people import ERASED, mask_file_name, mask_id, mask_name, mask_phone, mask_text
from storage.personal import placeholders, put_back, take_personal

EVENT = {
    "case_number": "340000-1", "at": "2025-11-23T02:00:00+00:00",
    "applicant": {"name": "王小明", "id_number": "330106198503151234", "phone": "13812345678"},
    "agent": {"name": "王大明", "id_number": "340102196001010019", "relationship": "父亲"},
    "address": "浙江省杭州市西湖区文三路478号",
    "materials": [{"kind": "id_card", "file_name": "王小明身份证.jpg", "sha256": "ab" * 32}],
}


def test_names_phones_addresses_and_file_names_are_masked_like_id_numbers() -> None:
    assert mask_id("330106198503151234") == "3301**********1234"
    assert mask_name("王小明") == "王**" and mask_name("欧阳娜娜") == "欧***"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_text("浙江省杭州市西湖区文三路478号") == "浙江省杭州市…"
    assert mask_file_name("王小明身份证.jpg") == "***.jpg" and mask_file_name("scan") == "***"
    assert mask_id(ERASED) == ERASED and mask_name(ERASED) == ERASED  # a placeholder stays readable


def test_an_auditors_view_of_an_event_is_masked_unless_the_role_allows() -> None:
    event = SimpleNamespace(originator_id="x", originator_version=1, timestamp=None, **EVENT)
    masked = masked_detail(event)
    assert masked["applicant"] == {"name": "王**", "id_number": "3301**********1234", "phone": "138****5678"}
    assert masked["agent"]["name"] == "王**" and masked["agent"]["relationship"] == "父亲"
    assert masked["address"] == "浙江省杭州市…"
    assert masked["materials"][0]["file_name"] == "***.jpg"
    text = repr(masked)
    for secret in ("小明", "198503151234", "12345678", "文三路", "身份证"):
        assert secret not in text
    assert masked_detail(event, reveal=True)["applicant"]["name"] == "王小明"


def test_storage_takes_every_personal_field_out_and_puts_it_back() -> None:
    kept, personal, shape = take_personal(EVENT)
    assert "applicant" not in kept and "agent" not in kept and "address" not in kept
    assert kept["materials"] == [{"kind": "id_card", "sha256": "ab" * 32}]
    assert "王" not in repr(kept) and "文三路" not in repr(kept) and repr(shape).count("王") == 0
    put_back(kept, personal)
    assert kept == EVENT


def test_an_erased_case_reads_as_placeholders_of_the_same_shape() -> None:
    kept, _, shape = take_personal(EVENT)
    put_back(kept, placeholders(shape))
    assert kept["applicant"] == {"id_number": ERASED, "name": ERASED, "phone": ERASED}
    assert kept["address"] == ERASED and kept["materials"][0]["file_name"] == ERASED
    assert kept["materials"][0]["sha256"] == "ab" * 32 and kept["case_number"] == "340000-1"


def test_an_event_without_personal_data_is_left_alone() -> None:
    event = {"to_province": "330000", "actor": {"node": "340000"}, "agent": None}
    kept, personal, shape = take_personal(event)
    assert kept == event and personal == {} and shape == {}
