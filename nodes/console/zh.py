"""The console's words: statuses, events and the node's refusals in plain Chinese.

The node answers in English for developers and logs; a clerk at the counter gets a sentence in
Chinese that says what went wrong and what to do, with the node's own words kept underneath
for whoever they call for help."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

import grpc

from exchange.workdays import CHINA_TIME as CHINA
from exchange.workdays import DAY, working_seconds

STATUS = {
    "submitted": "已收件，待转送", "forwarded": "已转送承办地", "received": "承办地已接收",
    "supplement_requested": "待补正", "accepted": "已受理", "approved": "已核准", "rejected": "不予许可（驳回）",
    "returned": "已退回", "withdrawn": "已撤回", "result_issued": "已出具结果", "result_delivered": "结果已回传",
    "result_received": "结果已送达本窗口，待核验", "verified": "已核验，待打印", "printed": "已打印",
    "mailed": "已寄递", "delivered_online": "已网络送达", "closed": "已办结",
}

EVENT = {
    "Submitted": "窗口收件（形式审查、身份核验）", "Forwarded": "转送承办地", "Received": "承办地接收",
    "SubmittedOnline": "网上申请", "JointSubmitted": "联办收件", "TaskReceived": "接收联办任务",
    "ApplicantIdentified": "收到身份核验结果", "Accepted": "受理", "SupplementRequested": "一次性告知补正",
    "Supplemented": "补正材料", "Approved": "核准", "Rejected": "驳回", "Returned": "退回", "Withdrawn": "申请人撤回",
    "ResultIssued": "加盖电子印章出具结果", "ResultDelivered": "结果回传", "ResultReceived": "结果送达窗口",
    "Verified": "核验电子印章通过", "PrintRefused": "核验未通过，拒绝打印", "Printed": "打印",
    "Mailed": "寄递", "DeliveredOnline": "网络送达", "Evaluated": "好差评", "Closed": "办结",
    "TaskAssigned": "分派联办任务", "TaskCompleted": "联办任务完成", "PartCompleted": "本省部分办结",
}

IDENTITY_METHODS = {
    "id_card_reader": "身份证读卡器", "face_match": "人脸比对", "document_check": "人工核验证件",
}

VERDICT = {"TOTAL_PASSED": "核验通过", "TOTAL_FAILED": "核验未通过", "INDETERMINATE": "暂时无法核验"}
RELATIONSHIPS = ("授权代理", "配偶", "父母", "子女", "其他亲属")

# The window's steps a result must pass its seal check for (exchange.errors.PrintRefused).
_REFUSED_STEPS = {"printing": "打印", "mailing": "寄递", "online delivery": "网络送达"}

# The field the node names first in an INVALID_ARGUMENT, and what the clerk should do about it.
FIELD_HINTS = {
    "applicant.name": "请填写申请人姓名。",
    "applicant.id_number": "申请人身份证号码不正确（18位，最后一位是校验码），请对照证件重新输入。",
    "agent.name": "请填写代办人姓名。",
    "agent.id_number": "代办人身份证号码不正确（18位，最后一位是校验码），请对照证件重新输入。",
    "agent.relationship": "请选择代办人与申请人的关系。",
    "identity.method": "请选择身份核验方式。",
    "identity.verified": "身份核验未通过，不能收件。请核对申请人（或代办人）本人与证件。",
    "competent_province": "请选择承办地（作出决定的省份），不能是本省。",
    "copies": "打印份数应为 1 至 10 份。",
    "reprint_reason": "该结果已打印过，补打须填写原因。",
    "query": "请输入事项名称、编码或关键词。",
    "applicant_id_number": "身份证号码不正确（18位，最后一位是校验码），请核对后重新输入。",
    "case_number": "办件编号格式不正确（如 340000-20261123-1A2B3C4D），请核对后重新输入。",
    "kind": "请说明这是哪一项材料。",
    "file_name": "文件名不可用，请改名后重新上传（不要包含路径或特殊字符）。",
    "media_type": "文件内容与类型不符，或不支持该类型；请上传 PDF、JPG 或 PNG 扫描件。",
}


@dataclass(frozen=True)
class Problem:
    """What the clerk sees when the node refuses: a sentence, and the node's words for support."""

    message: str
    detail: str = ""


def material_names(required: Mapping[str, str], kinds: str) -> str:
    return "、".join(required.get(k.strip(), k.strip()) for k in kinds.split(",") if k.strip())


