"""Seal keys at rest: PKCS#8 encrypted with a passphrase, or inside a PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from signing.errors import SigningError
from signing.hsm import PIN_ENV, Pkcs11Token, generate_seal_key
from signing.pki import PASSPHRASE_ENV, Federation, Province, load_private_key
from signing.seal import DepartmentSealer
from signing.verify import verify_sealed_pdf
from tests.fixtures.signing_assets import COMPETENT, OTHER, make_federation, request

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PROVINCES = [Province(COMPETENT, "浙江省", {"market": "浙江省市场监督管理局"}),
             Province(OTHER, "安徽省", {"market": "安徽省市场监督管理局"})]


def passes(pdf: bytes, fed: Federation) -> bool:
    report = verify_sealed_pdf(pdf, trust=fed.trust(), competent_province=COMPETENT, competent_department="market",
                               issued_sha256=None)
    assert report.passed, report.render()
    return True


@pytest.fixture(scope="module")
def encrypted_fed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSPHRASE_ENV, "长城-correct horse")
        return make_federation(tmp_path_factory.mktemp("encrypted") / "fed", provinces=PROVINCES)


def test_keys_are_written_encrypted_when_a_passphrase_is_configured(encrypted_fed: Federation) -> None:
    keys = sorted(encrypted_fed.directory.rglob("*.key"))
    assert keys and all(b"ENCRYPTED PRIVATE KEY" in k.read_bytes() for k in keys)


def test_a_sealer_seals_with_an_encrypted_key_given_its_passphrase(
    encrypted_fed: Federation, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "长城-correct horse")
    assert passes(DepartmentSealer(federation=encrypted_fed, province_code=COMPETENT).issue(request()), encrypted_fed)


def test_a_missing_passphrase_is_a_clear_error(encrypted_fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    _, key = encrypted_fed.seal_paths(COMPETENT, "market")
    with pytest.raises(SigningError, match=f"is encrypted; set {PASSPHRASE_ENV}"):
        load_private_key(key)
    with pytest.raises(SigningError, match=PASSPHRASE_ENV):
        DepartmentSealer(federation=encrypted_fed, province_code=COMPETENT)  # its TSA key is encrypted too


def test_a_wrong_passphrase_is_a_clear_error(encrypted_fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    _, key = encrypted_fed.seal_paths(COMPETENT, "market")
    with pytest.raises(SigningError, match="passphrase .* is wrong"):
        load_private_key(key)


@pytest.fixture()
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pkcs11Token:
    if shutil.which("softhsm2-util") is None or not Path(SOFTHSM_MODULE).exists():
        pytest.skip("softhsm2 not installed (scripts/setup installs it)")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "zj-seals", "--so-pin", "87654321",
                    "--pin", "123456"], check=True, capture_output=True)
    monkeypatch.setenv(PIN_ENV, "123456")
    return Pkcs11Token(module=SOFTHSM_MODULE, token_label="zj-seals")


def test_a_seal_key_generated_in_a_softhsm_token_seals_verifiable_pdfs(softhsm: Pkcs11Token, tmp_path: Path) -> None:
    fed = make_federation(tmp_path / "fed", provinces=PROVINCES)
    public = generate_seal_key(softhsm, province_code=COMPETENT, department_key="market")
    fed.certify_token_seal(COMPETENT, "market", public_key=public)
    assert not fed.seal_paths(COMPETENT, "market")[1].exists()  # no key file left behind
    sealer = DepartmentSealer(federation=fed, province_code=COMPETENT, token=softhsm)
    try:
        assert passes(sealer.issue(request()), fed)
        assert passes(sealer.issue(request(applicant_name="李四")), fed)  # the session is reused
    finally:
        sealer.close()


def test_a_wrong_token_pin_is_a_clear_error(softhsm: Pkcs11Token, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fed = make_federation(tmp_path / "fed", provinces=PROVINCES)
    fed.certify_token_seal(COMPETENT, "market",
                           public_key=generate_seal_key(softhsm, province_code=COMPETENT, department_key="market"))
    monkeypatch.setenv(PIN_ENV, "000000")
    with pytest.raises(SigningError, match=f"check the token label and the PIN in {PIN_ENV}"):
        DepartmentSealer(federation=fed, province_code=COMPETENT, token=softhsm).issue(request())


def test_the_token_seal_command_moves_a_department_seal_into_the_token(
    softhsm: Pkcs11Token, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from nodes.cli import main
    from nodes.wiring import build_sealer

    fed = make_federation(tmp_path / "fed", provinces=PROVINCES)
    code = main(["pki", "token-seal", str(fed.directory), "--province", COMPETENT, "--department", "market",
                 "--module", SOFTHSM_MODULE, "--token", "zj-seals"])
    assert code == 0, capsys.readouterr().err
    sealer = build_sealer(fed, COMPETENT, env={"TONGBAN_PKCS11_MODULE": SOFTHSM_MODULE,
                                               "TONGBAN_PKCS11_TOKEN": "zj-seals"})
    try:
        assert passes(sealer.issue(request()), fed)
    finally:
        sealer.close()
