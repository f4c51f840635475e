"""`tongban demo`: two provincial nodes as separate processes carry one case end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from exchange.people import make_resident_id, mask_id
from nodes.clients import OfficerClient, WindowClient, operator_channel
from nodes.config import NodeConfig
from nodes.launch import NodeProcess, free_port, loopback_configs, spawn_node, wait_serving
from nodes.samples import scanned_id_card, signed_application_form
from signing.pki import Federation, default_provinces, init_federation

WINDOW_PROVINCE = "340000"  # 安徽: the window that takes the application in
COMPETENT_PROVINCE = "330000"  # 浙江: the department that decides
CLERK = "clerk-hefei-001"
OFFICER = "officer-hangzhou-007"
AUDITOR = "auditor-hefei-001"
MATTER = "KS2020-044"  # 营业执照遗失补领、换发

T = TypeVar("T")


@dataclass
class Step:
    name: str
    node: str
    seconds: float
    outcome: str


@dataclass
class CaseRun:
    case_number: str = ""
    steps: list[Step] = field(default_factory=list)
    printed_path: str = ""
    report: Any = None

    def timed(self, name: str, node: str, fn: Callable[[], T], outcome: Callable[[T], str] = lambda _: "ok") -> T:
        started = time.perf_counter()
        result = fn()
        self.steps.append(Step(name, node, time.perf_counter() - started, outcome(result)))
        return result


def make_federation(workdir: Path) -> Federation:
    return init_federation(
        workdir / "pki",
        provinces=default_provinces(),
        operators=[
            (WINDOW_PROVINCE, "window", CLERK),
            (COMPETENT_PROVINCE, "officer", OFFICER),
            (WINDOW_PROVINCE, "auditor", AUDITOR),
            (COMPETENT_PROVINCE, "window", "clerk-hangzhou-002"),
        ],
    )


def carry_one_case(federation: Federation, *, window_address: str, competent_address: str) -> CaseRun:
    """The whole path of one 异地代收代办 case, as the people at the two windows do it."""
    run = CaseRun()
    applicant, id_number = "王小明", make_resident_id("33010619850315123")
    with operator_channel(federation, province=WINDOW_PROVINCE, operator_id=CLERK, address=window_address) as wch, \
         operator_channel(federation, province=COMPETENT_PROVINCE, operator_id=OFFICER, address=competent_address) as och:
        window, officer = WindowClient(wch), OfficerClient(och)
        scan = scanned_id_card()
        signed_form = signed_application_form(applicant=applicant, id_masked=mask_id(id_number), matter="营业执照遗失补领")
        id_card = run.timed("收件: upload scanned ID card", WINDOW_PROVINCE, lambda: window.upload(
            [scan], kind="id_card", file_name="身份证扫描件.png", media_type="image/png"),
            lambda m: f"{m.size} B sha256 {m.sha256[:12]}…")
        form = run.timed("收件: upload signed form", WINDOW_PROVINCE, lambda: window.upload(
            [signed_form], kind="application_form", file_name="补领申请书.pdf", media_type="application/pdf"),
            lambda m: f"{m.size} B sha256 {m.sha256[:12]}…")
        case = run.timed("形式审查 + submit + forward to 330000", WINDOW_PROVINCE, lambda: window.submit(
            matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name=applicant,
            applicant_id=id_number, materials=[id_card, form],
            checklist={"id_card": True, "application_form": True}), lambda c: c.status)
        run.case_number = case.case_number
        run.timed("受理 (accept)", COMPETENT_PROVINCE, lambda: officer.accept(case.case_number), lambda c: c.status)
        run.timed("核准 + 签章 + 回传 (approve, seal, deliver)", COMPETENT_PROVINCE,
                  lambda: officer.approve(case.case_number), lambda c: c.status)
        report = run.timed("verify seal", WINDOW_PROVINCE, lambda: window.verify(case.case_number),
                           lambda r: r.verdict)
        run.report = report
        receipt = run.timed("print", WINDOW_PROVINCE, lambda: window.print(case.case_number, copies=1),
                            lambda r: r.case.status)
        run.printed_path = receipt.spool_ref
    return run


CONSOLE_PIN = "123456"  # the demo clerk's PIN; a real clerk chooses one at `tongban console --enrol`


def start_console(config: NodeConfig, federation: Federation) -> tuple[subprocess.Popen[bytes], str]:
    """The window console beside the window's node, as its own process (`tongban console`), with
    the demo clerk's key enrolled under CONSOLE_PIN."""
    from nodes.console.serve import keyring_of
    from nodes.console.ukey import enrol

    enrol(keyring_of(config), federation=federation, province=config.province, operator_id=CLERK, pin=CONSOLE_PIN)
    listen = f"127.0.0.1:{free_port()}"
    log = (config.data_dir / "console.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "nodes.cli", "console", "--config", str(config.data_dir / "node.toml"), "--listen", listen],
        stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
    )
    url = f"http://{listen}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return process, url
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the window console did not start; see {config.data_dir / 'console.log'}")
        time.sleep(0.1)


def render_table(run: CaseRun) -> str:
    rows = [("step", "node", "ms", "outcome")] + [
        (s.name, s.node, f"{s.seconds * 1000:.0f}", s.outcome) for s in run.steps
    ]
    widths = [max(_width(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(_pad(cell, widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)  # CJK takes two columns


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def run_demo(workdir: Path, *, keep: bool = False) -> int:
    if workdir.exists():
        if not (workdir / ".tongban-demo").exists():
            raise SystemExit(f"{workdir} exists and is not a tongban demo folder; choose another --workdir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / ".tongban-demo").touch()
    started = time.perf_counter()
    federation = make_federation(workdir)
    print(f"federation PKI: {workdir / 'pki'} (root, {len(federation.provinces)} province CAs, node and seal certificates)")
    configs = loopback_configs(workdir, [WINDOW_PROVINCE, COMPETENT_PROVINCE])
    nodes: list[NodeProcess] = [spawn_node(c) for c in configs.values()]
    console: subprocess.Popen[bytes] | None = None
    try:
        for n in nodes:
            wait_serving(n, federation)
            print(f"node {n.config.province} ({federation.provinces[n.config.province].name}) serving on {n.address}, pid {n.process.pid}")
        console, console_url = start_console(configs[WINDOW_PROVINCE], federation)
        print(f"window console (窗口控制台) of {WINDOW_PROVINCE}: {console_url}  — sign in as {CLERK}, PIN {CONSOLE_PIN}")
        run = carry_one_case(
            federation,
            window_address=configs[WINDOW_PROVINCE].listen,
            competent_address=configs[COMPETENT_PROVINCE].listen,
        )
        print()
        print(f"case {run.case_number}: 营业执照遗失补领、换发, taken in at 安徽 (340000), decided in 浙江 (330000)")
        print(render_table(run))
        print()
        r = run.report
        print(f"seal verdict: {r.verdict} — signer {r.signer.common_name} ({r.signer.province_code}/{r.signer.department_key})")
        print(f"printed certificate: {run.printed_path}")
        print(f"total {time.perf_counter() - started:.1f}s; node logs and data under {workdir}")
        if keep:
            print("nodes and the console keep running; press Ctrl-C to stop them")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        if console is not None:
            console.terminate()
            console.wait(10)
        for n in nodes:
            n.stop()
