"""The console's sign-in (a PIN-protected key, as on a UKey) and its Chinese messages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest

from nodes.console import ukey, zh
from nodes.console.ukey import Keyring, SignInRefused, enrol, write_ukey
from nodes.demo import CLERK, COMPETENT_PROVINCE, OFFICER, WINDOW_PROVINCE
from signing.pki import Federation, load_private_key
from tests.fixtures.rpc import RpcRefusal

PIN = "135790"


@pytest.fixture
def keyring(tmp_path: Path, federation: Federation) -> Keyring:
    enrol(tmp_path, federation=federation, province=WINDOW_PROVINCE, operator_id=CLERK, pin=PIN)
    return Keyring(tmp_path, federation=federation, province=WINDOW_PROVINCE)


def test_a_window_clerk_signs_in_with_the_right_pin(keyring: Keyring) -> None:
    clerk = keyring.unlock(CLERK, PIN)
    assert clerk.operator_id == CLERK and clerk.identity.role == "window"
    assert b"ENCRYPTED" in (keyring.directory / f"{CLERK}.key").read_bytes()  # never stored in the clear


def test_wrong_pins_are_counted_and_then_the_key_is_locked(keyring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SignInRefused, match="还可再试 4 次"):
        keyring.unlock(CLERK, "000000")
    for _ in range(ukey.MAX_TRIES - 1):
        with pytest.raises(SignInRefused, match="PIN 不正确"):
            keyring.unlock(CLERK, "000000")
    with pytest.raises(SignInRefused, match="已锁定"):
        keyring.unlock(CLERK, PIN)  # even the right PIN waits out the lock


def test_wrong_pins_sent_at_once_are_all_counted_before_any_is_checked(keyring: Keyring) -> None:
    import threading

    start = threading.Barrier(20)
    outcomes: list[str] = []

    def guess() -> None:
        start.wait()
        try:
            keyring.unlock(CLERK, "000000")
        except SignInRefused as refused:
            outcomes.append("locked" if "已锁定，请" in str(refused) else "tried")

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count("tried") == ukey.MAX_TRIES  # before: up to 26 PINs tried in one lock-out


def test_an_officer_of_another_province_is_refused_in_plain_chinese(keyring: Keyring, federation: Federation) -> None:
    folder = federation.directory / "provinces" / COMPETENT_PROVINCE / "operators"
    write_ukey(keyring.directory, operator_id=OFFICER, cert_pem=(folder / f"{OFFICER}.pem").read_bytes(),
               key=load_private_key(folder / f"{OFFICER}.key"), pin=PIN)
    with pytest.raises(SignInRefused, match="该证书属于浙江省（330000）的工作人员，不能登录安徽省（340000）"):
        keyring.unlock(OFFICER, PIN)


def test_enrolment_refuses_anyone_but_a_window_clerk_of_the_province(tmp_path: Path, federation: Federation) -> None:
    with pytest.raises(SignInRefused, match="窗口收件人员"):
        enrol(tmp_path, federation=federation, province=COMPETENT_PROVINCE, operator_id=OFFICER, pin=PIN)
    with pytest.raises(SignInRefused, match="省CA没有为 nobody 签发证书"):
        enrol(tmp_path, federation=federation, province=WINDOW_PROVINCE, operator_id="nobody", pin=PIN)
    with pytest.raises(SignInRefused, match="PIN 至少"):
        enrol(tmp_path, federation=federation, province=WINDOW_PROVINCE, operator_id=CLERK, pin="123")


def test_an_unknown_operator_is_told_to_have_a_certificate_enrolled(keyring: Keyring) -> None:
    with pytest.raises(SignInRefused, match="没有工号 clerk-9 的数字证书"):
        keyring.unlock("clerk-9", PIN)
    with pytest.raises(SignInRefused, match="请输入工号"):
        keyring.unlock("  ", PIN)


@pytest.mark.parametrize(("code", "details", "says"), [
    (grpc.StatusCode.INVALID_ARGUMENT, "materials: missing required materials: application_form", "缺少必需材料：营业执照补领申请书"),
    (grpc.StatusCode.INVALID_ARGUMENT, "checklist: the clerk has not confirmed: id_card", "形式审查清单未勾选：身份证明"),
    (grpc.StatusCode.INVALID_ARGUMENT, "applicant.id_number: the check character does not match", "身份证号码不正确"),
    (grpc.StatusCode.INVALID_ARGUMENT, "reprint_reason: the result was printed before", "补打须填写原因"),
    (grpc.StatusCode.FAILED_PRECONDITION, "printing refused (HASH_FAILURE): 文件内容与电子印章不符", "拒绝打印：文件内容与电子印章不符"),
    (grpc.StatusCode.FAILED_PRECONDITION, "mailing refused (REVOKED): 印章证书已吊销", "拒绝寄递：印章证书已吊销"),
    (grpc.StatusCode.FAILED_PRECONDITION, "case 340000-20261123-1A2B3C4D is forwarded and has no result; a result is "
     "verified, printed or delivered after it has arrived", "该办件尚无结果"),
    (grpc.StatusCode.INVALID_ARGUMENT, "case_number: 'X-1' is not a case number", "办件编号格式不正确"),
    (grpc.StatusCode.UNAVAILABLE, "the node of 330000 is unreachable", "暂时无法连接节点"),
    (grpc.StatusCode.INTERNAL, "internal error; the node's log has reference abc", "联系系统管理员"),
])
def test_the_nodes_refusals_become_a_chinese_sentence_with_the_original_kept(code: grpc.StatusCode, details: str, says: str) -> None:
    problem = zh.problem_from_rpc(RpcRefusal(code, details),
                                  materials={"application_form": "营业执照补领申请书", "id_card": "身份证明"})
    assert says in problem.message and problem.detail == details


def test_time_left_reads_as_working_days_and_hours_and_says_when_a_case_is_late() -> None:
    now = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)  # Monday 09:00 in Beijing
    soon = (now + timedelta(days=2, hours=3)).isoformat()
    assert zh.time_left(soon, now=now, paused=False, stopped=False) == (
        "剩余 2 个工作日 3 小时（2026年11月04日 12:00 前办结）", "ok")
    late, tone = zh.time_left((now - timedelta(hours=5)).isoformat(), now=now, paused=False, stopped=False)
    assert late.startswith("已超期 0 个工作日 5 小时") and tone == "late"
    assert "暂停" in zh.time_left(soon, now=now, paused=True, stopped=False)[0]
    assert "尚未受理" in zh.time_left("", now=now, paused=False, stopped=False)[0]
    assert "撤回" in zh.time_left(soon, now=now, paused=False, stopped=True, withdrawn=True)[0]


def test_a_weekend_before_the_due_date_is_not_counted_as_time_left() -> None:
    friday_evening = datetime(2026, 11, 6, 9, 0, tzinfo=timezone.utc)  # 17:00 in Beijing
    monday_morning = datetime(2026, 11, 9, 1, 0, tzinfo=timezone.utc)  # 09:00
    text, tone = zh.time_left(monday_morning.isoformat(), now=friday_evening, paused=False, stopped=False)
    assert text.startswith("剩余 0 个工作日 16 小时") and tone == "soon"  # before: 2 天 16 小时, ok
    midnight = datetime(2026, 11, 6, 16, 0, tzinfo=timezone.utc)  # Saturday 00:00 in Beijing
    assert "2026年11月06日 24:00" in zh.time_left(midnight.isoformat(), now=friday_evening, paused=False,
                                                  stopped=False)[0]


def test_a_clerk_signed_in_on_a_fourth_pc_is_signed_out_of_the_oldest(keyring: Keyring, federation: Federation) -> None:
    from nodes.console.sessions import SESSIONS_PER_CLERK, Sessions

    sessions = Sessions(federation=federation, province=WINDOW_PROVINCE, node_address="127.0.0.1:9")
    clerk = keyring.unlock(CLERK, PIN)
    opened = []
    for _ in range(SESSIONS_PER_CLERK + 2):
        session = sessions.open(clerk)
        sessions.keep_latest(session)  # the node let the clerk in
        opened.append(session.token)
    refused = sessions.open(clerk)  # the node then refuses a sixth sign-in: no one is signed out for it
    sessions.close(refused.token)
    try:
        assert [sessions.get(t) is not None for t in opened] == [False, False, True, True, True]
    finally:
        sessions.close_all()
