"""Realistic small application materials for demos and tests: a scanned ID card (PNG)
and a signed application form (PDF)."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import date


def _png(width: int, height: int, pixel) -> bytes:  # type: ignore[no-untyped-def]
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")


def scanned_id_card(seed: int = 7) -> bytes:
    """A 428x270 'scan' of an ID card: pale card, photo box, text lines, scanner noise."""

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        noise = ((x * 31 + y * 17 + seed) * 2654435761 >> 24) & 7
        if 300 <= x <= 400 and 40 <= y <= 170:  # photo
            return (150 + noise, 160 + noise, 175 + noise)
        if 30 <= x <= 260 and any(y0 <= y <= y0 + 8 for y0 in (50, 80, 110, 140, 200)):
            return (60 + noise, 60 + noise, 70 + noise)  # printed lines
        if x < 6 or y < 6 or x > 421 or y > 263:
            return (120, 120, 120)
        return (232 + noise, 238 + noise, 228 + noise)

    return _png(428, 270, pixel)


def signed_application_form(*, applicant: str, id_masked: str, matter: str, font_name: str | None = None) -> bytes:
    """An application form with the applicant's handwritten-looking signature."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from signing.fonts import cjk_font

    font = font_name or cjk_font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)
    width, height = A4
    c.setFont(font, 20)
    c.drawCentredString(width / 2, height - 90, f"{matter}申请书")
    c.setFont(font, 12)
    y = height - 150
    for label, value in (
        ("申请事项", matter), ("申请人", applicant), ("证件号码", id_masked),
        ("申请方式", "异地代收代办（跨省通办窗口）"), ("申请日期", date.today().isoformat()),
    ):
        c.drawString(80, y, f"{label}：{value}")
        y -= 28
    c.drawString(80, y - 10, "本人承诺所提交材料真实有效，如有虚假愿承担相应法律责任。")
    c.drawString(330, 180, "申请人（签字）：")
    c.setStrokeColorRGB(0.05, 0.1, 0.45)
    c.setLineWidth(1.6)
    p = c.beginPath()
    p.moveTo(430, 178)
    for i, (dx, dy) in enumerate([(8, 14), (6, -18), (10, 10), (7, -6), (12, 12), (9, -15), (14, 5)]):
        p.curveTo(430 + i * 10, 178 + dy, 436 + i * 10 + dx, 178 - dy / 2, 440 + i * 10 + dx, 178)
    c.drawPath(p)
    c.showPage()
    c.save()
    return buf.getvalue()
