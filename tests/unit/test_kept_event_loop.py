"""signing.loops: pyHanko's async API run on a loop kept for the thread (as a signing worker
does), or on a loop of its own per call."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from signing import loops
from signing.pki import Federation
from signing.seal import DepartmentSealer
from signing.verify import verify_sealed_pdf
from tests.fixtures.signing_assets import COMPETENT, make_federation, request


@pytest.fixture
def kept_loop():  # type: ignore[no-untyped-def]
    """This thread keeps a loop for the test, and gives it up after."""
    loops.keep_a_loop()
    loop = loops._kept.loop
    yield loop
    loops._kept.loop = None
    loop.close()


class _Context:
    def __init__(self) -> None:
        self.closed_in: list[asyncio.AbstractEventLoop] = []

    async def aclose(self) -> None:
        self.closed_in.append(asyncio.get_running_loop())


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_calls_in_a_thread_that_kept_a_loop_all_run_on_that_loop(kept_loop: asyncio.AbstractEventLoop) -> None:
    assert loops.run_coroutine(_running_loop) is kept_loop
    assert loops.run_coroutine(_running_loop) is kept_loop


def test_a_thread_that_kept_no_loop_runs_each_call_on_a_loop_of_its_own(kept_loop: asyncio.AbstractEventLoop) -> None:
    seen: list[asyncio.AbstractEventLoop] = []
    other = threading.Thread(target=lambda: seen.extend(loops.run_coroutine(_running_loop) for _ in range(2)))
    other.start()
    other.join()
    assert kept_loop not in seen and len(seen) == 2
    assert all(loop.is_closed() for loop in seen)


def test_a_call_inside_a_running_loop_steps_out_of_its_thread() -> None:
    async def inside() -> asyncio.AbstractEventLoop:
        return loops.run_coroutine(_running_loop)

    outer_loop = asyncio.new_event_loop()
    try:
        assert outer_loop.run_until_complete(inside()) is not outer_loop
    finally:
        outer_loop.close()


def test_validation_contexts_are_released_in_the_loop_that_ran_the_call_even_when_it_fails(
    kept_loop: asyncio.AbstractEventLoop,
) -> None:
    context = _Context()

    async def fails() -> None:
        raise ValueError("the call's own error")

    with pytest.raises(ValueError, match="the call's own error"):
        loops.run_coroutine(fails, release=(context, None))
    assert context.closed_in == [kept_loop]


def test_tasks_a_call_left_running_end_with_it_instead_of_running_into_the_next(
    kept_loop: asyncio.AbstractEventLoop,
) -> None:
    started: list[asyncio.Task[None]] = []

    async def leaves_a_task() -> str:
        started.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))
        return "answered"

    assert loops.run_coroutine(leaves_a_task) == "answered"
    assert started[0].cancelled()
    assert asyncio.all_tasks(kept_loop) == set()


def test_a_seal_made_on_a_kept_loop_verifies_on_it(fed: Federation, kept_loop: asyncio.AbstractEventLoop) -> None:
    sealer = DepartmentSealer(federation=fed, province_code=COMPETENT)
    for _ in range(2):  # the second call on the same loop as the first
        report = verify_sealed_pdf(sealer.issue(request()), trust=fed.trust(), competent_province=COMPETENT,
                                   competent_department="market", issued_sha256=None)
        assert report.passed, report.render()
    assert not kept_loop.is_closed() and asyncio.all_tasks(kept_loop) == set()


@pytest.fixture
def fed(tmp_path: Path) -> Federation:
    return make_federation(tmp_path / "fed")
