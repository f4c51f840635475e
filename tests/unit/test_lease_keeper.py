"""The lease keeper renews while a send runs, stops when none does, and outlives a database
that is briefly unreachable."""

from __future__ import annotations

import time
from collections.abc import Sequence

from exchange.leases import LeaseKeeper


class Renewals:
    def __init__(self, *, fail_first: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.fail_first = fail_first

    def __call__(self, ids: Sequence[str]) -> list[str]:
        self.calls.append(list(ids))
        if len(self.calls) <= self.fail_first:
            raise ConnectionError("database restarting")
        return list(ids)


def _idle(keeper: LeaseKeeper) -> bool:
    deadline = time.monotonic() + 2
    while keeper._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    return keeper._thread is None


def test_leases_are_renewed_every_quarter_lease_while_a_send_runs_and_no_longer() -> None:
    renewals = Renewals()
    keeper = LeaseKeeper(renew=renewals, lease_seconds=0.2)
    with keeper.sending("m-1"):
        time.sleep(0.28)
    assert _idle(keeper)
    calls = len(renewals.calls)
    assert calls >= 2 and all(ids == ["m-1"] for ids in renewals.calls)
    time.sleep(0.15)
    assert len(renewals.calls) == calls


def test_two_sends_at_once_are_renewed_together_until_each_ends() -> None:
    renewals = Renewals()
    keeper = LeaseKeeper(renew=renewals, lease_seconds=0.2)
    with keeper.sending("m-1"), keeper.sending("m-2"):
        time.sleep(0.12)
    assert _idle(keeper)
    assert ["m-1", "m-2"] in renewals.calls


def test_a_failed_renewal_is_tried_again_at_the_next_round() -> None:
    renewals = Renewals(fail_first=1)
    keeper = LeaseKeeper(renew=renewals, lease_seconds=0.2)
    with keeper.sending("m-1"):
        time.sleep(0.16)
    assert _idle(keeper)
    assert len(renewals.calls) >= 2
