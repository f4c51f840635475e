"""The `tongban` command line for seals: offline verification of any PDF and the PKI chores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodes.cli import main
from signing.pki import Federation, Province
from signing.render import render_certificate
from signing.seal import DepartmentSealer
from tests.fixtures.signing_assets import COMPETENT, OTHER, make_federation, overwrite_applicant_name, request

PROVINCES = [Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}),
             Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"})]


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return make_federation(tmp_path_factory.mktemp("cli") / "pki", provinces=PROVINCES)


@pytest.fixture(scope="module")
def sealed(fed: Federation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("docs") / "result.pdf"
    path.write_bytes(DepartmentSealer(federation=fed, province_code=COMPETENT).issue(request()))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_verify_prints_a_readable_report_for_a_good_seal(fed: Federation, sealed: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out = run(capsys, "verify", str(sealed), "--pki", str(fed.directory), "--province", COMPETENT,
                    "--department", "market")
    assert code == 0, out
    for text in ("通过，可以打印", "浙江省市场监督管理局", "时间戳", "浙江省跨省通办时间戳服务", "B-LT", "北京时间"):
        assert text in out, out


def test_verify_refuses_any_other_pdf_with_a_reason_and_exit_code(fed: Federation, sealed: Path, tmp_path: Path,
                                                                   capsys) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(render_certificate(request(), province_name="浙江省"))
    code, out = run(capsys, "verify", str(plain), "--pki", str(fed.directory))
    assert code == 1 and "NO_SIGNATURE" in out and "请勿打印" in out
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(overwrite_applicant_name(sealed.read_bytes()))
    code, out = run(capsys, "verify", str(forged), "--pki", str(fed.directory), "--json")
    summary = json.loads(out)
    assert code == 1 and summary["reason"] == "MODIFIED_AFTER_SIGNING" and summary["timestamp_at"]
    code, out = run(capsys, "verify", str(tmp_path / "missing.pdf"), "--pki", str(fed.directory))
    assert code == 2 and "cannot read" in out


def test_crl_publish_show_and_revoke(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pki = make_federation(tmp_path / "pki", provinces=PROVINCES).directory
    code, out = run(capsys, "pki", "crl", "publish", str(pki), COMPETENT, "root")
    assert code == 0 and "published a fresh CRL for root" in out
    code, out = run(capsys, "pki", "revoke", str(pki), "--province", COMPETENT, "--department", "market")
    assert code == 0 and "revoked" in out
    code, out = run(capsys, "pki", "crl", "show", str(pki))
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows[COMPETENT][1] == "3" and rows[COMPETENT][6] == "1" and rows[COMPETENT][-1] == "current", out
    assert rows["root"][1] == "2" and rows[OTHER][1] == "1"
    code, out = run(capsys, "pki", "revoke", str(pki), "--province", COMPETENT, "--department", "tax")
    assert code == 2 and "no department 'tax'" in out


def test_tsa_command_serves_rfc3161_beside_the_node_and_the_wired_sealer_uses_it(
    fed: Federation, tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from nodes.launch import free_port
    from nodes.wiring import build_sealer
    from signing.verify import verify_sealed_pdf

    port = free_port()
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "nodes.cli", "tsa", "--pki", str(fed.directory), "--province",
                             COMPETENT, "--listen", f"127.0.0.1:{port}"], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" at ", 1)[1].strip()
        sealer = build_sealer(fed, COMPETENT, env={"TONGBAN_TSA_URL": url, "TONGBAN_PADES_LEVEL": "B-LTA"})
        report = verify_sealed_pdf(sealer.issue(request()), trust=fed.trust(), competent_province=COMPETENT,
                                   competent_department="market", issued_sha256=None)
        assert report.passed and report.level == "B-LTA", report.render()
        assert report.timestamp_authority == "浙江省跨省通办时间戳服务"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
