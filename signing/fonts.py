"""The embedded CJK font. reportlab needs a TrueType (glyf) font: Noto CJK is CFF and
fails, so the default is AR PL UMing from the Debian package fonts-arphic-uming."""

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
            _registered = FONT_NAME
    return _registered
