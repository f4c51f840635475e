"""The result certificate: one A4 page in Chinese, drawn with reportlab and an embedded CJK font."""

from __future__ import annotations

import io

from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from exchange.ports import CertificateRequest
from signing.fonts import cjk_font
from signing.templates import template_for, verification_line

PAGE_WIDTH, PAGE_HEIGHT = A4
# Where the department name and date sit, bottom right; the seal is stamped over them as on
# paper. 120 pt is about 42 mm, the diameter of a government seal.
_SEAL_CENTRE = (PAGE_WIDTH - 150.0, 190.0)
_SEAL_SIZE = 120.0
SEAL_BOX: tuple[float, float, float, float] = (
    _SEAL_CENTRE[0] - _SEAL_SIZE / 2, _SEAL_CENTRE[1] - _SEAL_SIZE / 2,
    _SEAL_CENTRE[0] + _SEAL_SIZE / 2, _SEAL_CENTRE[1] + _SEAL_SIZE / 2,
)
_INK = HexColor("#1A1A1A")
_MUTED = HexColor("#555555")
_LEFT, _RIGHT = 90.0, PAGE_WIDTH - 72.0  # text stays inside the rule drawn under the title
# Chinese typesetting (禁则): these never begin a line; they stay at the end of the one before.
_NO_LINE_START = frozenset("，。、；：？！）」』”’》〉】")
# The department's name is centred under the seal; wider than this, it would leave the page.
_NAME_WIDTH = 2 * (PAGE_WIDTH - 36.0 - _SEAL_CENTRE[0])


def wrap(text: str, *, font: str, size: float, width: float) -> list[str]:
    """Lines of `text` no wider than `width`, broken between characters as Chinese is; a
    closing punctuation mark stays with the character before it (it may hang in the margin)."""
    lines: list[str] = []
    line, used = "", 0.0
    for ch in text:
        advance = stringWidth(ch, font, size)  # a TrueType CJK font has no kerning: widths add up
        if line and ch not in _NO_LINE_START and used + advance > width:
            lines.append(line)
            line, used = "", 0.0
        line += ch
        used += advance
    return [*lines, line]


def _chinese_date(request: CertificateRequest) -> str:
    d = request.issued_on
    return f"{d.year}年{d.month}月{d.day}日"


def render_certificate(request: CertificateRequest, *, province_name: str) -> bytes:
    """One page in the template for the matter's kind (licence, registration, query printout)."""
    template = template_for(request)
    font = cjk_font()
    buf = io.BytesIO()
    # invariant: no timestamps or random IDs, so the same request renders the same bytes.
    c = canvas.Canvas(buf, pagesize=A4, invariant=True, pageCompression=1)
    c.setTitle(f"{template.title} {request.case_number}")
    c.setAuthor(request.department_name)
    c.setSubject(request.matter_name)
    c.setKeywords(verification_line(request))
    c.setFillColor(_INK)

    c.setFont(font, 24)
    c.drawCentredString(PAGE_WIDTH / 2, PAGE_HEIGHT - 110, template.title)
    c.setFont(font, 12)
    c.setFillColor(_MUTED)
    c.drawCentredString(PAGE_WIDTH / 2, PAGE_HEIGHT - 135, f"{province_name} · {request.department_name}")
    c.setStrokeColor(HexColor("#B00000"))
    c.setLineWidth(1.2)
    c.line(72, PAGE_HEIGHT - 150, PAGE_WIDTH - 72, PAGE_HEIGHT - 150)

    c.setFillColor(_INK)
    c.setFont(font, 13)
    rows = (
        ("案件编号", request.case_number),
        ("事项名称", f"{request.matter_name}（{request.matter_code}）"),
        ("申 请 人", request.applicant_name),
        ("证件号码", request.applicant_id_masked),
        (template.result_label, template.result_text),
        ("承办部门", request.department_name),
        ("办结日期", _chinese_date(request)),
        ("校 验 码", request.verification_code),
    )
    y = PAGE_HEIGHT - 200
    for label, value in rows:
        c.drawString(_LEFT, y, f"{label}：")
        for part in wrap(value, font=font, size=13, width=_RIGHT - 180):
            c.drawString(180, y, part)
            y -= 18
        y -= 14  # 32 between rows, 18 between the lines of one

    c.setFont(font, 12)
    body = tuple(line.format(applicant_name=request.applicant_name, matter_name=request.matter_name,
                             department_name=request.department_name) for line in template.body)
    y -= 16
    for paragraph in body:
        for line in wrap(paragraph, font=font, size=12, width=_RIGHT - _LEFT):
            c.drawString(_LEFT, y, line)
            y -= 22

    # The signing department's name under the seal: a long name is set smaller rather than
    # running off the page (the seal is about 120 pt wide; the name may be wider, as on paper).
    name_size = min(13.0, 13.0 * _NAME_WIDTH / stringWidth(request.department_name, font, 13))
    c.setFont(font, name_size)
    c.drawCentredString(_SEAL_CENTRE[0], _SEAL_CENTRE[1] + 8, request.department_name)
    c.setFont(font, 13)
    c.drawCentredString(_SEAL_CENTRE[0], _SEAL_CENTRE[1] - 16, _chinese_date(request))

    c.setFont(font, 9)
    c.setFillColor(_MUTED)
    c.line(72, 80, PAGE_WIDTH - 72, 80)
    c.drawCentredString(PAGE_WIDTH / 2, 64, template.footer)
    c.drawCentredString(PAGE_WIDTH / 2, 50, f"案件 {request.case_number} · 校验码 {request.verification_code} · "
                                            f"{template.kind.value}")
    c.showPage()
    c.save()
    return buf.getvalue()
