"""Two provincial nodes, as separate processes on loopback, carry one case end to end."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from nodes.clients import AuditorClient, operator_channel
from nodes.demo import AUDITOR, COMPETENT_PROVINCE, WINDOW_PROVINCE, carry_one_case
from nodes.launch import loopback_configs, spawn_node, wait_serving
from signing.pki import Federation
from storage.eventstore import EventStoreSettings
from storage.factory import ObjectStoreSettings, open_object_store

ROOT = Path(__file__).resolve().parents[2]


def test_tongban_demo_carries_a_lost_business_licence_case_to_a_printed_certificate(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "demo", "--workdir", str(workdir)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for step in ("收件", "形式审查", "受理", "核准", "verify seal", "print"):
        assert step in out
    assert "TOTAL_PASSED" in out
    assert "window console (窗口控制台) of 340000: http://127.0.0.1:" in out
    printed = Path(out.split("printed certificate: ", 1)[1].splitlines()[0])
    assert printed.is_file() and printed.read_bytes().startswith(b"%PDF-")
    assert printed.is_relative_to(workdir / f"node-{WINDOW_PROVINCE}" / "spool")


def _run_nodes_and_carry_a_case(
    workdir: Path, federation: Federation, *, event_store: EventStoreSettings | None,
    object_store: ObjectStoreSettings | None,
) -> None:
    configs = loopback_configs(workdir, [WINDOW_PROVINCE, COMPETENT_PROVINCE],
                               event_store=event_store, object_store=object_store,
                               pki_dir=federation.directory)
    nodes = [spawn_node(c) for c in configs.values()]
    try:
        for n in nodes:
            wait_serving(n, federation)
        run = carry_one_case(
            federation, window_address=configs[WINDOW_PROVINCE].listen,
            competent_address=configs[COMPETENT_PROVINCE].listen,
        )
        assert run.report.verdict == "TOTAL_PASSED"
        assert run.steps[-1].outcome == "printed"
        # The competent node's store holds the materials, verified against their SHA-256, and
        # the issued result is byte for byte what the window printed.
        competent_store = open_object_store(configs[COMPETENT_PROVINCE].object_store)
        printed = Path(run.printed_path).read_bytes()
        assert competent_store.read_bytes(hashlib.sha256(printed).hexdigest()) == printed
        if object_store is None:  # the local folder retains; the S3 bucket here has no object lock
            # 营业执照遗失补领、换发: 30 years (保管期限), for the result as for the materials
            kept = competent_store.retention(hashlib.sha256(printed).hexdigest())  # type: ignore[attr-defined]
            assert kept is not None and kept.until.year - datetime.now(timezone.utc).year == 30
        with operator_channel(federation, province=WINDOW_PROVINCE, operator_id=AUDITOR,
                              address=configs[WINDOW_PROVINCE].listen) as channel:
            timeline = AuditorClient(channel).timeline(run.case_number)
        assert [e.event for e in timeline.entries] == [
            "Submitted", "Forwarded", "ResultReceived", "Verified", "Printed",
        ]
        assert timeline.entries[0].actor.operator == "clerk-hefei-001"
        detail = timeline.entries[0].detail_json
        assert "3301**********" in detail and "19850315" not in detail  # masked for auditors
    finally:
        for n in nodes:
            n.stop()
    for n in nodes:
        assert n.process.returncode == 0, n.log_path.read_text()


def test_the_same_path_runs_on_sqlite_and_local_folders(tmp_path: Path, federation: Federation) -> None:
    _run_nodes_and_carry_a_case(tmp_path, federation, event_store=None, object_store=None)


@pytest.mark.postgres
@pytest.mark.s3
def test_the_same_path_runs_on_postgresql_and_a_real_s3_endpoint(
    tmp_path: Path, federation: Federation, postgres_schema: EventStoreSettings, s3_server,
) -> None:
    object_store = ObjectStoreSettings(
        kind="s3", endpoint=s3_server.endpoint, access_key=s3_server.access_key,
        secret_key=s3_server.secret_key, bucket=f"tb-{tmp_path.name[-8:].lower().replace('_', '-')}",
    )
    _run_nodes_and_carry_a_case(tmp_path, federation, event_store=postgres_schema, object_store=object_store)
