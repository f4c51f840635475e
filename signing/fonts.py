"""The embedded CJK font. reportlab needs a TrueType (glyf) font: Noto CJK is CFF and
fails, so the default is AR PL UMing from the Debian package fonts-arphic-uming.

Registering it also sets reportlab's Flate compression to zlib level 1. Each certificate embeds
a subset of the font (≈ 80 KB before compression) that reportlab compresses at zlib's default
level 6: 1.4 ms of a 4.9 ms render. Level 1 renders in 3.5 ms for a file 9% larger (46 → 50 KB);
any PDF reader decodes both alike."""

from __future__ import annotations

import os
import threading
from pathlib import Path

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
                pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
            except Exception as exc:  # reportlab raises its own TTFError and plain errors
                raise SigningError(
                    f"CJK font {path} cannot be used by reportlab ({exc}); TONGBAN_CJK_FONT must "
                    "name a TrueType CJK font such as /usr/share/fonts/truetype/arphic/uming.ttc"
                ) from exc
            _compress_quickly()
            _registered = FONT_NAME
    return _registered


def _compress_quickly() -> None:
    """reportlab looks its Flate filter up as pdfdoc.PDFZCompress at every stream it writes."""
    import zlib

    from reportlab.pdfbase import pdfdoc

    class QuickFlate(pdfdoc.PDFStreamFilterZCompress):  # type: ignore[misc]
        def encode(self, text: str | bytes) -> bytes:
            return zlib.compress(text.encode("utf8") if isinstance(text, str) else text, 1)

    if type(pdfdoc.PDFZCompress) is pdfdoc.PDFStreamFilterZCompress:
        pdfdoc.PDFZCompress = QuickFlate()
