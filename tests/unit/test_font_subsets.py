"""The embedded font's subsets: read from the glyph table in place, the same bytes as reportlab's own."""

from __future__ import annotations

import struct

import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFontFace

from signing.fonts import cjk_font, font_path

CERTIFICATE_TEXT = "准予行政许可决定书营业执照遗失补领、换发浙江省市场监督管理局王小明０１２３ABCxyz，。“”"


def composite_glyph_codes(face: TTFontFace, limit: int = 3) -> list[int]:
    """Characters whose glyphs are made of other glyphs (the subsetter renumbers their parts)."""
    start = face.get_table_pos("glyf")[0]
    found = []
    for code, glyph in face.charToGlyph.items():
        position = face.glyphPos[glyph]
        if face.glyphPos[glyph + 1] - position > 2:
            contours = struct.unpack(">h", face._ttf_data[start + position:start + position + 2])[0]
            if contours < 0:
                found.append(code)
                if len(found) == limit:
                    break
    return found


def test_a_subset_is_byte_for_byte_what_reportlab_makes_from_a_copied_table() -> None:
    face = pdfmetrics.getFont(cjk_font()).face
    plain = TTFontFace(str(font_path()), subfontIndex=0)  # reportlab's own, copying the table
    subset = sorted({ord(c) for c in CERTIFICATE_TEXT} | set(composite_glyph_codes(plain)))
    assert face.makeSubset(subset) == plain.makeSubset(subset)


def test_the_glyph_table_is_read_by_slices_only() -> None:
    table = pdfmetrics.getFont(cjk_font()).face.get_table("glyf")
    assert isinstance(table[0:4], bytes) and len(table) > 1_000_000
    with pytest.raises(TypeError, match="slices only"):
        table[0]
