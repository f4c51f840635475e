"""The hand-encoded material push is exactly what protobuf would send."""

from __future__ import annotations

import os

import pytest

from nodes.wire import encode_push_data, serialize_push
from tongban_pb import common_pb2, peer_pb2


@pytest.mark.parametrize("offset", [0, 1, 127, 128, 1 << 20, 2**40 + 3])
@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_384, 1 << 20])
def test_a_hand_encoded_push_is_protobufs_own_encoding(offset: int, size: int) -> None:
    data = os.urandom(size)
    expected = peer_pb2.MaterialPush(data=peer_pb2.PushData(offset=offset, data=data)).SerializeToString()
    assert encode_push_data(offset, data) == expected
    parsed = peer_pb2.MaterialPush.FromString(encode_push_data(offset, data))
    assert parsed.WhichOneof("part") == "data" and (parsed.data.offset, parsed.data.data) == (offset, data)


def test_the_push_serializer_encodes_a_header_message_and_passes_encoded_data_on() -> None:
    header = peer_pb2.MaterialPush(header=peer_pb2.PushHeader(
        material=common_pb2.MaterialHeader(kind="id_card", sha256="ab" * 32), size=5, offset=0))
    assert serialize_push(header) == header.SerializeToString()
    encoded = encode_push_data(7, b"bytes")
    assert serialize_push(encoded) is encoded
