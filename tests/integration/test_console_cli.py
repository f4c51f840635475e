"""`tongban console --enrol`: a clerk's key goes into the console's keyring under a PIN."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nodes.config import to_toml
from nodes.console.serve import keyring_of
from nodes.console.ukey import Keyring
from nodes.demo import CLERK, OFFICER, WINDOW_PROVINCE
from nodes.launch import loopback_configs
from signing.pki import Federation

ROOT = Path(__file__).resolve().parents[2]


def tongban_console(*args: str, config: Path, pin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodes.cli", "console", "--config", str(config), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CLERK_PIN": pin}, stdin=subprocess.DEVNULL)


def test_a_clerk_is_enrolled_with_a_pin_and_an_officer_is_not(tmp_path: Path, federation: Federation) -> None:
    config = loopback_configs(tmp_path, [WINDOW_PROVINCE], pki_dir=federation.directory)[WINDOW_PROVINCE]
    path = tmp_path / "node.toml"
    path.write_text(to_toml(config), encoding="utf-8")

    done = tongban_console("--enrol", CLERK, "--pin-env", "CLERK_PIN", config=path, pin="864209")
    assert done.returncode == 0, done.stderr
    keyring = Keyring(keyring_of(config), federation=federation, province=WINDOW_PROVINCE)
    assert keyring.unlock(CLERK, "864209").operator_id == CLERK

    refused = tongban_console("--enrol", OFFICER, "--pin-env", "CLERK_PIN", config=path, pin="864209")
    assert refused.returncode == 2 and "省CA没有为" in refused.stderr  # an officer of 330000 is not in 340000's CA

    mismatched = tongban_console("--tls-cert", "x.pem", config=path, pin="")
    assert mismatched.returncode == 2 and "--tls-key" in mismatched.stderr