def problem_from_rpc(error: grpc.RpcError, *, materials: Mapping[str, str] | None = None) -> Problem:
    code, detail = error.code(), error.details() or ""
    materials = materials or {}
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field, _, rest = detail.partition(": ")
        if field == "materials" and rest.startswith("missing required materials:"):
            return Problem(f"缺少必需材料：{material_names(materials, rest.split(':', 1)[1])}。请上传后再提交。", detail)
        if field == "materials":
            return Problem("有材料尚未上传成功，请重新上传后再提交。", detail)
        if field == "checklist":
            return Problem(f"形式审查清单未勾选：{material_names(materials, rest.split(':', 1)[-1])}。"
                           "请逐项核对原件后勾选。", detail)
        if field == "mode":
            return Problem("该事项不能在窗口异地代收代办，请告知申请人可用的办理渠道。", detail)
        if field in ("size", "data") and "empty" in rest:
            return Problem("文件是空的，请重新扫描后上传。", detail)
        if field in ("size", "data"):
            return Problem("文件太大，请压缩或分页扫描后重新上传。", detail)
        if field in FIELD_HINTS:
            return Problem(FIELD_HINTS[field], detail)
        return Problem("填写的内容有误，请按提示核对后重试。", detail)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        refused = re.match(r"(printing|mailing|online delivery) refused \((\w+)\): (.*)", detail, re.S)
        if refused:
            return Problem(f"拒绝{_REFUSED_STEPS[refused.group(1)]}：{refused.group(3)}", detail)
        if "and has no result" in detail:
            return Problem("该办件尚无结果，结果回传后才能核验、打印或送达。", detail)
        return Problem("办件当前状态不允许这一步操作，请刷新后查看办理进度。", detail)
    if code == grpc.StatusCode.NOT_FOUND:
        return Problem("没有找到该办件或事项，请核对编号后重试。", detail)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return Problem("您的证书无权进行此操作，请确认使用本省窗口人员证书登录。", detail)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Problem("暂时无法连接节点（本省或承办地），请稍后重试；如持续出现请联系系统管理员。", detail)
    if code == grpc.StatusCode.ABORTED and " is busy and could not " in detail:
        return Problem("对方省份节点繁忙，本次未办理，请稍后重试。", detail)
    if code == grpc.StatusCode.ABORTED:
        return Problem("办件刚被其他操作更新，本次未保存，请重试。", detail)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Problem("证书未被节点认可，请重新登录；如持续出现请联系管理员。", detail)
    return Problem("系统内部错误，本次操作未完成。请记下错误编号并联系系统管理员。", detail)


def when(iso: str, *, seconds: bool = False) -> str:
    """An ISO 8601 time as Beijing time, the way a clerk reads it."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return f"{moment.astimezone(CHINA):%Y年%m月%d日 %H:%M{':%S' if seconds else ''}}"


def operator(actor_operator: str) -> str:
    """Steps a partner node's message caused are recorded as peer:<province>."""
    if actor_operator.startswith("peer:"):
        return "系统自动（节点间传送）"
    return actor_operator


def time_left(due_iso: str, *, now: datetime, paused: bool, stopped: bool,
              withdrawn: bool = False) -> tuple[str, str]:
    """(text, tone) for the time left before a due date, in working days as the limit is
    counted (exchange.workdays); tone is ok, soon, late or neutral."""
    if stopped:
        if withdrawn:
            return "申请人已撤回，时限已停止计算", "neutral"
        return "已作出决定，时限已停止计算", "neutral"
    if not due_iso:
        return "承办地尚未受理，受理后开始计算办结时限", "neutral"
    due = datetime.fromisoformat(due_iso)
    if paused:
        return f"等待补正，时限暂停计算（补正前的到期时间为 {deadline(due)}）", "neutral"
    if due < now:
        late = working_seconds(due, now)
        over = f" {_working(late)}" if late >= 3600 else ""
        return f"已超期{over}（应于 {deadline(due)} 前办结）", "late"
    left = working_seconds(now, due)
    tone = "soon" if left <= DAY else "ok"
    return f"剩余 {_working(left)}（{deadline(due)} 前办结）", tone


def deadline(due: datetime) -> str:
    """A due time at midnight is the end of the day before (24:00), never the next day's 00:00."""
    moment = due.astimezone(CHINA)
    if moment.time() == time():
        return f"{moment - timedelta(days=1):%Y年%m月%d日} 24:00"
    return f"{moment:%Y年%m月%d日 %H:%M}"


def _working(seconds: float) -> str:
    days, rest = divmod(int(seconds), int(DAY))
    return f"{days} 个工作日 {rest // 3600} 小时"
