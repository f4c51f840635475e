"""The kinds of result certificate and what each says. A matter's name decides its kind, so a
new matter in the catalog gets the right wording without a code change."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exchange.ports import CertificateRequest


class ResultKind(StrEnum):
    LICENCE = "licence"              # 执照、许可证的核发、补领、换发
    REGISTRATION = "registration"    # 登记、迁移、变更、备案
    QUERY_PRINTOUT = "query"         # 证明开具、信息查询打印


@dataclass(frozen=True)
class Template:
    kind: ResultKind
    title: str
    result_label: str
    result_text: str
    body: tuple[str, ...]  # formatted with the request's fields
    footer: str


TEMPLATES: dict[ResultKind, Template] = {
    ResultKind.LICENCE: Template(
        kind=ResultKind.LICENCE,
        title="准予行政许可决定书",
        result_label="许可决定",
        result_text="准予许可",
        body=("经审查，申请人 {applicant_name} 申请的“{matter_name}”事项符合法定条件、标准，",
              "依法作出准予许可的决定。证照由{department_name}依法核发，本决定书凭校验码核验真伪。"),
        footer="本决定书由全国跨省通办系统出具，电子印章与纸质印章具有同等效力；打印前窗口须核验印章。",
    ),
    ResultKind.REGISTRATION: Template(
        kind=ResultKind.REGISTRATION,
        title="登记（迁移）办理证明",
        result_label="办理结果",
        result_text="已登记",
        body=("申请人 {applicant_name} 申请的“{matter_name}”事项已于办结日期办理完毕，",
              "相关登记信息已记载于{department_name}业务系统，本证明凭校验码核验真伪。"),
        footer="本证明由全国跨省通办系统出具，电子印章与纸质印章具有同等效力；打印前窗口须核验印章。",
    ),
    ResultKind.QUERY_PRINTOUT: Template(
        kind=ResultKind.QUERY_PRINTOUT,
        title="查询结果证明（打印件）",
        result_label="查询结果",
        result_text="信息属实",
        body=("经{department_name}查询，申请人 {applicant_name} 申请的“{matter_name}”",
              "相关信息属实。本打印件仅证明出具时的查询结果，凭校验码核验真伪。"),
        footer="本打印件由全国跨省通办系统出具，电子印章与纸质印章具有同等效力；打印前窗口须核验印章。",
    ),
}

# Checked in order: "证明" before "证" so 开具户籍类证明 is a printout, not a licence.
_KEYWORDS: tuple[tuple[ResultKind, tuple[str, ...]], ...] = (
    (ResultKind.QUERY_PRINTOUT, ("证明", "查询", "打印", "核验")),
    (ResultKind.REGISTRATION, ("登记", "迁移", "迁入", "迁出", "变更", "备案", "转移", "接续")),
    (ResultKind.LICENCE, ("执照", "许可", "证", "资格")),
)


def kind_of(matter_name: str) -> ResultKind:
    for kind, words in _KEYWORDS:
        if any(w in matter_name for w in words):
            return kind
    return ResultKind.REGISTRATION  # the plainest wording: "done, recorded"


def template_for(request: CertificateRequest) -> Template:
    return TEMPLATES[kind_of(request.matter_name)]


def verification_line(request: CertificateRequest) -> str:
    """Printed under the rows and stored in the PDF's keywords: the case and the code the
    competent node recorded with the issued document."""
    return f"tongban:case={request.case_number};code={request.verification_code};province={request.province_code}"
