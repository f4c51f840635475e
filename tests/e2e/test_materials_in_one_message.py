"""Small materials travel in one message, a stream each saved: a clerk's upload in one call, and
inside the forward to the competent node; larger ones are streamed. Two real nodes (in this
process) on loopback over mutual TLS, a clerk's client, and a node's own gRPC gateway sending
forwards that carry good and bad materials."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from exchange.errors import PeerRefused
from exchange.people import make_resident_id
from nodes.clients import WHOLE_UPLOAD, WindowClient
from nodes.demo import COMPETENT_PROVINCE, MATTER, WINDOW_PROVINCE
from nodes.samples import scanned_id_card, signed_application_form
from signing.pki import Federation
from tests.fixtures.nodes import WindowAndCompetent, counting_pushes, nodes_on_loopback
from tongban_pb import common_pb2, peer_pb2, window_pb2, window_pb2_grpc

MiB = 1 << 20


class Pair(WindowAndCompetent):
    def refusals(self) -> str:
        path = Path(self.nodes[COMPETENT_PROVINCE].node.config.data_dir) / "transfers" / "refusals.jsonl"
        return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, federation: Federation) -> Iterator[Pair]:
    with nodes_on_loopback(tmp_path_factory.mktemp("carried"), federation) as nodes:
        yield Pair(federation, nodes)


@pytest.fixture
def pushes(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return counting_pushes(pair.nodes[WINDOW_PROVINCE], monkeypatch)


def a_drawing(size: int, seed: int) -> bytes:
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (b"%PDF-1.7\n" + body)[:size - 6] + b"%%EOF\n"


def test_a_case_forwards_its_small_materials_inside_the_forward_and_streams_the_large_one(
    pair: Pair, pushes: list[str],
) -> None:
    window = pair.window()
    scan = window.upload([scanned_id_card()], kind="id_card", file_name="id.png", media_type="image/png")
    form = window.upload([signed_application_form(applicant="李四", id_masked="x", matter="补领")],
                         kind="application_form", file_name="form.pdf", media_type="application/pdf")
    drawing = a_drawing(3 * MiB, seed=1)
    large = window.upload([drawing], kind="business_licence", file_name="执照.pdf", media_type="application/pdf")
    case = window.submit(matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name="李四",
                         applicant_id=make_resident_id("34010219900101001"), materials=[scan, form, large],
                         checklist={"id_card": True, "application_form": True})
    assert case.status == "forwarded"
    assert pushes == [large.sha256]  # the scan and the form went inside the forward
    assert all(pair.competent_has(m.sha256) for m in (scan, form, large))


ID_CARD = scanned_id_card()


def envelope(number: str, form: bytes, *, form_type: str = "application/pdf") -> dict[str, Any]:
    """A forward of the demo's matter: the applicant's ID card scan and an application form."""
    materials = [("id_card", "id.png", ID_CARD, "image/png"), ("application_form", "form.pdf", form, form_type)]
    return {
        "case_number": number, "matter_code": MATTER, "mode": "proxy", "origin_province": WINDOW_PROVINCE,
        "competent_province": COMPETENT_PROVINCE, "competent_department": "market",
        "applicant": {"name": "李四", "id_number": make_resident_id("34010219900101001")},
        "materials": [{"kind": kind, "file_name": name, "media_type": media, "size": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()} for kind, name, data, media in materials],
        "checklist": {"id_card": True, "application_form": True},
    }


def both(sent: dict[str, Any], form: bytes) -> dict[str, bytes]:
    """The ID card and `form` as the forward carries them, by the SHA-256s it lists."""
    return {sent["materials"][0]["sha256"]: ID_CARD, sent["materials"][1]["sha256"]: form}


def number(tag: str) -> str:
    return f"{WINDOW_PROVINCE}-20261206-{hashlib.sha256(tag.encode()).hexdigest()[:8].upper()}"


def test_a_forward_that_carries_every_material_is_taken_without_any_push(pair: Pair) -> None:
    form = a_drawing(200_000, seed=2)
    sent = envelope(number("CARRY001"), form)
    assert pair.gateway.forward_case(COMPETENT_PROVINCE, envelope=sent, carried=both(sent, form)) is False
    assert all(pair.competent_has(m["sha256"]) for m in sent["materials"])
    # Sent again (the answer was lost): applied once.
    assert pair.gateway.forward_case(COMPETENT_PROVINCE, envelope=sent, carried=both(sent, form)) is True


def refused(pair: Pair, sent: dict[str, Any], carried: dict[str, bytes]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        stub = pair.gateway._stub(COMPETENT_PROVINCE)
        stub.ForwardCase(peer_pb2.CaseEnvelope(
            case_number=sent["case_number"], matter_code=sent["matter_code"], mode=sent["mode"],
            origin_province=WINDOW_PROVINCE, competent_province=COMPETENT_PROVINCE,
            competent_department=sent["competent_department"], applicant=common_pb2.Applicant(**sent["applicant"]),
            materials=[common_pb2.MaterialRef(**m) for m in sent["materials"]], checklist=sent["checklist"],
            from_province=WINDOW_PROVINCE,
            carried=[peer_pb2.CarriedMaterial(sha256=s, data=d) for s, d in carried.items()],
        ), timeout=10)
    return raised.value


def test_a_carried_material_that_does_not_hash_to_its_sha256_is_refused_recorded_and_the_case_not_taken(
    pair: Pair,
) -> None:
    sent = envelope(number("CARRY002"), a_drawing(150_000, seed=3))
    declared = sent["materials"][1]["sha256"]
    error = refused(pair, sent, both(sent, a_drawing(150_000, seed=4)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and declared in error.details()
    assert not pair.competent_has(declared)
    assert declared in pair.refusals()
    with pytest.raises(PeerRefused, match="has no case"):  # the case was not taken either
        pair.gateway.issued_result_sha256(COMPETENT_PROVINCE, case_number=sent["case_number"])


def test_a_carried_material_the_forward_does_not_list_is_refused_naming_the_field(pair: Pair) -> None:
    form = a_drawing(120_000, seed=5)
    stray = a_drawing(120_000, seed=6)
    sent = envelope(number("CARRY003"), form)
    error = refused(pair, sent, {**both(sent, form), hashlib.sha256(stray).hexdigest(): stray})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "carried" in error.details()
    assert not pair.competent_has(hashlib.sha256(stray).hexdigest())
    assert not pair.competent_has(sent["materials"][1]["sha256"])  # refused before anything is stored


def test_a_carried_material_whose_content_is_not_its_declared_type_is_refused_and_recorded(pair: Pair) -> None:
    not_a_pdf = b"\x89PNG\r\n\x1a\n" + a_drawing(90_000, seed=8)
    sent = envelope(number("CARRY004"), not_a_pdf)
    sha256 = sent["materials"][1]["sha256"]
    error = refused(pair, sent, both(sent, not_a_pdf))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "application/pdf" in error.details()
    assert not pair.competent_has(sha256)
    assert sha256 in pair.refusals()


def test_a_carried_material_of_another_size_than_listed_is_refused(pair: Pair) -> None:
    form = a_drawing(100_000, seed=7)
    sent = envelope(number("CARRY005"), form)
    sent["materials"][1]["size"] = len(form) + 1
    error = refused(pair, sent, both(sent, form))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "carried" in error.details()
    assert not pair.competent_has(sent["materials"][1]["sha256"])


@pytest.mark.parametrize("field,value", [("media_type", "text/plain"), ("file_name", "a/../b.pdf")])
def test_a_carried_material_with_a_type_or_name_a_push_would_refuse_is_refused_the_same_way(
    pair: Pair, field: str, value: str,
) -> None:
    form = a_drawing(80_000, seed=13 if field == "media_type" else 14)
    sent = envelope(number(f"CARRY6{field}"), form)
    sent["materials"][1][field] = value
    error = refused(pair, sent, both(sent, form))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not pair.competent_has(sent["materials"][1]["sha256"])


def test_a_forward_carrying_more_than_its_budget_is_refused_before_anything_is_stored(pair: Pair) -> None:
    forms = [a_drawing(1 << 20, seed=20 + i) for i in range(5)]
    sent = envelope(number("CARRY007"), forms[0])
    sent["materials"] += [{**sent["materials"][1], "sha256": hashlib.sha256(f).hexdigest()} for f in forms[1:]]
    error = refused(pair, sent, {**both(sent, forms[0]), **{hashlib.sha256(f).hexdigest(): f for f in forms[1:]}})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "PushMaterial" in error.details()
    assert not any(pair.competent_has(hashlib.sha256(f).hexdigest()) for f in forms)


def test_a_forward_missing_a_pushed_material_stores_none_of_those_it_carries(pair: Pair) -> None:
    form = a_drawing(70_000, seed=30)
    sent = envelope(number("CARRY008"), form)
    never_pushed = a_drawing(2 << 20, seed=31)
    sent["materials"].append({**sent["materials"][1], "kind": "business_licence",
                              "size": len(never_pushed), "sha256": hashlib.sha256(never_pushed).hexdigest()})
    error = refused(pair, sent, {sent["materials"][1]["sha256"]: form})
    assert error.code() == grpc.StatusCode.NOT_FOUND and "has not arrived" in error.details()
    assert not pair.competent_has(sent["materials"][1]["sha256"])


# --- a clerk's upload ---------------------------------------------------------------------------


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> tuple[WindowClient, list[str]]:
    """A clerk's client at the window, and the upload methods it called, in order."""
    made: list[str] = []
    original = WindowClient.__init__

    def counting(self: WindowClient, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for method in ("UploadMaterial", "UploadWholeMaterial"):
            call = getattr(self.stub, method)
            setattr(self.stub, method, lambda *a, _m=method, _c=call, **k: (made.append(_m), _c(*a, **k))[1])

    monkeypatch.setattr(WindowClient, "__init__", counting)
    return made


def test_a_scan_of_up_to_a_megabyte_is_uploaded_in_one_call_and_a_larger_one_streamed(
    pair: Pair, calls: list[str],
) -> None:
    window = pair.window()
    small = a_drawing(WHOLE_UPLOAD, seed=9)
    large = a_drawing(WHOLE_UPLOAD + 1, seed=10)
    in_pieces = [small[:1000], small[1000:]]  # a console may read a file in any pieces
    refs = [window.upload(chunks, kind="application_form", file_name="form.pdf", media_type="application/pdf")
            for chunks in ([small], in_pieces, [large[:WHOLE_UPLOAD], large[WHOLE_UPLOAD:]])]
    assert calls == ["UploadWholeMaterial", "UploadWholeMaterial", "UploadMaterial"]
    assert [r.sha256 for r in refs] == [hashlib.sha256(d).hexdigest() for d in (small, small, large)]
    assert [r.size for r in refs] == [len(small), len(small), len(large)]


def whole(pair: Pair, data: bytes, *, media_type: str = "application/pdf", sha256: str = "") -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        pair.window().stub.UploadWholeMaterial(window_pb2.WholeMaterial(
            header=common_pb2.MaterialHeader(kind="application_form", file_name="form.pdf", media_type=media_type,
                                             sha256=sha256), data=data), timeout=10)
    return refused.value


def test_an_upload_in_one_call_is_refused_as_a_streamed_one_is(pair: Pair) -> None:
    empty = whole(pair, b"")
    assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    png = b"\x89PNG\r\n\x1a\n" + a_drawing(5_000, seed=11)
    mistyped = whole(pair, png)
    assert mistyped.code() == grpc.StatusCode.INVALID_ARGUMENT and "application/pdf" in mistyped.details()
    data = a_drawing(5_000, seed=12)
    declared = hashlib.sha256(b"what the console meant").hexdigest()
    altered = whole(pair, data, sha256=declared)
    assert altered.code() == grpc.StatusCode.INVALID_ARGUMENT and declared in altered.details()
    store = pair.nodes[WINDOW_PROVINCE].node.context.store
    assert all(store.stat(hashlib.sha256(d).hexdigest()) is None for d in (png, data))
    nameless = pair.window().stub.UploadWholeMaterial
    with pytest.raises(grpc.RpcError) as no_header:
        nameless(window_pb2.WholeMaterial(data=data), timeout=10)
    assert no_header.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in no_header.value.details()


class OlderWindow(window_pb2_grpc.WindowServiceServicer):
    """A window node from before one-call uploads: it streams only (its UploadWholeMaterial is
    the generated default, UNIMPLEMENTED)."""

    def __init__(self) -> None:
        self.streamed: list[bytes] = []
        self.asked_whole = 0

    def UploadWholeMaterial(self, request, context):  # type: ignore[no-untyped-def]
        self.asked_whole += 1
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")  # as the generated default

    def UploadMaterial(self, request_iterator, context):  # type: ignore[no-untyped-def]
        header, data = next(request_iterator).header, b"".join(m.data for m in request_iterator)
        self.streamed.append(data)
        return common_pb2.MaterialRef(kind=header.kind, file_name=header.file_name, media_type=header.media_type,
                                      size=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_a_clerks_client_streams_a_small_scan_to_a_window_node_older_than_one_call_uploads() -> None:
    older = OlderWindow()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    window_pb2_grpc.add_WindowServiceServicer_to_server(older, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            scans = [a_drawing(300_000, seed=13), a_drawing(200_000, seed=14)]
            client = WindowClient(channel)
            refs = [client.upload([scan], kind="application_form", file_name="form.pdf", media_type="application/pdf")
                    for scan in scans]
    finally:
        server.stop(None)
    assert older.streamed == scans and [r.sha256 for r in refs] == [hashlib.sha256(s).hexdigest() for s in scans]
    assert older.asked_whole == 1  # asked once; the client streams from then on
