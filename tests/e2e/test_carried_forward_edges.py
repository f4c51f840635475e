"""Where carrying materials inside the forward meets the exchange's other paths. Only a forward
tried the moment a case is saved carries its small materials; a resend by the relay pushes each
one instead (asking first what the competent node holds), so a forward whose first try did not
go through is taken whole. A forward carrying materials for a case the applicant withdrew before
it arrived is refused and stores none of them; one for a case the competent node already holds
(its answer was lost) is applied once and stores nothing. Two real nodes (in this process) on
loopback over mutual TLS, a clerk's client, the window node's relay, and the window node's own
gRPC gateway, whose calls are counted, or made to fail once, where a test says so."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from exchange.audit import timeline
from exchange.case import Case
from exchange.department import DepartmentDesk
from exchange.errors import NotFound, PeerRefused, PeerUnavailable
from exchange.outbox import FORWARD_CASE, forward_message_id
from exchange.people import make_resident_id
from exchange.window import envelope_of
from nodes.clients import WindowClient
from nodes.demo import COMPETENT_PROVINCE, MATTER, WINDOW_PROVINCE
from nodes.samples import scanned_id_card
from signing.pki import Federation
from tests.fixtures.nodes import WindowAndCompetent, counting_pushes, nodes_on_loopback
from tongban_pb import common_pb2


class Pair(WindowAndCompetent):
    def window_case(self, number: str) -> Case:
        return self.nodes[WINDOW_PROVINCE].node.context.ledger.get_case(number)

    def competent_case(self, number: str) -> Case | None:
        return self.nodes[COMPETENT_PROVINCE].node.context.ledger.find_case(number)

    def competent_events(self, number: str) -> list[str]:
        return [e.event for e in timeline(self.nodes[COMPETENT_PROVINCE].node.context.ledger, number)]

    def competent_objects(self) -> set[Path]:
        """Every file of the competent node's object store (objects, their records, retentions)."""
        root = self.nodes[COMPETENT_PROVINCE].node.context.store.root
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and ".incoming" not in p.parts}

    def forwards_waiting(self, number: str) -> list[str]:
        """The window's forward of case `number` while it is neither delivered nor refused."""
        outbox = self.nodes[WINDOW_PROVINCE].node.context.outbox
        return [m.message_id for m in outbox.pending() if m.case_number == number and m.kind == FORWARD_CASE]

    @property
    def resends_answered_already_applied(self) -> int:
        return self.nodes[WINDOW_PROVINCE].node.context.courier.already_applied


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, federation: Federation) -> Iterator[Pair]:
    with nodes_on_loopback(tmp_path_factory.mktemp("carried-edges"), federation) as nodes:
        yield Pair(federation, nodes)


