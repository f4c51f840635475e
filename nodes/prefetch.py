"""Run the producer of a stream in a thread of its own, a few items ahead of its consumer.

A material transfer is a chain of per-byte work: the sender reads, opens (AES-GCM) and hashes
stored segments, then gRPC frames and encrypts (TLS) them; the receiver decrypts TLS, then hashes,
seals and writes. Run in one thread, each stage waits for the others. SHA-256, AES-GCM, socket
and file I/O all release the GIL on large buffers, so two threads keep two cores busy: the
producer fills a bounded queue while the consumer works on what is already there. The bound
keeps memory independent of the stream's length (depth × item size).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
_POLL = 0.1  # seconds: how often a blocked producer checks whether its consumer went away


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetched(Iterator[T], Generic[T]):
    """Iterate `items` in a background thread, at most `depth` items ahead. Whatever the
    producer raises is raised here, in order, after the items before it. close() (or leaving a
    `with` block, or garbage collection) stops the producer at its next item."""

    def __init__(self, items: Iterable[T], *, depth: int, name: str) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _produce(self, items: Iterable[T]) -> None:
        source = iter(items)
        try:
            for item in source:
                if not self._offer(item):
                    return
            self._offer(_DONE)
        except BaseException as exc:  # handed to the consumer, who decides what it means
            self._offer(_Failure(exc))
        finally:
            close = getattr(source, "close", None)
            if self._stopped.is_set() and close is not None:
                close()

    def _offer(self, item: object) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if item is _DONE:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._finished = True
            raise item.exc
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._finished = True
        self._stopped.set()

    def __enter__(self) -> Prefetched[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self._stopped.set()


class Inline(Iterator[T], Generic[T]):
    """The same interface over `items`, iterated and closed in the caller's thread only. (Not
    for a request stream a gRPC client sends: gRPC iterates that in a thread of its own.)"""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = iter(items)

    def __next__(self) -> T:
        return next(self._items)

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Inline[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_ahead(items: Iterable[T], *, messages: int, depth: int, name: str) -> Prefetched[T] | Inline[T]:
    """Prefetched when the stream has more than one message to overlap; a stream of one has
    nothing to overlap, and a thread of its own would only add its start and two hand-offs
    (most materials are under 1 MiB, one message). The receiving node's side of a push."""
    if messages <= 1:
        return Inline(items)
    return Prefetched(items, depth=depth, name=name)
