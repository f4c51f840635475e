from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from exchange.department import DepartmentDesk
from exchange.errors import InvalidRequest, MaterialIntegrityError
from exchange.materials import check_file_name, guarded_chunks
from exchange.people import check_resident_id, make_resident_id, mask_id
from storage.local import LocalFolderStore
from storage.transfers import PartialUploads


def test_a_resident_id_with_the_right_check_character_is_accepted() -> None:
    number = make_resident_id("11010519491231002")
    assert number == "11010519491231002X"
    assert check_resident_id(number.lower()) == number


def test_a_mistyped_resident_id_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidRequest, match="applicant.id_number: the check character"):
        check_resident_id("110105194912310021")


def test_id_numbers_are_masked_for_logs_and_print() -> None:
    assert mask_id("330106198503151234") == "3301**********1234"


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.pdf", "a\\b.pdf", "bad\x07name.pdf", "", "."])
def test_file_names_with_separators_or_control_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidRequest, match="file_name"):
        check_file_name(name)


def test_a_chinese_file_name_is_fine() -> None:
    assert check_file_name("身份证扫描件.png") == "身份证扫描件.png"


def test_an_empty_material_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        list(guarded_chunks([b""], media_type="application/pdf", max_bytes=100))


def test_a_material_whose_content_is_not_its_declared_type_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="not application/pdf"):
        list(guarded_chunks([b"\x89PNG\r\n\x1a\nrest"], media_type="application/pdf", max_bytes=100))


def test_an_oversize_material_is_refused_as_it_streams() -> None:
    with pytest.raises(InvalidRequest, match="larger than the limit"):
        list(guarded_chunks([b"%PDF-" + b"x" * 60, b"y" * 60], media_type="application/pdf", max_bytes=100))


def test_the_declared_type_is_checked_however_the_first_bytes_are_split_into_messages() -> None:
    pdf = b"%PDF-1.7 a scanned form"
    assert b"".join(guarded_chunks([pdf[:1], pdf[1:3], pdf[3:]], media_type="application/pdf", max_bytes=100)) == pdf
    with pytest.raises(InvalidRequest, match="not application/pdf"):  # before: passed, only the first was checked
        list(guarded_chunks([b"%", b"MZ an executable"], media_type="application/pdf", max_bytes=100))
    with pytest.raises(InvalidRequest, match="not application/pdf"):  # shorter than the signature itself
        list(guarded_chunks([b"%PD"], media_type="application/pdf", max_bytes=100))


def test_a_pushed_material_whose_first_message_is_one_byte_is_still_checked_for_its_type(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "objects")
    ctx = SimpleNamespace(store=store, uploads=PartialUploads(tmp_path / "transfers", store=store),
                          max_material_bytes=1 << 20)
    data = b"%MZ an executable, not a PDF" + bytes(100)
    with pytest.raises(InvalidRequest, match="not application/pdf"):
        DepartmentDesk(ctx).take_pushed_material(  # type: ignore[arg-type]
            iter([(0, data[:1]), (1, data[1:])]), from_province="340000", case_number="340000-20261102-0000000A",
            sha256=hashlib.sha256(data).hexdigest(), media_type="application/pdf", kind="id_card",
            file_name="id.pdf", size=len(data), offset=0)
    assert store.stat(hashlib.sha256(data).hexdigest()) is None


def test_a_kept_part_that_no_longer_reads_back_is_dropped_and_resent_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.materials import TransferBusy
    from storage.transfers import PartialUpload

    store = LocalFolderStore(tmp_path / "objects")
    uploads = PartialUploads(tmp_path / "transfers", store=store)
    ctx = SimpleNamespace(store=store, uploads=uploads, max_material_bytes=1 << 20)
    data = b"%PDF-1.7 " + bytes(1000)
    sha, number = hashlib.sha256(data).hexdigest(), "340000-20261102-0000000A"

    def disk_fault(self: PartialUpload) -> str:
        raise MaterialIntegrityError("segment 0 of the partial upload is corrupt")

    monkeypatch.setattr(PartialUpload, "sha256", disk_fault)
    # Two messages: a material that arrives whole in one message keeps no part to read back.
    with pytest.raises(TransferBusy, match="send the material again from the start"):  # ABORTED: the sender retries
        DepartmentDesk(ctx).take_pushed_material(  # type: ignore[arg-type]
            iter([(0, data[:500]), (500, data[500:])]), from_province="340000", case_number=number, sha256=sha,
            media_type="application/pdf", kind="id_card", file_name="id.pdf", size=len(data), offset=0)
    assert uploads.confirmed_offset(case_number=number, sha256=sha) == 0  # dropped: the resend starts over
    assert store.stat(sha) is None
