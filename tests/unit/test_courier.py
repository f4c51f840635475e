"""The courier's retry policy and what a partner's answer means for an outbox message."""

from __future__ import annotations

import random

import pytest

from exchange.courier import CARRIED_EACH, CARRIED_IN_ALL, Courier, RetryPolicy, carried_with_forward
from exchange.errors import PeerBusy, PeerRefused, PeerUnavailable
from storage.errors import ObjectStoreUnavailable
from exchange.outbox import REPORT_TASK, new_message


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
