"""Result certificates per kind of matter, each carrying its case and verification code."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from signing.render import render_certificate
from signing.templates import ResultKind, kind_of
from tests.fixtures.signing_assets import request


@pytest.mark.parametrize(("matter", "kind"), [
    ("营业执照遗失补领、换发", ResultKind.LICENCE),
    ("开具户籍类证明", ResultKind.QUERY_PRINTOUT),
    ("失业登记", ResultKind.REGISTRATION),
    ("户口迁移", ResultKind.REGISTRATION),
    ("社会保障卡信息查询", ResultKind.QUERY_PRINTOUT),
    ("医师执业许可", ResultKind.LICENCE),
])
def test_each_matter_gets_the_template_of_its_kind(matter: str, kind: ResultKind) -> None:
    assert kind_of(matter) is kind


def text_of(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(("matter", "title"), [
    ("营业执照遗失补领、换发", "准予行政许可决定书"),
    ("失业登记", "登记（迁移）办理证明"),
    ("开具户籍类证明", "查询结果证明（打印件）"),
])
def test_the_rendered_page_says_what_kind_of_result_it_is_and_carries_the_verification_code(
    matter: str, title: str, tmp_path: Path,
) -> None:
    pdf = render_certificate(request(matter_name=matter), province_name="浙江省")
    text = text_of(pdf, tmp_path)
    assert title in text and "7Q4K-9XW2-MD3P" in text and "KS-330000-20251123-000042" in text, text
    info = PdfFileReader(io.BytesIO(pdf)).trailer["/Info"]
    assert "code=7Q4K-9XW2-MD3P" in str(info["/Keywords"]) and "case=KS-330000-20251123-000042" in str(info["/Keywords"])


def test_rendering_is_deterministic() -> None:
    assert render_certificate(request(), province_name="浙江省") == render_certificate(request(), province_name="浙江省")


def test_long_names_wrap_inside_the_page_instead_of_running_off_it(tmp_path: Path) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from signing.fonts import cjk_font
    from signing.render import PAGE_WIDTH, wrap

    font = cjk_font()
    text = "经审查，申请人王小明申请的“营业执照遗失补领、换发”事项符合法定条件、标准，依法作出准予许可的决定。" * 2
    lines = wrap(text, font=font, size=12, width=PAGE_WIDTH - 162)
    assert "".join(lines) == text and len(lines) > 2
    assert all(not line.startswith(("，", "。", "、", "”")) for line in lines)
    # a closing mark may hang at most one character into the margin
    assert all(stringWidth(line, font, 12) <= PAGE_WIDTH - 162 + 12 for line in lines)
    pdf = render_certificate(request(department_name="浙江省市场监督管理局杭州经济技术开发区分局行政审批服务科"),
                             province_name="浙江省")
    assert "核验真伪。" in text_of(pdf, tmp_path).replace(" ", "").replace("\n", "")