@pytest.fixture
def pushes(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return counting_pushes(pair.nodes[WINDOW_PROVINCE], monkeypatch)


@dataclass
class Forward:
    """One ForwardCase the window node sent: its case, what it carried, and what had already
    been pushed when it went."""

    case_number: str
    carried: list[str]
    pushed_before: int
    message_id: str


@dataclass
class Forwards:
    """The window node's ForwardCase calls, in order. `cut`: each call while it is above zero
    fails as a competent node out of reach fails, before anything reaches it; `lose_answer`:
    each call while it is above zero reaches the competent node, but its answer is lost."""

    sent: list[Forward] = field(default_factory=list)
    cut: int = 0
    lose_answer: int = 0


@pytest.fixture
def forwards(pair: Pair, pushes: list[str], monkeypatch: pytest.MonkeyPatch) -> Forwards:
    record = Forwards()
    forward = pair.gateway.forward_case

    def counted(province: str, *, envelope: dict[str, Any], message_id: str = "",
                carried: dict[str, bytes] | None = None) -> bool:
        record.sent.append(Forward(str(envelope["case_number"]), list(carried or {}), len(pushes), message_id))
        if record.cut > 0:
            record.cut -= 1
            raise PeerUnavailable(f"could not take case {envelope['case_number']} at the node of {province} "
                                  "(UNAVAILABLE: connection refused); nothing was lost, try again when it is reachable")
        answer = forward(province, envelope=envelope, message_id=message_id, carried=carried)
        if record.lose_answer > 0:
            record.lose_answer -= 1
            raise PeerUnavailable(f"could not take case {envelope['case_number']} at the node of {province} "
                                  "(DEADLINE_EXCEEDED: the answer did not come back in time)")
        return answer

    monkeypatch.setattr(pair.gateway, "forward_case", counted)
    return record


def a_drawing(size: int, seed: int) -> bytes:
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (b"%PDF-1.7\n" + body)[:size - 6] + b"%%EOF\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def eventually(what: str, check: Callable[[], bool], *, within: float = 30.0) -> None:
    """Wait for the window node's relay (it retries with backoff of about a second here)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not within {within:.0f}s: {what}"
        time.sleep(0.05)


def take_in(window: WindowClient, seed: int) -> tuple[list[common_pb2.MaterialRef], dict[str, bytes]]:
    """A scan and a form that no other case of this file uses: the competent node holds neither."""
    scan, form = scanned_id_card(seed=seed), a_drawing(150_000, seed=seed)
    refs = [window.upload([scan], kind="id_card", file_name="id.png", media_type="image/png"),
            window.upload([form], kind="application_form", file_name="form.pdf", media_type="application/pdf")]
    return refs, {sha(scan): scan, sha(form): form}


def submit(window: WindowClient, materials: list[common_pb2.MaterialRef]) -> common_pb2.CaseView:
    return window.submit(matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name="李四",
                         applicant_id=make_resident_id("34010219900101001"), materials=materials,
                         checklist={"id_card": True, "application_form": True})


# --- a resend pushes ---------------------------------------------------------------------------


def test_a_forward_resent_by_the_relay_pushes_every_material_and_carries_none(
    pair: Pair, pushes: list[str], forwards: Forwards,
) -> None:
    window = pair.window()
    refs, data = take_in(window, seed=101)
    forwards.cut = 1  # the first try, made the moment the case is saved, does not reach the competent node
    case = submit(window, refs)
    assert case.status == "submitted"
    number = case.case_number
    eventually("the relay forwards the case", lambda: pair.window_case(number).status.value == "forwarded")

    first, resend = forwards.sent
    assert (first.case_number, resend.case_number) == (number, number)
    assert first.message_id == resend.message_id == forward_message_id(number)
    assert sorted(first.carried) == sorted(data) and first.pushed_before == 0  # the first try carried both
    assert resend.carried == []  # the resend carried none of them ...
    assert sorted(pushes) == sorted(data)  # ... it pushed each, once
    assert resend.pushed_before == len(data)  # before the forward that names them

    assert all(pair.competent_has(s) for s in data)
    held = pair.competent_case(number)
    assert held is not None and held.status.value == "received"
    assert sorted(m["sha256"] for m in held.materials) == sorted(data)
    assert pair.competent_events(number).count("Received") == 1
    assert pair.forwards_waiting(number) == []


def test_a_forward_whose_answer_was_lost_is_resent_by_pushing_and_applied_once(
    pair: Pair, pushes: list[str], forwards: Forwards,
) -> None:
    window = pair.window()
    refs, data = take_in(window, seed=102)
    already = pair.resends_answered_already_applied
    forwards.lose_answer = 1  # the competent node takes the case; its answer does not come back
    case = submit(window, refs)
    assert case.status == "submitted"
    number = case.case_number
    assert pair.competent_case(number) is not None
    taken = pair.competent_events(number)
    objects = pair.competent_objects()
    eventually("the relay forwards the case", lambda: pair.window_case(number).status.value == "forwarded")

    first, resend = forwards.sent
    assert sorted(first.carried) == sorted(data) and resend.carried == []
    assert sorted(pushes) == sorted(data)  # asked first: the competent node held both already
    assert pair.resends_answered_already_applied == already + 1
    assert pair.competent_events(number) == taken  # nothing recorded twice
    assert pair.competent_objects() == objects  # nothing stored twice


# --- a forward meeting a withdrawal ------------------------------------------------------------


def test_a_forward_carrying_the_materials_of_a_case_withdrawn_before_it_arrived_is_refused_and_stores_none(
    pair: Pair, monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = pair.gateway
    forward, push = gateway.forward_case, gateway.push_material  # the gateway's own, unpatched
    out_of_reach = [True]
    tried: list[str] = []

    def unreachable(what: str, send: Callable[..., Any]) -> Callable[..., Any]:
        def call(province: str, **kwargs: Any) -> Any:
            tried.append(what)
            if out_of_reach[0]:
                raise PeerUnavailable(f"could not {what} at the node of {province} (UNAVAILABLE: connection refused)")
            return send(province, **kwargs)
        return call

    # Nothing of the case reaches the competent node until the applicant has withdrawn it.
    monkeypatch.setattr(gateway, "forward_case", unreachable("take the case", forward))
    monkeypatch.setattr(gateway, "push_material", unreachable("receive a material", push))
    window = pair.window()
    refs, data = take_in(window, seed=103)
    case = submit(window, refs)
    assert case.status == "submitted"
    number = case.case_number
    # The window asks the competent node (NotifyProgress "withdrawn"), which bars the forward.
    assert window.withdraw(number, reason="不再需要").status == "withdrawn"
    out_of_reach[0] = False
    tries = len(tried)
    eventually("the relay settles the withdrawn case's forward", lambda: pair.forwards_waiting(number) == [])
    assert len(tried) == tries  # settled without sending anything
    assert not any(pair.competent_has(s) for s in data)

    # The forward arrives all the same (sent before the withdrawal, and held up on the way).
    sent = envelope_of(pair.window_case(number))
    for message_id in (forward_message_id(number), ""):
        with pytest.raises(PeerRefused) as refused:
            forward(COMPETENT_PROVINCE, envelope=sent, message_id=message_id, carried=data)
        assert refused.value.code == "FAILED_PRECONDITION" and "withdrew" in str(refused.value)
        store = pair.nodes[COMPETENT_PROVINCE].node.context.store
        assert all(store.stat(s) is None for s in data), "a refused forward must store none of what it carries"
        assert pair.competent_case(number) is None


# --- a forward for a case already held ---------------------------------------------------------


def test_a_forward_carrying_the_materials_of_a_case_already_held_is_already_applied_and_stores_nothing(
    pair: Pair,
) -> None:
    window = pair.window()
    refs, data = take_in(window, seed=104)
    case = submit(window, refs)
    assert case.status == "forwarded"
    number = case.case_number
    held = pair.competent_case(number)
    assert held is not None
    events, objects = pair.competent_events(number), pair.competent_objects()

    sent = envelope_of(pair.window_case(number))
    assert pair.gateway.forward_case(COMPETENT_PROVINCE, envelope=sent, message_id=forward_message_id(number),
                                     carried=data) is True
    again = pair.competent_case(number)
    assert again is not None and (again.version, again.status) == (held.version, held.status)
    assert pair.competent_events(number) == events
    assert pair.competent_objects() == objects


def test_a_forward_for_a_case_already_held_listing_a_material_it_does_not_hold_is_refused_and_stores_nothing(
    pair: Pair,
) -> None:
    """Another application under a case number given twice (a window restored from an older
    backup): refused for an operator, not acknowledged as delivered, and nothing of it stored."""
    window = pair.window()
    refs, data = take_in(window, seed=105)
    number = submit(window, refs).case_number
    held = pair.competent_case(number)
    assert held is not None
    objects = pair.competent_objects()

    stray = a_drawing(120_000, seed=1105)
    sent = envelope_of(pair.window_case(number))
    sent["materials"].append({**sent["materials"][1], "kind": "business_licence", "file_name": "执照.pdf",
                              "size": len(stray), "sha256": sha(stray)})
    with pytest.raises(PeerRefused) as refused:
        pair.gateway.forward_case(COMPETENT_PROVINCE, envelope=sent, message_id=forward_message_id(number),
                                  carried={**data, sha(stray): stray})
    assert refused.value.code == "FAILED_PRECONDITION" and "given twice" in str(refused.value)
    other_matter = {**envelope_of(pair.window_case(number)), "matter_code": "KS35-031"}  # market's too
    with pytest.raises(PeerRefused) as refused:
        pair.gateway.forward_case(COMPETENT_PROVINCE, envelope=other_matter, message_id=forward_message_id(number))
    assert refused.value.code == "FAILED_PRECONDITION" and "given twice" in str(refused.value)
    assert not pair.competent_has(sha(stray))
    assert pair.competent_objects() == objects
    again = pair.competent_case(number)
    assert again is not None and again.version == held.version
    assert sorted(m["sha256"] for m in again.materials) == sorted(data)


def test_a_competent_node_older_than_carried_materials_gets_them_pushed_and_takes_the_case(
    pair: Pair, pushes: list[str], forwards: Forwards, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An older node does not know `CaseEnvelope.carried`: it ignores the field and refuses the
    forward NOT_FOUND (a listed material has not arrived). The window pushes them and forwards
    again at once, so a federation can upgrade its nodes one at a time."""
    take_forward = DepartmentDesk.take_forward

    def as_an_older_node(self: DepartmentDesk, envelope: Any, **kwargs: Any) -> Any:
        kwargs.pop("carried", None)  # never read
        return take_forward(self, envelope, **kwargs)

    monkeypatch.setattr(DepartmentDesk, "take_forward", as_an_older_node)
    window = pair.window()
    refs, data = take_in(window, seed=106)
    case = submit(window, refs)
    assert case.status == "forwarded"  # at once, not after the relay's backoff
    first, again = forwards.sent
    assert sorted(first.carried) == sorted(data) and again.carried == []
    assert sorted(pushes) == sorted(data)
    assert all(pair.competent_has(s) for s in data)
    assert pair.competent_events(case.case_number).count("Received") == 1


def test_a_forward_refused_for_a_matter_the_competent_node_does_not_know_pushes_nothing(
    pair: Pair, pushes: list[str], forwards: Forwards, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only "a listed material has not arrived" means a node older than carried materials; any
    other NOT_FOUND is parked as it is, without sending the materials anywhere."""

    def unknown_matter(self: DepartmentDesk, envelope: Any, **kwargs: Any) -> Any:
        raise NotFound(f"matter {envelope['matter_code']} is not in this node's catalog")

    monkeypatch.setattr(DepartmentDesk, "take_forward", unknown_matter)
    window = pair.window()
    refs, data = take_in(window, seed=107)
    case = submit(window, refs)
    assert case.status == "submitted"
    assert len(forwards.sent) == 1 and pushes == []
    assert not any(pair.competent_has(s) for s in data)
