"""The visible seal: a red round official seal drawn from the department's name."""

from __future__ import annotations

import atexit
import hashlib
import io
import math
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from pyhanko.stamp import StaticStampStyle
from reportlab.lib.colors import HexColor
from reportlab.pdfgen import canvas

from signing.fonts import cjk_font

SEAL_RED = HexColor("#D0021B")
SIZE = 120.0  # points; the seal box on the page has the same size, so nothing is rescaled

_lock = threading.Lock()
_cache_dir: Path | None = None


def seal_pdf(*, department_name: str, purpose: str = "电子印章", size: float = SIZE) -> bytes:
    """A one-page PDF exactly `size` points square holding the seal."""
    font = cjk_font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(size, size), invariant=True, pageCompression=1)
    cx = cy = size / 2
    r = size / 2 - 3
    c.setStrokeColor(SEAL_RED)
    c.setFillColor(SEAL_RED)
    c.setLineWidth(size * 0.03)
    c.circle(cx, cy, r, stroke=1, fill=0)

    _star(c, cx=cx, cy=cy, outer=size * 0.15)

    # The name runs clockwise along the upper arc, each character upright towards the rim,
    # as carved seals do. Wider spacing for short names, capped so long names still fit.
    n = max(len(department_name), 1)
    span = min(240.0, 22.0 * n + 20.0)
    font_size = min(size * 0.14, 0.95 * (r * 0.78) * math.radians(span) / n)
    text_radius = r * 0.78
    c.setFont(font, font_size)
    for i, ch in enumerate(department_name):
        angle = 90 + span / 2 - (span * (i + 0.5) / n)
        theta = math.radians(angle)
        c.saveState()
        c.translate(cx + text_radius * math.cos(theta), cy + text_radius * math.sin(theta))
        c.rotate(angle - 90)
        c.drawCentredString(0, -font_size * 0.35, ch)
        c.restoreState()

    c.setFont(font, size * 0.085)
    c.drawCentredString(cx, cy - size * 0.27, purpose)
    c.showPage()
    c.save()
    return buf.getvalue()


def _star(c: canvas.Canvas, *, cx: float, cy: float, outer: float) -> None:
    inner = outer * 0.382  # golden-ratio star, as on official seals
    path = c.beginPath()
    for k in range(10):
        radius = outer if k % 2 == 0 else inner
        theta = math.radians(90 + 36 * k)
        x, y = cx + radius * math.cos(theta), cy + radius * math.sin(theta)
        if k == 0:
            path.moveTo(x, y)
        else:
            path.lineTo(x, y)
    path.close()
    c.drawPath(path, stroke=0, fill=1)


def _directory() -> Path:
    global _cache_dir
    with _lock:
        if _cache_dir is None:
            _cache_dir = Path(tempfile.mkdtemp(prefix="tongban-seals-"))
            atexit.register(shutil.rmtree, _cache_dir, True)
        return _cache_dir


@lru_cache(maxsize=256)
def seal_style(*, department_name: str, purpose: str = "电子印章") -> StaticStampStyle:
    """pyHanko imports a stamp background from a file, so the seal PDF is written once per
    department into a private temporary folder and the style is cached in memory."""
    data = seal_pdf(department_name=department_name, purpose=purpose)
    path = _directory() / f"{hashlib.sha256(data).hexdigest()[:32]}.pdf"
    if not path.exists():
        path.write_bytes(data)
    # Slightly transparent so the department name and date printed under it stay legible.
    return StaticStampStyle.from_pdf_file(str(path), border_width=0, background_opacity=0.88)
