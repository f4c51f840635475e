"""Running pyHanko's async API from synchronous code.

pyHanko's synchronous functions call asyncio.run(), which fails inside a running event loop (an
asyncio gRPC server, a notebook) and builds and tears down an event loop, its selector and its
socket pair for every call: ≈ 0.2 ms of its own against ≈ 0.03 ms on a loop kept open, and
0.6–1.0 ms of a signing worker's CPU per seal or verification once the garbage it leaves is
counted (interleaved rounds in one process). `run_coroutine` runs the async API on this
thread's own loop where one was kept (`keep_a_loop`, which the signing workers do: they make
one call after another in one thread), else the way pyHanko would, and steps out of a running
loop's thread when called inside one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
_OFF_LOOP = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pyhanko-off-loop")
_kept = threading.local()


class _Closable(Protocol):
    async def aclose(self) -> None: ...


def keep_a_loop() -> None:
    """Give this thread an event loop of its own for every later `run_coroutine` call made in
    it. For a thread that lives as long as its process (a signing worker's): the loop is
    closed only with the process."""
    if getattr(_kept, "loop", None) is None:
        _kept.loop = asyncio.new_event_loop()


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]], *, release: tuple[_Closable | None, ...] = ()) -> T:
    """Run the coroutine `make()` returns to its end and return its result. Then, still inside
    the loop that ran it, close what each validation context in `release` opened for itself
    (network sessions), as pyHanko's own synchronous functions do."""

    def run() -> T:
        loop: asyncio.AbstractEventLoop | None = getattr(_kept, "loop", None)
        if loop is None:
            return asyncio.run(_released(make(), release))
        try:
            return loop.run_until_complete(_released(make(), release))
        finally:
            _cancel_leftovers(loop)

    return outside_event_loop(run)


def outside_event_loop(fn: Callable[[], T]) -> T:
    """Call `fn` here, or in another thread when this one runs an event loop (where the
    `run_coroutine` calls inside `fn` could not wait)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()  # the usual case: a plain thread
    # Blocks the loop for the duration, as any sync call would; async callers that care should
    # use loop.run_in_executor themselves.
    return _OFF_LOOP.submit(fn).result()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Tasks a call started and did not wait for end with it, as under asyncio.run, instead of
    running on into the next call."""
    leftovers = asyncio.all_tasks(loop)
    if leftovers:
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


async def _released(work: Awaitable[T], contexts: tuple[_Closable | None, ...]) -> T:
    try:
        return await work
    finally:
        for context in contexts:
            if context is not None:
                await context.aclose()
