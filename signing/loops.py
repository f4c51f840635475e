"""pyHanko's synchronous API calls asyncio.run(), which fails inside a running event loop (an
asyncio gRPC server, a notebook). Our sync entry points step out of the loop's thread instead."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_OFF_LOOP = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pyhanko-off-loop")


def outside_event_loop(fn: Callable[[], T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()  # the usual case: a plain thread
    # Blocks the loop for the duration, as any sync call would; async callers that care should
    # use loop.run_in_executor themselves.
    return _OFF_LOOP.submit(fn).result()
