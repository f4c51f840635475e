"""The pieces that keep a material transfer fast: read-ahead threads, message coalescing and
opening sealed records without copies — each must hand on exactly the bytes, in order."""

from __future__ import annotations

import os
import threading
import time

import pytest

from exchange.errors import MaterialIntegrityError
from nodes.peers import coalesced
from nodes.prefetch import Inline, Prefetched, read_ahead
from storage.sealing import SEALED_SEGMENT, SEGMENT, SegmentSealer, open_segments


def test_prefetched_hands_on_every_item_in_order() -> None:
    assert list(Prefetched(iter(range(100)), depth=3, name="t")) == list(range(100))


def test_prefetched_raises_what_the_producer_raised_after_the_items_before_it() -> None:
    def items():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise MaterialIntegrityError("the stored copy is corrupt")

    ahead = Prefetched(items(), depth=8, name="t")
    assert next(ahead) == 1 and next(ahead) == 2
    with pytest.raises(MaterialIntegrityError, match="corrupt"):
        next(ahead)
    with pytest.raises(StopIteration):
        next(ahead)


def test_prefetched_stays_at_most_depth_items_ahead_and_stops_when_closed() -> None:
    taken: list[int] = []
    closed = threading.Event()

    def items():  # type: ignore[no-untyped-def]
        try:
            for i in range(1000):
                taken.append(i)
                yield i
        finally:
            closed.set()

    ahead = Prefetched(items(), depth=2, name="t")
    assert next(ahead) == 0
    time.sleep(0.3)
    assert len(taken) <= 4  # the one handed out, two queued, one waiting to be queued
    ahead.close()
    assert closed.wait(2), "the producer was not stopped"
    assert len(taken) <= 5


def test_a_stream_of_one_message_is_read_in_the_callers_thread_and_closed_with_it() -> None:
    threads: list[str] = []
    closed: list[bool] = []

    def one() -> object:
        try:
            threads.append(threading.current_thread().name)
            yield b"the whole material"
        finally:
            closed.append(True)

    with read_ahead(one(), messages=1, depth=3, name="receive-x") as ahead:
        assert isinstance(ahead, Inline)
        assert next(ahead) == b"the whole material"
    assert threads == [threading.current_thread().name] and closed == [True]


def test_a_stream_of_several_messages_is_read_ahead_in_a_thread_of_its_own() -> None:
    with read_ahead(iter([b"a", b"b", b"c"]), messages=3, depth=2, name="receive-y") as ahead:
        assert isinstance(ahead, Prefetched) and list(ahead) == [b"a", b"b", b"c"]


@pytest.mark.parametrize("sizes", [[10, 20, 30], [SEGMENT] * 3, [SEGMENT + 5, 7, SEGMENT * 2 - 12], [3]])
def test_coalesced_cuts_the_same_bytes_into_whole_messages(sizes: list[int]) -> None:
    chunks = [os.urandom(n) for n in sizes]
    pieces = list(coalesced(chunks, size=SEGMENT))
    assert b"".join(pieces) == b"".join(chunks)
    assert all(len(p) == SEGMENT for p in pieces[:-1]) and 0 < len(pieces[-1]) <= SEGMENT


@pytest.mark.parametrize("plain_size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT])
@pytest.mark.parametrize("read_size", [SEALED_SEGMENT, 1 << 20, 4096, 3 * SEALED_SEGMENT + 7])
def test_open_segments_reads_back_any_size_whatever_the_read_size(plain_size: int, read_size: int) -> None:
    key, plain = os.urandom(32), os.urandom(plain_size)
    sealed = b"".join(SegmentSealer(key).stream([plain]))
    pieces = [sealed[at:at + read_size] for at in range(0, len(sealed), read_size)]
    assert b"".join(open_segments(key, pieces, where="test")) == plain


@pytest.mark.parametrize("cut", [SEALED_SEGMENT, SEALED_SEGMENT * 2])
def test_open_segments_refuses_a_copy_cut_at_a_record_boundary(cut: int) -> None:
    key = os.urandom(32)
    sealed = b"".join(SegmentSealer(key).stream([os.urandom(3 * SEGMENT)]))
    with pytest.raises(MaterialIntegrityError):
        b"".join(open_segments(key, [sealed[:cut]], where="test"))


@pytest.mark.parametrize("cuts", [[], [SEGMENT], [1, SEGMENT], [SEGMENT - 1, 2 * SEGMENT + 1], [70_000, 2 * SEGMENT],
                                  [SEGMENT, 2 * SEGMENT, 3 * SEGMENT]])
def test_a_sealed_stream_is_the_same_whatever_the_chunking(cuts: list[int]) -> None:
    key, plain = os.urandom(32), os.urandom(3 * SEGMENT)
    chunks = [plain[a:b] for a, b in zip([0, *cuts], [*cuts, len(plain)])]
    assert b"".join(SegmentSealer(key).stream(chunks)) == b"".join(SegmentSealer(key).stream([plain]))


def test_the_sealer_keeps_no_view_into_a_buffer_its_caller_reuses() -> None:
    key, plain = os.urandom(32), os.urandom(2 * SEGMENT)
    sealer, reused, out = SegmentSealer(key), bytearray(SEGMENT), []
    for at in (0, SEGMENT):
        reused[:] = plain[at:at + SEGMENT]
        out.append(sealer.update(reused))
    reused[:] = bytes(SEGMENT)  # the caller's next read; the held segment must not change with it
    out.append(sealer.finish())
    assert b"".join(open_segments(key, [b"".join(out)], where="test")) == plain


def test_the_sealer_refuses_what_is_not_bytes_like() -> None:
    with pytest.raises(TypeError):
        SegmentSealer(os.urandom(32)).update(5)  # type: ignore[arg-type]  # bytes(5) would be five zero bytes
