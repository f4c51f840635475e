"""signing.pdfhex reads PDF hex strings exactly as pyHanko's own reader does, or hands over to it."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError

from signing import pdfhex

ORIGINAL = pdfhex._original or generic.read_hex_string_from_stream

# Mostly hex digits and PDF whitespace, sometimes a comment, a stray byte or a missing '>'.
hexish = st.lists(st.sampled_from(list(b"0123456789abcdefABCDEF \n\r\t\f\x00") * 4 + list(b"%gZ<(")),
                  max_size=300).map(bytes)


def _read(reader, data: bytes):  # type: ignore[no-untyped-def]
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except (PdfReadError, ValueError) as exc:
        return ("error", type(exc)), stream.tell()
    return (type(value), bytes(value) if isinstance(value, generic.ByteStringObject) else str(value)), stream.tell()


@settings(max_examples=400, deadline=None)
@given(body=hexish, closed=st.booleans(), tail=st.binary(max_size=8))
def test_the_fast_reader_answers_as_pyhanko_does(body: bytes, closed: bool, tail: bytes) -> None:
    data = b"<" + body + (b">" + tail if closed else b"")
    expected = _read(ORIGINAL, data)
    if expected[0][0] == "error":
        assert _read(pdfhex.read_hex_string, data)[0] == expected[0]
    else:
        assert _read(pdfhex.read_hex_string, data) == expected


def test_a_signature_sized_string_is_read_in_one_piece() -> None:
    raw = bytes(range(256)) * 17
    data = b"<" + raw.hex().encode() + b"00" * 700 + b">/Type"
    stream = io.BytesIO(data)
    value = pdfhex.read_hex_string(stream)
    assert bytes(value) == raw + bytes(700)
    assert stream.read() == b"/Type"


@pytest.mark.parametrize("data", [b"<0A1 % a comment\n B>", b"<0A1G>", b"<0A1B"])
def test_anything_unusual_is_left_to_pyhanko(data: bytes) -> None:
    assert _read(pdfhex.read_hex_string, data)[0] == _read(ORIGINAL, data)[0]


def test_installing_twice_keeps_pyhanko_reader_as_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generic, "read_hex_string_from_stream", generic.read_hex_string_from_stream)
    monkeypatch.setattr(pdfhex, "_original", pdfhex._original)
    pdfhex.install()
    pdfhex.install()
    assert pdfhex._original is not pdfhex.read_hex_string
    assert generic.read_hex_string_from_stream is pdfhex.read_hex_string
