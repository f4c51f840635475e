"""From a review of the competent node's desk: 补正材料 for a case that can no longer take them
are refused before anything is stored or retained, and a material described without a usable
SHA-256 is the caller's mistake (INVALID_ARGUMENT naming the field), not an internal error.
A real SQLite ledger and outbox, a local folder store and real partial uploads; the desk is
called as the node's PeerService and CoordinationService call it, and errors are mapped to
status codes as the node's ErrorMappingInterceptor maps them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest

from exchange.case import CaseStatus
from exchange.context import NodeContext
from exchange.department import DepartmentDesk
from exchange.errors import IllegalTransition, InvalidRequest, MaterialIntegrityError, NotAuthorised
from exchange.ledger import CaseLedger
from exchange.outbox import forward_message_id
from exchange.people import make_resident_id
from nodes.interceptors import status_for
from nodes.wiring import load_catalog
from storage.eventstore import EventStoreSettings
from storage.local import LocalFolderStore
from storage.outbox import outbox_of
from storage.transfers import PartialUploads

ANHUI, ZHEJIANG = "340000", "330000"
DEPARTMENTS = {"public_security": "公安厅", "market": "市场监督管理局"}
PROVINCES = {code: {"name": code, "departments": DEPARTMENTS} for code in (ANHUI, ZHEJIANG)}
APPLICANT = {"name": "王小明", "id_number": make_resident_id("33010619850315123")}
NOW = datetime(2026, 11, 2, 1, tzinfo=timezone.utc)
OFFICER = {"node": ZHEJIANG, "department": "", "operator": "officer-z"}
FROM_ANHUI = {"node": ZHEJIANG, "department": "", "operator": f"node:{ANHUI}"}
NUMBER = f"{ANHUI}-20261102-0000000A"
SUPPLEMENT = "%PDF-1.7 the 补正 the officer asked for".encode() + bytes(200)


@pytest.fixture
def zj(tmp_path: Path) -> Iterator[NodeContext]:
    """Zhejiang's node, deciding a case Anhui's window took in (no courier: notices wait in the outbox)."""
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "zj.sqlite").application_env())
    store = LocalFolderStore(tmp_path / "objects")
    ctx = NodeContext(province_code=ZHEJIANG, provinces=PROVINCES, ledger=ledger, catalog=load_catalog(),
                      store=store, peers=None, now=lambda: NOW,  # type: ignore[arg-type]
                      uploads=PartialUploads(tmp_path / "transfers", store=store), outbox=outbox_of(ledger.recorder))
    yield ctx
    ledger.close()


def material(kind: str, data: bytes, **overrides: Any) -> dict[str, Any]:
    found = {"kind": kind, "file_name": f"{kind}.pdf", "media_type": "application/pdf", "size": len(data),
             "sha256": hashlib.sha256(data).hexdigest()}
    found.update(overrides)
    return found


def envelope(materials: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "case_number": NUMBER, "matter_code": "KS35-043", "mode": "proxy", "origin_province": ANHUI,
        "competent_province": ZHEJIANG, "competent_department": "market", "applicant": dict(APPLICANT),
        "checklist": {"id_card": True, "application_form": True}, "materials": materials,
        "identity": {"method": "id_card_reader", "verified": True}, "agent": None,
    }


def received_case(zj: NodeContext) -> list[dict[str, Any]]:
    """Forwarded by Anhui, its materials pushed first, as the courier sends them."""
    found = []
    for kind in ("id_card", "application_form"):
        data = f"%PDF-1.7 {kind}".encode()
        zj.store.put_bytes(data, media_type="application/pdf", metadata={})
        found.append(material(kind, data))
    DepartmentDesk(zj).receive(envelope(found), from_province=ANHUI, actor=FROM_ANHUI)
    return found


def awaiting_supplement(zj: NodeContext) -> None:
    received_case(zj)
    desk = DepartmentDesk(zj)
    desk.accept(NUMBER, actor=OFFICER)
    desk.request_supplement(NUMBER, missing=["营业执照补领申请书（签字）"], note="", actor=OFFICER)


def returned_after_supplement_request(zj: NodeContext) -> None:
    """The officer gave up waiting for the 补正 and returned the case."""
    awaiting_supplement(zj)
    DepartmentDesk(zj).return_case(NUMBER, reason="不属本厅办理", actor=OFFICER)


def rejected(zj: NodeContext) -> None:
    received_case(zj)
    desk = DepartmentDesk(zj)
    desk.accept(NUMBER, actor=OFFICER)
    desk.reject(NUMBER, legal_basis="《市场主体登记管理条例》第二十条", reason="不符合补领条件", actor=OFFICER)


DECIDED = pytest.mark.parametrize("decided", [returned_after_supplement_request, rejected],
                                  ids=["returned", "rejected"])


def push(zj: NodeContext, data: bytes) -> str:
    return DepartmentDesk(zj).take_pushed_material(
        iter([(0, data)]), from_province=ANHUI, case_number=NUMBER, sha256=hashlib.sha256(data).hexdigest(),
        media_type="application/pdf", kind="application_form", file_name="form.pdf", size=len(data), offset=0)


def notify_supplemented(zj: NodeContext, materials: list[dict[str, Any]], *, message_id: str = "") -> Any:
    return DepartmentDesk(zj).record_applicant_step(
        case_number=NUMBER, from_province=ANHUI, step="supplemented", detail={"materials": materials},
        actor=FROM_ANHUI, message_id=message_id)


def refused(call: Callable[[], Any], kind: type[Exception], code: grpc.StatusCode, match: str) -> Exception:
    with pytest.raises(kind, match=match) as caught:
        call()
    assert status_for(caught.value) == code
    return caught.value


# -- 1. 补正材料 for a case that can no longer take them ------------------------------------------

@DECIDED
def test_a_supplement_pushed_to_a_decided_case_is_refused_and_stores_nothing(
    zj: NodeContext, decided: Callable[[NodeContext], None]
) -> None:
    decided(zj)
    status = zj.ledger.get_case(NUMBER).status
    sha = hashlib.sha256(SUPPLEMENT).hexdigest()
    refused(lambda: push(zj, SUPPLEMENT), IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION,
            f"case {NUMBER} is {status.value}; .*nothing was stored")
    assert zj.store.stat(sha) is None  # before: stored, though no case here will ever hold it
    assert zj.uploads.confirmed_offset(case_number=NUMBER, sha256=sha) == 0  # no partial upload kept either


@DECIDED
def test_a_sender_asking_where_to_resume_a_supplement_to_a_decided_case_is_refused_before_streaming(
    zj: NodeContext, decided: Callable[[NodeContext], None]
) -> None:
    decided(zj)
    refused(lambda: DepartmentDesk(zj).pushed_material_offset(
                from_province=ANHUI, case_number=NUMBER, sha256=hashlib.sha256(SUPPLEMENT).hexdigest()),
            IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION, "nothing was stored")


def test_a_supplement_the_case_was_decided_during_is_refused_before_it_enters_the_store(zj: NodeContext) -> None:
    """The officer returns the case while the 补正 is on its way: the bytes that arrived are dropped."""
    awaiting_supplement(zj)
    sha = hashlib.sha256(SUPPLEMENT).hexdigest()

    def returned_mid_stream() -> Iterator[tuple[int, bytes]]:
        yield 0, SUPPLEMENT[:100]
        DepartmentDesk(zj).return_case(NUMBER, reason="不属本厅办理", actor=OFFICER)
        yield 100, SUPPLEMENT[100:]

    refused(lambda: DepartmentDesk(zj).take_pushed_material(
                returned_mid_stream(), from_province=ANHUI, case_number=NUMBER, sha256=sha,
                media_type="application/pdf", kind="application_form", file_name="form.pdf",
                size=len(SUPPLEMENT), offset=0),
            IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION, "is returned; .*nothing was stored")
    assert zj.store.stat(sha) is None
    assert zj.uploads.confirmed_offset(case_number=NUMBER, sha256=sha) == 0


@DECIDED
def test_a_supplement_notice_to_a_decided_case_is_refused_and_retains_nothing(
    zj: NodeContext, decided: Callable[[NodeContext], None]
) -> None:
    decided(zj)
    before = zj.ledger.get_case(NUMBER)
    # The same bytes are here already (another case holds them, or they arrived before the decision).
    sha = zj.store.put_bytes(SUPPLEMENT, media_type="application/pdf", metadata={}).sha256
    refused(lambda: notify_supplemented(zj, [material("application_form", SUPPLEMENT)], message_id="m-1"),
            IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION, f"case {NUMBER} is {before.status.value}")
    assert zj.store.retention(sha) is None  # before: put under 30 years' retention for a case that refused it
    after = zj.ledger.get_case(NUMBER)
    assert (after.status, after.version, after.materials) == (before.status, before.version, before.materials)
    assert not zj.already_applied("m-1", case_number=NUMBER)


def test_a_supplement_still_arrives_while_the_case_waits_for_it(zj: NodeContext) -> None:
    awaiting_supplement(zj)
    sha = push(zj, SUPPLEMENT)
    case = notify_supplemented(zj, [material("application_form", SUPPLEMENT)])
    assert case.status is CaseStatus.ACCEPTED
    assert zj.store.stat(sha) is not None and zj.store.retention(sha) is not None
    # The sender did not hear the answer and sends again: nothing is refused, nothing changes.
    assert push(zj, SUPPLEMENT) == sha
    assert DepartmentDesk(zj).pushed_material_offset(from_province=ANHUI, case_number=NUMBER, sha256=sha) == (
        len(SUPPLEMENT), True)
    assert notify_supplemented(zj, [material("application_form", SUPPLEMENT)]).version == case.version


# -- 2. a material described without a usable SHA-256 ---------------------------------------------

def without_sha256(data: bytes) -> dict[str, Any]:
    found = material("application_form", data)
    del found["sha256"]
    return found


BAD_REFS = pytest.mark.parametrize("bad, problem", [
    (without_sha256(SUPPLEMENT), "missing"),
    (material("application_form", SUPPLEMENT, sha256=hashlib.sha256(SUPPLEMENT).hexdigest().upper()),
     "is not a SHA-256"),
    (material("application_form", SUPPLEMENT, sha256="../../etc/passwd"), "is not a SHA-256"),
], ids=["missing", "upper-case", "a-path"])


@BAD_REFS
def test_a_forwarded_material_without_a_usable_sha256_is_invalid_and_records_nothing(
    zj: NodeContext, bad: dict[str, Any], problem: str
) -> None:
    good = material("id_card", b"%PDF-1.7 id_card")
    zj.store.put_bytes(b"%PDF-1.7 id_card", media_type="application/pdf", metadata={})
    error = refused(lambda: DepartmentDesk(zj).receive(envelope([good, bad]), from_province=ANHUI, actor=FROM_ANHUI),
                    InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT,  # before: KeyError, INTERNAL
                    rf"^materials\[1\]\.sha256: .*{problem}.*SHA-256 of its bytes")
    assert isinstance(error, InvalidRequest) and error.field == "materials[1].sha256"
    assert zj.ledger.find_case(NUMBER) is None
    assert zj.store.retention(good["sha256"]) is None


@BAD_REFS
def test_a_supplemented_material_without_a_usable_sha256_is_invalid_and_retains_nothing(
    zj: NodeContext, bad: dict[str, Any], problem: str
) -> None:
    awaiting_supplement(zj)
    good = material("id_card", SUPPLEMENT + b"1")
    push(zj, SUPPLEMENT + b"1")
    before = zj.ledger.get_case(NUMBER)
    error = refused(lambda: notify_supplemented(zj, [good, bad]), InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT,
                    rf"^materials\[1\]\.sha256: .*{problem}")
    assert isinstance(error, InvalidRequest) and error.field == "materials[1].sha256"
    assert zj.store.retention(good["sha256"]) is None
    after = zj.ledger.get_case(NUMBER)
    assert (after.status, after.version) == (before.status, before.version)


# -- 3. who may send materials and forwards, checked on the case the desk reads ------------------

def decided_elsewhere(zj: NodeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """The case Anhui opened is here, but (as a case of a joint matter may be) another province
    decides it."""
    received_case(zj)
    elsewhere = zj.ledger.get_case(NUMBER)
    elsewhere.competent_province = "440000"
    monkeypatch.setattr(zj.ledger, "find_case", lambda number: elsewhere if number == NUMBER else None)


def test_a_material_pushed_for_a_case_another_province_decides_is_refused_and_stores_nothing(
    zj: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    decided_elsewhere(zj, monkeypatch)
    sha = hashlib.sha256(SUPPLEMENT).hexdigest()
    refused(lambda: push(zj, SUPPLEMENT), NotAuthorised, grpc.StatusCode.PERMISSION_DENIED,
            "province 330000 is not a party to case")
    assert zj.store.stat(sha) is None
    assert zj.uploads.confirmed_offset(case_number=NUMBER, sha256=sha) == 0


def test_a_sender_asking_where_to_resume_for_a_case_another_province_decides_is_refused(
    zj: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    decided_elsewhere(zj, monkeypatch)
    refused(lambda: DepartmentDesk(zj).pushed_material_offset(
                from_province=ANHUI, case_number=NUMBER, sha256=hashlib.sha256(SUPPLEMENT).hexdigest()),
            NotAuthorised, grpc.StatusCode.PERMISSION_DENIED, "province 330000 is not a party to case")


def test_a_forward_of_a_case_here_is_taken_only_from_the_window_that_took_it_in(
    zj: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    materials = received_case(zj)
    other_window = zj.ledger.get_case(NUMBER)
    other_window.origin_province = "440000"
    monkeypatch.setattr(zj.ledger, "find_case", lambda number: other_window if number == NUMBER else None)
    refused(lambda: DepartmentDesk(zj).receive(envelope(materials), from_province=ANHUI, actor=FROM_ANHUI),
            NotAuthorised, grpc.StatusCode.PERMISSION_DENIED, "province 340000 is not a party to case")


# -- 4. a resent forward is acknowledged as one, from the desk's own reads ------------------------

def test_a_resent_forward_is_acknowledged_as_already_applied_and_changes_nothing(zj: NodeContext) -> None:
    materials = received_case(zj)
    version = zj.ledger.get_case(NUMBER).version

    case, already = DepartmentDesk(zj).take_forward(envelope(materials), from_province=ANHUI, actor=FROM_ANHUI,
                                                    message_id=forward_message_id(NUMBER))

    assert already and case.version == version == zj.ledger.get_case(NUMBER).version


def test_a_first_forward_is_not_acknowledged_as_a_resend(zj: NodeContext) -> None:
    found = []
    for kind in ("id_card", "application_form"):
        data = f"%PDF-1.7 {kind}".encode()
        zj.store.put_bytes(data, media_type="application/pdf", metadata={})
        found.append(material(kind, data))

    case, already = DepartmentDesk(zj).take_forward(envelope(found), from_province=ANHUI, actor=FROM_ANHUI,
                                                    message_id=forward_message_id(NUMBER))

    assert not already and case.status is CaseStatus.RECEIVED
    assert zj.already_applied(forward_message_id(NUMBER), case_number=NUMBER)


def test_a_forward_under_an_id_another_case_used_is_refused(zj: NodeContext) -> None:
    other = f"{ANHUI}-20261102-0000000B"
    assert zj.outbox is not None and zj.outbox.bar_message(forward_message_id(other), case_number=other)
    found = []
    for kind in ("id_card", "application_form"):
        data = f"%PDF-1.7 {kind}".encode()
        zj.store.put_bytes(data, media_type="application/pdf", metadata={})
        found.append(material(kind, data))

    refused(lambda: DepartmentDesk(zj).take_forward(envelope(found), from_province=ANHUI, actor=FROM_ANHUI,
                                                    message_id=forward_message_id(other)),
            InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT, f"applied here for case {other}")
    assert zj.ledger.find_case(NUMBER) is None


# -- 3. a material that arrives whole in one message ----------------------------------------------

def transfer_files(zj: NodeContext) -> list[str]:
    return sorted(p.name for p in zj.uploads._root.iterdir() if p.name != "refusals.jsonl")  # type: ignore[attr-defined]


def test_a_material_that_arrives_whole_in_one_message_is_stored_without_a_partial_upload(
    zj: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    awaiting_supplement(zj)
    monkeypatch.setattr(PartialUploads, "open", lambda *a, **k: pytest.fail("a partial upload was kept"))
    sha = push(zj, SUPPLEMENT)
    stored = zj.store.stat(sha)
    assert stored is not None and stored.size == len(SUPPLEMENT)
    assert stored.metadata == {"case": NUMBER, "kind": "application_form", "file_name": "form.pdf"}
    assert transfer_files(zj) == []


def test_a_one_message_material_that_does_not_hash_as_declared_is_refused_recorded_and_not_stored(
    zj: NodeContext,
) -> None:
    awaiting_supplement(zj)
    declared = hashlib.sha256(b"what the sender meant to send").hexdigest()
    refused(lambda: DepartmentDesk(zj).take_pushed_material(
        iter([(0, SUPPLEMENT)]), from_province=ANHUI, case_number=NUMBER, sha256=declared,
        media_type="application/pdf", kind="application_form", file_name="form.pdf", size=len(SUPPLEMENT),
        offset=0), MaterialIntegrityError, grpc.StatusCode.INVALID_ARGUMENT, "nothing was stored")
    assert zj.store.stat(declared) is None and zj.store.stat(hashlib.sha256(SUPPLEMENT).hexdigest()) is None
    assert [r["sha256"] for r in zj.uploads.refusals()] == [declared]  # type: ignore[union-attr]


def test_a_one_message_material_not_of_its_declared_type_is_refused_recorded_and_not_stored(zj: NodeContext) -> None:
    awaiting_supplement(zj)
    data = b"MZ an executable" + bytes(200)
    refused(lambda: push(zj, data), InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT, "not application/pdf")
    assert zj.store.stat(hashlib.sha256(data).hexdigest()) is None
    assert len(zj.uploads.refusals()) == 1 and transfer_files(zj) == []  # type: ignore[union-attr]


def test_a_material_with_a_kept_part_is_finished_through_it_even_when_resent_whole(zj: NodeContext) -> None:
    awaiting_supplement(zj)
    sha = hashlib.sha256(SUPPLEMENT).hexdigest()

    def cut_off() -> Iterator[tuple[int, bytes]]:
        yield 0, SUPPLEMENT[:100]
        raise ConnectionResetError("the sender's stream broke")

    with pytest.raises(ConnectionResetError):
        DepartmentDesk(zj).take_pushed_material(
            cut_off(), from_province=ANHUI, case_number=NUMBER, sha256=sha, media_type="application/pdf",
            kind="application_form", file_name="form.pdf", size=len(SUPPLEMENT), offset=0)
    assert zj.uploads.holds(case_number=NUMBER, sha256=sha)  # type: ignore[union-attr]
    assert push(zj, SUPPLEMENT) == sha  # the sender starts over in one message: the kept part is finished, not left
    assert zj.store.stat(sha) is not None and transfer_files(zj) == []
