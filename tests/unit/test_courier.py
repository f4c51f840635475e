"""The courier's retry policy and what a partner's answer means for an outbox message."""

from __future__ import annotations

import hashlib
import random
import threading
from pathlib import Path

import pytest

from exchange.case import Case
from exchange.courier import CARRIED_EACH, CARRIED_IN_ALL, Courier, RetryPolicy, carried_with_forward
from exchange.errors import PeerBusy, PeerRefused, PeerUnavailable
from exchange.outbox import FORWARD_CASE, REPORT_TASK, new_message
from storage.errors import ObjectStoreUnavailable
from storage.keys import object_key
from storage.local import LocalFolderStore


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter_below_each_step() -> None:
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=30.0, jitter=0.5)
    rng = random.Random(7)
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (20, 30.0)]:
        delays = [policy.delay(attempts, rng) for _ in range(200)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling * 0.3  # spread out, so a fleet does not retry in step


def test_backoff_stays_at_the_cap_after_days_of_failures() -> None:
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=300.0, jitter=0.0)
    assert [policy.delay(n, random.Random()) for n in (1025, 10_000)] == [300.0, 300.0]  # before: OverflowError


class RecordingOutbox:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str]] = []
        self.partners_in_backoff: list[str] = []

    def delivered(self, message_id: str) -> None:
        self.outcomes.append(("delivered", ""))

    def failed(self, message_id: str, *, error: str, retry_in: float) -> None:
        self.outcomes.append(("retry", error))

    def refused(self, message_id: str, *, reason: str) -> None:
        self.outcomes.append(("refused", reason))

    def peer_unreachable(self, peer: str, *, error: str, retry_in) -> float:  # type: ignore[no-untyped-def]
        self.partners_in_backoff.append(peer)
        return float(retry_in(1))

    def peer_reachable(self, peer: str) -> None:
        pass


class Answering:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def report_task(self, province: str, **_: object) -> bool:
        if self.error is not None:
            raise self.error
        return True


class Ctx:
    def __init__(self, error: Exception | None) -> None:
        self.outbox = RecordingOutbox()
        self.coordination = Answering(error)


@pytest.mark.parametrize(("answer", "outcome"), [
    (None, "delivered"),
    (PeerUnavailable("340000 is down"), "retry"),
    (PeerBusy("the case changed there meanwhile"), "retry"),
    (ObjectStoreUnavailable("S3 endpoint http://minio:9000 bucket 'tongban': connection refused"), "retry"),
    (PeerRefused("overloaded", code="RESOURCE_EXHAUSTED"), "retry"),
    (PeerRefused("internal error there", code="INTERNAL"), "retry"),
    (PeerRefused("not a party to the case", code="PERMISSION_DENIED"), "refused"),
    (PeerRefused("the task is already completed", code="FAILED_PRECONDITION"), "refused"),
])
def test_an_unreachable_or_busy_partner_is_retried_and_a_refusal_is_parked(answer: Exception | None, outcome: str) -> None:
    ctx = Ctx(answer)
    courier = Courier(ctx)  # type: ignore[arg-type]
    message = new_message(peer="340000", kind=REPORT_TASK, case_number="340000-20261123-00000001",
                          payload={"outcome": "done", "note": ""}, at="2026-11-23T01:00:00+00:00")
    assert courier.attempt(message) is (outcome == "delivered")
    assert [o for o, _ in ctx.outbox.outcomes] == [outcome]
    partner_at_fault = isinstance(answer, PeerUnavailable) and not isinstance(answer, PeerBusy) or (
        isinstance(answer, PeerRefused) and outcome == "retry")
    assert courier.peer_states().get("340000", "reachable") == (str(answer) if partner_at_fault else "reachable")
    # Only a partner that did not answer holds back its other messages; a busy case or this
    # node's own object store holds back this message only (before: parked for good).
    assert ctx.outbox.partners_in_backoff == (["340000"] if isinstance(answer, PeerUnavailable)
                                              and not isinstance(answer, PeerBusy) else [])
    if outcome == "delivered":
        assert courier.already_applied == 1  # the partner said it had applied it before


def material(sha: str, size: int) -> dict[str, object]:
    return {"sha256": sha * 64, "size": size, "kind": "scan", "file_name": "a.pdf", "media_type": "application/pdf"}


