"""The window console in a real browser (Debian's headless Chromium, driven by Playwright):
a clerk signs in with a PIN-protected key, takes an application in, the competent node approves
it, the sealed certificate arrives in the queue, verifies and prints; a tampered certificate
shows a red refusal and no print button. Two real nodes on loopback, the console beside the
window's node, talking gRPC with the clerk's own certificate. Screenshots of every screen go to
test-artifacts/console/."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exchange.people import make_resident_id
from nodes.clients import AuditorClient, OfficerClient, WindowClient, operator_channel
from nodes.console.serve import ConsoleThread, settings_for
from nodes.console.ukey import enrol, write_ukey
from nodes.demo import AUDITOR, CLERK, COMPETENT_PROVINCE, MATTER, OFFICER, WINDOW_PROVINCE
from nodes.launch import free_port, loopback_configs
from nodes.samples import scanned_id_card, signed_application_form
from nodes.server import RunningNode, start_node
from nodes.tls import secure_channel
from signing.pki import Federation, load_private_key
from signing.seal import DepartmentSealer
from tests.fixtures.signing_assets import flip_byte_in_page_content, request
from tongban_pb import peer_pb2, peer_pb2_grpc

CHROMIUM = Path("/usr/bin/chromium")
PIN = "246810"
APPLICANT_ID = make_resident_id("34010219900101001")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                "(scripts/setup installs it: apt-get install chromium)")


@dataclass
class Counter:
    federation: Federation
    nodes: dict[str, RunningNode]
    url: str
    shots: Path

    def window(self) -> WindowClient:
        return WindowClient(operator_channel(self.federation, province=WINDOW_PROVINCE, operator_id=CLERK,
                                             address=self.nodes[WINDOW_PROVINCE].address))

    def officer(self) -> OfficerClient:
        return OfficerClient(operator_channel(self.federation, province=COMPETENT_PROVINCE, operator_id=OFFICER,
                                              address=self.nodes[COMPETENT_PROVINCE].address))

    def events(self, number: str) -> list:  # type: ignore[type-arg]
        with operator_channel(self.federation, province=WINDOW_PROVINCE, operator_id=AUDITOR,
                              address=self.nodes[WINDOW_PROVINCE].address) as ch:
            return list(AuditorClient(ch).timeline(number).entries)


@pytest.fixture(scope="module")
def counter(tmp_path_factory: pytest.TempPathFactory, federation: Federation, artifacts: Path) -> Iterator[Counter]:
    workdir = tmp_path_factory.mktemp("console")
    configs = loopback_configs(workdir, [WINDOW_PROVINCE, COMPETENT_PROVINCE], pki_dir=federation.directory)
    nodes = {code: start_node(c) for code, c in configs.items()}
    settings = settings_for(configs[WINDOW_PROVINCE], keyring=workdir / "ukeys")
    enrol(settings.keyring, federation=federation, province=WINDOW_PROVINCE, operator_id=CLERK, pin=PIN)
    # An officer of the competent province whose key somehow sits in this console's keyring.
    officer_dir = federation.directory / "provinces" / COMPETENT_PROVINCE / "operators"
    write_ukey(settings.keyring, operator_id=OFFICER, cert_pem=(officer_dir / f"{OFFICER}.pem").read_bytes(),
               key=load_private_key(officer_dir / f"{OFFICER}.key"), pin=PIN)
    console = ConsoleThread(settings, listen=f"127.0.0.1:{free_port()}").start()
    shots = artifacts / "console"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    yield Counter(federation, nodes, console.url, shots)
    console.stop()
    for n in nodes.values():
        n.stop()


@pytest.fixture(scope="module")
def browser(counter: Counter) -> Iterator:  # type: ignore[type-arg]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-print-preview"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, counter: Counter):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def shot(page, counter: Counter, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(counter.shots / f"{name}.png"), full_page=True)


def sign_in_with_the_keyboard(page, counter: Counter, operator: str = CLERK) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{counter.url}/signin")
    page.wait_for_function("document.activeElement.id === 'operator'")  # the field has focus on arrival
    page.keyboard.type(operator)
    page.keyboard.press("Tab")
    page.keyboard.type(PIN)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def deliver_as_zhejiang(counter: Counter, number: str, pdf: bytes) -> None:
    cert, key = counter.federation.node_tls(COMPETENT_PROVINCE)
    import grpc

    creds = grpc.ssl_channel_credentials(counter.federation.root_pem(), key,
                                         cert + counter.federation.province_ca_pem(COMPETENT_PROVINCE))
    with secure_channel(counter.nodes[WINDOW_PROVINCE].address, creds, province=WINDOW_PROVINCE) as ch:
        peer_pb2_grpc.PeerServiceStub(ch).DeliverResult(peer_pb2.ResultEnvelope(
            case_number=number, from_province=COMPETENT_PROVINCE, pdf=pdf,
            issued_sha256=hashlib.sha256(pdf).hexdigest()), timeout=10)


def forwarded_case(counter: Counter) -> str:
    window = counter.window()
    scan = window.upload([scanned_id_card()], kind="id_card", file_name="id.png", media_type="image/png")
    form = window.upload([signed_application_form(applicant="李四", id_masked="x", matter="补领")],
                         kind="application_form", file_name="form.pdf", media_type="application/pdf")
    return window.submit(matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name="李四",
                         applicant_id=make_resident_id("34010219900202002"), materials=[scan, form],
                         checklist={"id_card": True, "application_form": True}).case_number


def test_only_a_window_clerk_of_this_province_signs_in(page, counter: Counter) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{counter.url}/signin")
    shot(page, counter, "01-signin")
    sign_in_with_the_keyboard(page, counter, operator=OFFICER)
    refusal = page.get_by_role("alert")
    assert "浙江省" in refusal.inner_text() and "不能登录" in refusal.inner_text()
    shot(page, counter, "02-signin-refused-officer-of-another-province")
    page.fill("#operator", CLERK)
    page.fill("#pin", "000000")
    page.press("#pin", "Enter")
    assert "PIN 不正确" in page.get_by_role("alert").inner_text()
    assert "/signin" in page.url


def test_a_sign_in_posted_from_another_sites_page_is_refused(page, counter: Counter) -> None:  # type: ignore[no-untyped-def]
    # A page elsewhere must not sign the counter PC in under a key of its choosing.
    forged = page.request.post(f"{counter.url}/signin", form={"operator": CLERK, "pin": PIN},
                               headers={"Origin": "https://elsewhere.example"}, max_redirects=0)
    assert forged.status == 403 and "set-cookie" not in {k.lower() for k in forged.headers}
    cross = page.request.post(f"{counter.url}/signin", form={"operator": CLERK, "pin": PIN},
                              headers={"Sec-Fetch-Site": "cross-site"}, max_redirects=0)
    assert cross.status == 403
    own = page.request.post(f"{counter.url}/signin", form={"operator": CLERK, "pin": PIN},
                            headers={"Origin": counter.url}, max_redirects=0)
    assert own.status == 303
    # A browser's own form says same-origin; behind a proxy that rewrites Host the Origin differs.
    proxied = page.request.post(f"{counter.url}/signin", form={"operator": CLERK, "pin": PIN},
                                headers={"Origin": "https://window.ah.gov.example", "Sec-Fetch-Site": "same-origin"},
                                max_redirects=0)
    assert proxied.status == 303


def test_a_clerk_takes_an_application_and_prints_the_sealed_certificate(page, counter: Counter, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sign_in_with_the_keyboard(page, counter)
    assert page.locator("#clerk").inner_text() == CLERK

    # 收件: search the catalog, open the matter, see its materials and time limit.
    page.fill("#q", "营业执照 补领")
    page.press("#q", "Enter")
    shot(page, counter, "03-intake-search")
    page.get_by_role("link", name="受理此事项 营业执照遗失补领、换发").click()
    facts = page.get_by_label("收件标准").inner_text()
    assert "7 个工作日" in facts and "营业执照补领申请书" in facts

    # A mistake first: the ID number's check character is wrong; the message says so in Chinese.
    page.select_option("#competent_province", COMPETENT_PROVINCE)
    page.fill("#applicant_name", "王小明")
    page.fill("#applicant_id", APPLICANT_ID[:-1] + ("0" if APPLICANT_ID[-1] != "0" else "1"))
    page.check("#identity_verified")
    scan, form = tmp_path / "身份证扫描件.png", tmp_path / "补领申请书.pdf"
    scan.write_bytes(scanned_id_card())
    form.write_bytes(signed_application_form(applicant="王小明", id_masked="3401********0011", matter="营业执照遗失补领"))
    for kind, path in (("id_card", scan), ("application_form", form)):
        page.set_input_files(f"#file_{kind}", str(path))
        page.wait_for_function(f"document.getElementById('progress_{kind}').value === 100 && "
                               f"document.getElementById('ref_{kind}').value !== ''")
        assert "已上传" in page.locator(f"#state_{kind}").inner_text()
    page.check("#check_id_card")
    page.check("#check_application_form")
    shot(page, counter, "04-intake-form-filled")
    page.click("#submit")
    assert "身份证号码不正确" in page.get_by_role("alert").inner_text()
    shot(page, counter, "05-intake-error-in-chinese")
    assert "已上传" in page.locator("#state_id_card").inner_text(), "uploads survive a refused submission"

    page.fill("#applicant_id", APPLICANT_ID)
    page.click("#submit")
    number = page.locator("#case-number").inner_text()
    assert number.startswith(f"{WINDOW_PROVINCE}-")
    assert "浙江省" in page.locator("#competent").inner_text()
    shot(page, counter, "06-intake-submitted")

    # The competent department accepts and approves; the sealed result comes back to the window.
    officer = counter.officer()
    officer.accept(number)
    assert officer.approve(number).status == "result_delivered"

    page.keyboard.press("Alt+2")  # 结果打印
    page.wait_for_url("**/results")
    row = page.get_by_role("row").filter(has_text=number)
    assert "王小明" in row.inner_text()
    shot(page, counter, "07-results-queue")
    row.get_by_role("link", name=number).click()
    report = page.locator("#report")
    assert "核验通过" in report.inner_text() and "浙江省市场监督管理局" in report.inner_text()
    assert page.locator("#print").is_enabled()
    page.wait_for_timeout(800)  # let the PDF viewer paint for the screenshot
    shot(page, counter, "08-result-verified")

    # Keyboard only: the report has the focus; Tab to the copies, Tab to the button, Enter.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "copies"
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Tab")  # the reprint reason is hidden on a first print
    assert page.evaluate("document.activeElement.id") == "print"
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('print-state').textContent.includes('已记录打印 2 份')")
    printed = [e for e in counter.events(number) if e.event == "Printed"]
    assert len(printed) == 1 and printed[0].actor.operator == CLERK and '"copies": 2' in printed[0].detail_json

    # A reprint asks for its reason, and records it.
    assert page.locator("#print").inner_text() == "补打"
    spool = counter.nodes[WINDOW_PROVINCE].node.config.spool_dir
    spooled = sorted(spool.iterdir())
    page.locator("#reprint_reason").evaluate("e => e.removeAttribute('required')")  # let the node refuse
    page.click("#print")
    page.wait_for_function("document.getElementById('print-state').textContent.includes('补打须填写原因')")
    assert sorted(spool.iterdir()) == spooled, "a refused reprint sends nothing to the printer"
    shot(page, counter, "09-reprint-needs-a-reason")
    page.fill("#reprint_reason", "原件污损")
    page.fill("#copies", "1")
    page.click("#print")
    page.wait_for_function("document.getElementById('print-state').textContent.includes('已记录打印 1 份')")
    reprinted = [e for e in counter.events(number) if e.event == "Printed"][-1]
    assert "原件污损" in reprinted.detail_json and reprinted.actor.operator == CLERK

    # 办件查询 by the applicant's ID, then the case across both provinces.
    page.keyboard.press("Alt+3")
    page.wait_for_url("**/cases")
    page.fill("#q", APPLICANT_ID)
    page.press("#q", "Enter")
    page.get_by_role("link", name=number).click()
    timeline = page.locator("#timeline").inner_text()
    for step in ("窗口收件", "承办地接收", "受理", "核准", "加盖电子印章出具结果", "结果送达窗口", "打印"):
        assert step in timeline
    assert "安徽省" in timeline and "浙江省" in timeline
    assert "时限已停止" in page.locator("#time-left").inner_text()
    shot(page, counter, "10-case-timeline")


def test_a_tampered_certificate_shows_a_red_refusal_and_no_print_button(page, counter: Counter) -> None:  # type: ignore[no-untyped-def]
    number = forwarded_case(counter)
    genuine = DepartmentSealer(federation=counter.federation, province_code=COMPETENT_PROVINCE).issue(
        request(case_number=number))
    deliver_as_zhejiang(counter, number, flip_byte_in_page_content(genuine))
    sign_in_with_the_keyboard(page, counter)
    page.goto(f"{counter.url}/results")
    page.get_by_role("link", name=number).click()
    report = page.locator("#report")
    assert "核验未通过" in report.inner_text() and "请勿打印" in report.inner_text()
    assert "rgb(176, 0, 32)" == page.locator("#verdict").evaluate("e => getComputedStyle(e).color")
    assert page.locator("#print").count() == 0 and page.locator("#certificate").count() == 0
    shot(page, counter, "11-result-tampered-refused")
    assert page.request.get(f"{counter.url}/results/{number}/certificate.pdf").status == 403
    assert "Printed" not in [e.event for e in counter.events(number)]


def test_case_lookup_shows_what_a_supplement_request_asks_for_and_the_time_left(page, counter: Counter, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    number = forwarded_case(counter)
    officer = counter.officer()
    officer.accept(number)
    officer.request_supplement(number, missing=["营业执照补领申请书（法定代表人未签字）"], note="请法定代表人签字后重新提交")
    sign_in_with_the_keyboard(page, counter)
    page.goto(f"{counter.url}/cases?q={number}")
    supplements = page.locator("#supplements").inner_text()
    assert "法定代表人未签字" in supplements and "请法定代表人签字" in supplements
    assert "时限暂停" in page.locator("#time-left").inner_text()
    assert page.locator("#status").inner_text() == "待补正"
    shot(page, counter, "12-case-supplement-requested")

    # The applicant brings the signed form; the clerk uploads it and the clock runs again.
    signed = tmp_path / "补领申请书（已签字）.pdf"
    signed.write_bytes(signed_application_form(applicant="李四", id_masked="3401********002X", matter="营业执照遗失补领"))
    page.set_input_files("#file_application_form", str(signed))
    page.wait_for_function("document.getElementById('ref_application_form').value !== ''")
    page.click("#supplement")
    assert "已收取补正材料 1 份" in page.locator("#notice").inner_text()
    assert page.locator("#status").inner_text() == "已转送承办地"
    assert "剩余" in page.locator("#time-left").inner_text()
    assert officer.get_case(number).status == "accepted"
    shot(page, counter, "13-case-supplemented")


def test_pages_need_a_signed_in_clerk_and_changes_need_the_pages_token(page, counter: Counter) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{counter.url}/results")
    assert page.url.endswith("/signin")
    sign_in_with_the_keyboard(page, counter)
    forged = page.request.post(f"{counter.url}/results/340000-20261123-00000000/print", form={"copies": "1"})
    assert forged.status == 403 and "页面已过期" in forged.text()
    page.get_by_role("button", name="退出登录").click()
    page.goto(f"{counter.url}/intake")
    assert page.url.endswith("/signin")


def test_an_application_goes_through_with_scripts_off_the_files_riding_with_the_form(browser, counter: Counter, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{counter.url}/signin")
        page.fill("#operator", CLERK)
        page.fill("#pin", PIN)
        page.click("button[type=submit]")
        page.goto(f"{counter.url}/intake/{MATTER}")
        page.select_option("#competent_province", COMPETENT_PROVINCE)
        page.fill("#applicant_name", "赵六")
        page.fill("#applicant_id", make_resident_id("34010219850505005"))
        page.check("#identity_verified")
        scan, form = tmp_path / "id.png", tmp_path / "form.pdf"
        scan.write_bytes(scanned_id_card())
        form.write_bytes(signed_application_form(applicant="赵六", id_masked="x", matter="补领"))
        page.set_input_files("#file_id_card", str(scan))
        page.set_input_files("#file_application_form", str(form))
        page.check("#check_id_card")
        page.check("#check_application_form")
        page.click("#submit")
        assert page.locator("#case-number").inner_text().startswith(f"{WINDOW_PROVINCE}-")
    finally:
        context.close()
