"""The embedded CJK font. reportlab needs a TrueType (glyf) font: Noto CJK is CFF and
fails, so the default is AR PL UMing from the Debian package fonts-arphic-uming.

Registering it also sets reportlab's Flate compression to zlib level 1. Each certificate embeds
a subset of the font (≈ 80 KB before compression) that reportlab compresses at zlib's default
level 6: 1.4 ms of a 4.9 ms render. Level 1 renders in 3.5 ms for a file 9% larger (46 → 50 KB);
any PDF reader decodes both alike.

It also keeps reportlab from copying the font's whole glyph table for every subset: its subsetter
asks for the `glyf` table (17 MB in AR PL UMing) and slices the few glyphs a certificate uses
out of the copy, 1.4 ms of each 4.7 ms render. The face answers that one table with a view whose
slices are the same bytes, so only the glyphs used are copied."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from signing.errors import SigningError

DEFAULT_FONT_PATH = "/usr/share/fonts/truetype/arphic/uming.ttc"
FONT_NAME = "TongbanCJK"

_lock = threading.Lock()
_registered: str | None = None


def font_path() -> Path:
    return Path(os.environ.get("TONGBAN_CJK_FONT", DEFAULT_FONT_PATH))


def cjk_font() -> str:
    """Register the CJK font with reportlab (once per process) and return its name."""
    global _registered
    if _registered is not None:
        return _registered
    with _lock:
        if _registered is None:
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFont

            path = font_path()
            if not path.is_file():
                raise SigningError(
                    f"CJK font {path} not found: install it with `apt-get install fonts-arphic-uming` "
                    "or point TONGBAN_CJK_FONT at a TrueType (not CFF/OTF) CJK font"
                )
            try:
                font = TTFont(FONT_NAME, str(path), subfontIndex=0)
            except Exception as exc:  # reportlab raises its own TTFError and plain errors
                raise SigningError(
                    f"CJK font {path} cannot be used by reportlab ({exc}); TONGBAN_CJK_FONT must "
                    "name a TrueType CJK font such as /usr/share/fonts/truetype/arphic/uming.ttc"
                ) from exc
            _slice_glyphs_in_place(font.face)
            pdfmetrics.registerFont(font)
            _compress_quickly()
            _registered = FONT_NAME
    return _registered


class _GlyphTable:
    """A font table read in place: a slice of it is `bytes`, as a slice of a copied table is.
    reportlab's subsetter only slices the glyph table; anything else fails loudly here rather
    than quietly differently."""

    __slots__ = ("_view",)

    def __init__(self, view: memoryview) -> None:
        self._view = view

    def __getitem__(self, index: slice) -> bytes:
        if not isinstance(index, slice):
            raise TypeError("the glyph table is read by slices only")
        return self._view[index].tobytes()

    def __len__(self) -> int:
        return len(self._view)


def _slice_glyphs_in_place(face: Any) -> None:
    whole = face.get_table
    data = memoryview(face._ttf_data)

    def get_table(tag: str) -> Any:
        if tag != "glyf":
            return whole(tag)
        pos, length = face.get_table_pos(tag)
        return _GlyphTable(data[pos:pos + length])

    face.get_table = get_table


def _compress_quickly() -> None:
    """reportlab looks its Flate filter up as pdfdoc.PDFZCompress at every stream it writes."""
    import zlib

    from reportlab.pdfbase import pdfdoc

    class QuickFlate(pdfdoc.PDFStreamFilterZCompress):  # type: ignore[misc]
        def encode(self, text: str | bytes) -> bytes:
            return zlib.compress(text.encode("utf8") if isinstance(text, str) else text, 1)

    if type(pdfdoc.PDFZCompress) is pdfdoc.PDFStreamFilterZCompress:
        pdfdoc.PDFZCompress = QuickFlate()