def test_a_forward_carries_small_materials_in_the_cases_order_until_its_budget_is_spent() -> None:
    materials = [material("a", 300_000), material("b", CARRIED_EACH + 1), material("c", CARRIED_EACH),
                 material("d", CARRIED_EACH), material("e", CARRIED_EACH), material("g", CARRIED_EACH),
                 material("f", 200_000)]
    chosen = carried_with_forward(materials)
    assert chosen == ["a" * 64, "c" * 64, "d" * 64, "e" * 64, "f" * 64]  # b is too large; g would pass the budget
    assert sum(int(m["size"]) for m in materials if m["sha256"] in chosen) <= CARRIED_IN_ALL


def test_the_same_bytes_listed_twice_are_carried_once() -> None:
    assert carried_with_forward([material("a", 10), material("a", 10)]) == ["a" * 64]


class CheckingPartner:
    """A competent node's answer to a forward: it hashes what it receives, as the real one does."""

    def __init__(self, *, refusal: PeerRefused | None = None) -> None:
        self.received: dict[str, bytes] = {}
        self.refusal = refusal

    def _take(self, sha256: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise PeerRefused(f"material {sha256}: the bytes do not hash to the declared SHA-256",
                              code="INVALID_ARGUMENT")
        self.received[sha256] = data

    def push_material(self, province: str, *, material: dict[str, object], chunks: object, **_: object) -> None:
        self._take(str(material["sha256"]), b"".join(chunks))  # type: ignore[arg-type]

    def forward_case(self, province: str, *, carried: dict[str, bytes], **_: object) -> bool:
        for sha256, data in carried.items():
            self._take(sha256, data)
        if self.refusal is not None:
            raise self.refusal
        return False


class Ledger:
    def __init__(self, case: Case) -> None:
        self.case = case

    def get_case(self, number: str) -> Case:
        return self.case


class ForwardingCtx:
    def __init__(self, store: LocalFolderStore, case: Case, partner: CheckingPartner) -> None:
        self.store, self.peers, self.ledger = store, partner, Ledger(case)
        self.outbox = RecordingOutbox()

    def case_lock(self, number: str) -> threading.RLock:
        return threading.RLock()


def a_case_with(store: LocalFolderStore, sizes: list[int]) -> Case:
    materials = []
    for i, size in enumerate(sizes):
        stored = store.put_bytes(bytes([i + 1]) * size, media_type="application/pdf")
        materials.append({"sha256": stored.sha256, "size": size, "kind": f"kind{i}", "file_name": f"{i}.pdf",
                          "media_type": "application/pdf"})
    return Case.submit(case_number="340000-20261206-00000001", matter_code="KS2020-044", mode="proxy",
                       origin_province="340000", competent_province="330000", competent_department="market",
                       applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=materials,
                       checklist={}, actor={"node": "340000", "department": "", "operator": "clerk"},
                       at="2026-12-06T01:00:00+00:00")


def forward_of(case: Case) -> object:
    return new_message(peer="330000", kind=FORWARD_CASE, case_number=case.case_number,
                       payload={"actor": {"node": "340000", "department": "", "operator": "clerk"}},
                       at="2026-12-06T01:00:00+00:00")


@pytest.mark.parametrize("size", [200_000, CARRIED_EACH + 1], ids=["carried", "pushed"])
def test_a_material_corrupt_in_this_nodes_store_is_named_as_ours_when_the_partner_refuses_it(
        tmp_path: Path, size: int) -> None:
    store = LocalFolderStore(tmp_path / "objects")
    case = a_case_with(store, [size])
    sha256 = case.materials[0]["sha256"]
    at_rest = tmp_path / "objects" / object_key(sha256)
    changed = bytearray(at_rest.read_bytes())
    changed[len(changed) // 2] ^= 0x01
    at_rest.write_bytes(bytes(changed))  # bit rot in the window's own copy
    partner = CheckingPartner()
    ctx = ForwardingCtx(store, case, partner)
    courier = Courier(ctx)  # type: ignore[arg-type]
    assert courier.attempt(forward_of(case)) is False  # type: ignore[arg-type]
    (outcome, reason), = ctx.outbox.outcomes
    assert outcome == "refused" and "not sendable from this node" in reason and "now hashes to" in reason, reason
    assert partner.received == {}


def test_a_refusal_of_a_forward_whose_copies_are_sound_is_parked_with_the_partners_reason(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "objects")
    case = a_case_with(store, [200_000, CARRIED_EACH + 1])
    partner = CheckingPartner(refusal=PeerRefused("340000 is not a partner of this matter", code="PERMISSION_DENIED"))
    ctx = ForwardingCtx(store, case, partner)
    assert Courier(ctx).attempt(forward_of(case)) is False  # type: ignore[arg-type]
    assert ctx.outbox.outcomes == [("refused", "340000 is not a partner of this matter")]
    assert set(partner.received) == {m["sha256"] for m in case.materials}  # sent whole, both ways
