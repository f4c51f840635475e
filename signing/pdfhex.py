"""A faster reader for PDF hex strings, for pyHanko's parser.

pyHanko 0.38 reads a hex string one character at a time through Python calls; a seal's
/Contents is one (≈ 8,500 hex digits), and that loop is about a fifth of a verification's CPU.
`install()` puts in front of it a reader that takes the digits in one slice and decodes them
with binascii. It answers exactly as pyHanko's own reader does or hands over to it: anything
other than hex digits and PDF whitespace (a comment, a stray character, a truncated file) is
left to pyHanko, whose errors and results stay the reference.

Installed by the node's wiring (main process and signing workers), not on import, so that
benchmarks of bare pyHanko in the same process stay bare."""

from __future__ import annotations

import binascii
import re
import threading
from typing import Any

from pyhanko.pdf_utils import generic

_DIGITS_AND_SPACE = re.compile(rb"[0-9A-Fa-f \n\r\t\f\x00]*")
_SPACE = b" \n\r\t\f\x00"
_BLOCK = 1 << 16

_original: Any = None
_lock = threading.Lock()


def read_hex_string(stream: Any) -> Any:
    start = stream.tell()
    stream.read(1)  # the opening '<'
    body = bytearray()
    while True:
        block = stream.read(_BLOCK)
        end = block.find(b">")
        if end >= 0:
            body += block[:end]
            break
        body += block
        if len(block) < _BLOCK:  # the file ends inside the string: pyHanko says how
            return _fall_back(stream, start)
    if _DIGITS_AND_SPACE.fullmatch(body) is None:
        return _fall_back(stream, start)
    stream.seek(start + 1 + len(body) + 1)  # just after the closing '>'
    digits = bytes(body).translate(None, _SPACE)
    if len(digits) % 2:
        digits += b"0"  # PDF: a final odd digit is followed by an implied 0
    return generic.pdf_string(binascii.unhexlify(digits))


def _fall_back(stream: Any, start: int) -> Any:
    stream.seek(start)
    return (_original or generic.read_hex_string_from_stream)(stream)


def install() -> None:
    """Idempotent; safe from any thread."""
    global _original
    with _lock:
        if _original is None:
            _original = generic.read_hex_string_from_stream
            generic.read_hex_string_from_stream = read_hex_string
