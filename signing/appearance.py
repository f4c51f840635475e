"""The visible seal: a red round official seal drawn from the department's name."""

from __future__ import annotations

import binascii
import io
import math
import threading
import uuid
from functools import lru_cache

from pyhanko.pdf_utils.content import ImportedPdfPage
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.stamp import StaticStampStyle
from reportlab.lib.colors import HexColor
from reportlab.pdfgen import canvas

from signing.fonts import cjk_font

SEAL_RED = HexColor("#D0021B")
SIZE = 120.0  # points; the seal box on the page has the same size, so nothing is rescaled


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


class _SealSource:
    """The seal drawing, parsed once. A reader works on one stream, so imports take turns."""

    def __init__(self, data: bytes) -> None:
        self.reader = PdfFileReader(io.BytesIO(data))
        self.lock = threading.Lock()


class _SealImage(ImportedPdfPage):
    """What pyHanko's ImportedPdfPage does (the first page of the seal PDF as a form XObject
    in the document being sealed), from a source parsed once instead of a file read and parsed
    at every seal. There is one per seal: a content object keeps the XObjects it placed in its
    resources and remembers its writer, so one shared between seals made every seal carry the
    XObject names of all earlier ones, and threads sealing at once would swap writers."""

    def __init__(self, source: _SealSource) -> None:
        super().__init__(file_name="<seal>")
        self._source = source

    def render(self) -> bytes:
        with self._source.lock:
            xobj = self._ensure_writer.import_page_as_xobject(self._source.reader, page_ix=0)
        resource_name = b"/Import" + binascii.hexlify(uuid.uuid4().bytes)
        self.resources.xobject[resource_name.decode("ascii")] = xobj
        x1, y1, x2, y2 = xobj.get_object()["/BBox"]
        self.box = BoxConstraints(width=abs(x1 - x2), height=abs(y1 - y2))
        return resource_name + b" Do"


@lru_cache(maxsize=256)
def _seal_source(department_name: str, purpose: str) -> _SealSource:
    return _SealSource(seal_pdf(department_name=department_name, purpose=purpose))


def seal_style(*, department_name: str, purpose: str = "电子印章") -> StaticStampStyle:
    """A fresh style per seal around the department's seal drawing, drawn and parsed once."""
    # Slightly transparent so the department name and date printed under it stay legible.
    return StaticStampStyle(background=_SealImage(_seal_source(department_name, purpose)), border_width=0,
                            background_opacity=0.88)
