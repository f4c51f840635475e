"""Streaming helpers shared by the backends: hash while reading, verify while serving."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType

from exchange.errors import InvalidRequest, MaterialIntegrityError


def take_front(buffer: bytearray, size: int) -> bytes:
    """The first `size` bytes of `buffer`, removed from it: one copy (a slice of a bytearray is a
    copy of its own, which bytes() would copy again)."""
    with memoryview(buffer) as view:
        front = bytes(view[:size])
    del buffer[:size]
    return front


def check_chunk_size(chunk_size: int) -> None:
    if not isinstance(chunk_size, int) or chunk_size <= 0:
        raise InvalidRequest(
            "chunk_size", f"must be a positive number of bytes, got {chunk_size!r}"
        )


class HashingReader:
    """A read-only file-like view over an iterable of chunks that hashes what it hands out.

    Memory is bounded by the largest read request plus one chunk, whatever the stream size.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._exhausted = False
        self._hash = hashlib.sha256()
        self.size = 0
        self.failure: BaseException | None = None  # what the source iterator raised, if anything

    def read(self, size: int = -1) -> bytes:
        while not self._exhausted and (size < 0 or len(self._buffer) < size):
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._exhausted = True
                break
            except BaseException as exc:
                self.failure = exc
                raise
            self._hash.update(chunk)
            self.size += len(chunk)
            self._buffer += chunk
        if size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = take_front(self._buffer, size)
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class VerifiedChunks(Iterator[bytes]):
    """Chunks of a stored object, checked against its SHA-256 as they are served.

    Raises MaterialIntegrityError after the last chunk if the stored bytes no longer hash to
    their key (bit rot, tampering), so a consumer streaming them on must abort what it sent.
    `verify=False` serves them unchecked, for a consumer whose receiver checks them itself.
    The underlying file or HTTP response is released on exhaustion, on error, on close() and
    when used as a context manager.
    """

    def __init__(
        self, source: Iterator[bytes], *, sha256: str, where: str, release: Callable[[], None],
        verify: bool = True,
    ) -> None:
        self._source = source
        self._sha256 = sha256
        self._where = where
        self._release: Callable[[], None] | None = release
        self._hash = hashlib.sha256() if verify else None

    def __next__(self) -> bytes:
        if self._release is None:
            raise StopIteration
        try:
            chunk = next(self._source)
        except StopIteration:
            self.close()
            if self._hash is not None and (actual := self._hash.hexdigest()) != self._sha256:
                raise MaterialIntegrityError(
                    f"stored material {self._sha256} in {self._where} now hashes to {actual}; "
                    "the copy is corrupt — restore it from a replica or ask the sender to resend"
                ) from None
            raise
        except BaseException:
            self.close()
            raise
        if self._hash is not None:
            self._hash.update(chunk)
        return chunk

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> VerifiedChunks:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:  # a consumer that stops early still frees the connection
        try:
            self.close()
        except Exception:
            pass


class TalliedChunks(Iterator[bytes]):
    """Pass chunks through while hashing and counting them (the plaintext side of a put)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._hash = hashlib.sha256()
        self.size = 0

    def __next__(self) -> bytes:
        chunk = next(self._chunks)
        self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
