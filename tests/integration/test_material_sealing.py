"""The sealed segment format refuses altered, reordered, truncated and extended objects, and a
node key file survives a restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange.errors import MaterialIntegrityError
from storage.sealing import SEALED_SEGMENT, SEGMENT, NodeKeyring, NodeKeyUnavailable, SegmentSealer, open_segments

DATA_KEY = bytes(range(32))
PLAIN = os.urandom(3 * SEGMENT + 1234)


def sealed() -> bytes:
    sealer = SegmentSealer(DATA_KEY)
    return b"".join(sealer.stream([PLAIN[i:i + 70_000] for i in range(0, len(PLAIN), 70_000)]))


def opened(data: bytes) -> bytes:
    return b"".join(open_segments(DATA_KEY, [data[i:i + 4096] for i in range(0, len(data), 4096)], where="test"))


def test_a_sealed_stream_opens_to_the_same_bytes_whatever_the_chunking() -> None:
    assert opened(sealed()) == PLAIN
    assert opened(b"".join(SegmentSealer(DATA_KEY).stream([]))) == b""


def test_two_swapped_segments_are_refused() -> None:
    data = sealed()
    first, second = data[:SEALED_SEGMENT], data[SEALED_SEGMENT:2 * SEALED_SEGMENT]
    with pytest.raises(MaterialIntegrityError, match="segment 0"):
        opened(second + first + data[2 * SEALED_SEGMENT:])


def test_an_object_cut_at_a_segment_boundary_is_refused() -> None:
    with pytest.raises(MaterialIntegrityError, match="truncated"):
        opened(sealed()[: 2 * SEALED_SEGMENT])


def test_an_object_with_a_segment_appended_is_refused() -> None:
    data = sealed()
    with pytest.raises(MaterialIntegrityError):
        opened(data + data[:SEALED_SEGMENT])


def test_a_single_flipped_bit_is_refused() -> None:
    data = bytearray(sealed())
    data[SEGMENT + 5] ^= 0x04
    with pytest.raises(MaterialIntegrityError, match="corrupt"):
        opened(bytes(data))


def test_the_node_key_file_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    ring = NodeKeyring.open(tmp_path / "keys" / "node-keys.json")
    envelope = ring.wrap(DATA_KEY)

    again = NodeKeyring.open(tmp_path / "keys" / "node-keys.json")
    assert again.unwrap(envelope) == DATA_KEY
    assert (tmp_path / "keys" / "node-keys.json").stat().st_mode & 0o077 == 0
    with pytest.raises(NodeKeyUnavailable, match="restore"):
        NodeKeyring.open(tmp_path / "missing.json", create=False)
