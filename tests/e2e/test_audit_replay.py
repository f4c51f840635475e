"""Three provincial nodes as separate processes: after a live case, auditors replay it across
the nodes, verify the logs against witnessed checkpoints, prove the sealed result's issuing
event is in the competent node's log, and the command line replays and exports the same."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from exchange.merkle import verify_inclusion
from nodes.clients import operator_channel
from nodes.demo import AUDITOR, COMPETENT_PROVINCE, WINDOW_PROVINCE, carry_one_case
from nodes.launch import loopback_configs, spawn_node, wait_serving
from nodes.tls import channel_credentials, secure_channel
from nodes.witness import trust_anchors
from signing.checkpoint import SignedCheckpoint, verify_signed_checkpoint
from signing.pki import Federation
from storage.chain import entry_leaf
from tongban_pb import audit_pb2, audit_pb2_grpc, common_pb2

ROOT = Path(__file__).resolve().parents[2]
WITNESS_ONLY = "320000"
COMPETENT_AUDITOR = "auditor-hangzhou-001"


def auditor(federation: Federation, province: str, operator: str, address: str) -> grpc.Channel:
    return operator_channel(federation, province=province, operator_id=operator, address=address)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodes.cli", "audit", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_auditors_replay_a_case_across_three_nodes_and_prove_its_result(tmp_path: Path, federation: Federation) -> None:
    federation.issue_operator(COMPETENT_PROVINCE, role="auditor", operator_id=COMPETENT_AUDITOR)
    configs = loopback_configs(tmp_path, [WINDOW_PROVINCE, COMPETENT_PROVINCE, WITNESS_ONLY],
                               pki_dir=federation.directory)
    nodes = [spawn_node(c) for c in configs.values()]
    try:
        for n in nodes:
            wait_serving(n, federation)
        run = carry_one_case(federation, window_address=configs[WINDOW_PROVINCE].listen,
                             competent_address=configs[COMPETENT_PROVINCE].listen)
        number = run.case_number
        window_ch = auditor(federation, WINDOW_PROVINCE, AUDITOR, configs[WINDOW_PROVINCE].listen)
        competent_ch = auditor(federation, COMPETENT_PROVINCE, COMPETENT_AUDITOR, configs[COMPETENT_PROVINCE].listen)
        with window_ch, competent_ch:
            window, competent = audit_pb2_grpc.AuditServiceStub(window_ch), audit_pb2_grpc.AuditServiceStub(competent_ch)
            ref = common_pb2.CaseRef(case_number=number)

            # The replayed timeline across nodes is each node's live record, merged in time order.
            merged = window.FederatedTimeline(ref, timeout=30)
            assert sorted(merged.nodes) == sorted([WINDOW_PROVINCE, COMPETENT_PROVINCE]) and not merged.unreachable
            live = {WINDOW_PROVINCE: window.CaseTimeline(ref, timeout=30),
                    COMPETENT_PROVINCE: competent.CaseTimeline(ref, timeout=30)}
            for code, tl in live.items():
                assert [(e.event, e.version, e.actor.operator) for e in merged.entries if e.node == code] == \
                    [(e.event, e.version, e.actor.operator) for e in tl.entries]
            events = [e.event for e in merged.entries]
            assert events[0] == "Submitted" and events[-1] == "Printed"
            assert events.index("Received") < events.index("Accepted") < events.index("ResultIssued") \
                < events.index("ResultReceived")
            assert [e.actor.operator for e in merged.entries if e.event == "Accepted"] == ["officer-hangzhou-007"]
            assert all("19850315" not in e.detail_json for e in merged.entries)

            # The case as it was before the result came back.
            state = window.CaseStateAt(audit_pb2.CaseStateRequest(case_number=number, version=2), timeout=30)
            assert json.loads(state.state_json)["status"] == "forwarded"

            # The whole log streams in order.
            log = list(competent.NodeLog(audit_pb2.NodeLogRequest(), timeout=30))
            assert [e.notification_id for e in log] == sorted(e.notification_id for e in log)

            # Checkpoints co-signed by both partners, then the logs verify against them.
            reply = competent.MakeCheckpoint(audit_pb2.MakeCheckpointRequest(), timeout=30)
            assert sorted(reply.witnessed_by) == sorted([WINDOW_PROVINCE, WITNESS_ONLY]), reply.refused
            assert window.MakeCheckpoint(audit_pb2.MakeCheckpointRequest(), timeout=30).witnessed_by
            for stub in (window, competent):
                verdict = stub.VerifyLog(audit_pb2.VerifyLogRequest(ask_witnesses=True, check_handoffs=True),
                                         timeout=30)
                assert verdict.verdict == "TOTAL_PASSED", verdict.rendered
                assert verdict.checkpoints_checked >= 3

            # The printed PDF's issuing event is provably in the witnessed log of the competent node.
            proof = competent.ResultInclusionProof(ref, timeout=30)
        signed = SignedCheckpoint.from_json(proof.checkpoint_json)
        assert sorted(verify_signed_checkpoint(signed, anchors=trust_anchors(federation))) == \
            sorted([WINDOW_PROVINCE, WITNESS_ONLY])
        leaf = entry_leaf(notification_id=proof.notification_id, originator_id=proof.originator_id,
                          version=proof.version, topic=proof.topic, state=proof.state)
        assert verify_inclusion(leaf=leaf, index=proof.leaf_index, size=signed.checkpoint.size,
                                proof=list(proof.path), root=bytes.fromhex(signed.checkpoint.root))
        printed = Path(run.printed_path).read_bytes()
        assert json.loads(proof.state)["sha256"] == hashlib.sha256(printed).hexdigest()

        # The command line, on the node's host, reads the same log.
        config = str(configs[WINDOW_PROVINCE].data_dir / "node.toml")
        shown = cli("timeline", number, "--config", config)
        assert shown.returncode == 0, shown.stderr
        assert "Submitted" in shown.stdout and "clerk-hefei-001" in shown.stdout and "Printed" in shown.stdout
        exported = cli("export", "--config", config, "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(exported.stdout)))
        assert [r["event"] for r in rows] == ["Submitted", "Forwarded", "ResultReceived", "Verified", "Printed"]
        jsonl = cli("export", "--config", config, "--format", "jsonl", "--case", number)
        assert [json.loads(line)["event"] for line in jsonl.stdout.splitlines()] == [r["event"] for r in rows]
        at = cli("state-at", number, "--config", config, "--version", "1")
        assert json.loads(at.stdout)["status"] == "submitted"
        verified = cli("verify", "--config", config)
        assert verified.returncode == 0 and "TOTAL_PASSED" in verified.stdout, verified.stdout + verified.stderr

        # An evidence bundle, verified offline with certificates and CRLs only (no keys).
        bundle_path = tmp_path / "bundle.json"
        fetched = cli("bundle", number, "--pki", str(federation.directory), "--province", WINDOW_PROVINCE,
                      "--operator", AUDITOR, "--address", configs[WINDOW_PROVINCE].listen, "-o", str(bundle_path))
        assert fetched.returncode == 0, fetched.stderr
        public = public_pki(federation, tmp_path / "public-pki")
        checked = cli("verify-bundle", str(bundle_path), "--pki", str(public))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "TOTAL_PASSED" in checked.stdout and "hand-offs between the nodes agree" in checked.stdout
        assert "is the issued result; seal TOTAL_PASSED" in checked.stdout, checked.stdout
        bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
        assert "19850315" not in bundle_path.read_text(encoding="utf-8")  # personal data stays masked
        for name, forge in forgeries(bundle).items():
            forged_path = tmp_path / f"forged-{name}.json"
            forged_path.write_text(json.dumps(forge), encoding="utf-8")
            refused = cli("verify-bundle", str(forged_path), "--pki", str(public))
            assert refused.returncode == 1 and "TOTAL_FAILED" in refused.stdout, (name, refused.stdout)
        one_sided = {**bundle, "sides": bundle["sides"][:1]}  # a party's side left out (before: passed)
        one_sided_path = tmp_path / "one-sided.json"
        one_sided_path.write_text(json.dumps(one_sided), encoding="utf-8")
        incomplete = cli("verify-bundle", str(one_sided_path), "--pki", str(public))
        assert incomplete.returncode == 1 and "INDETERMINATE" in incomplete.stdout, incomplete.stdout
        assert "the bundle has no side from" in incomplete.stdout

        # An administrator at the competent node erases its delivery of the result: its own log and
        # the window's hand-off check both say so.
        import sqlite3

        db = sqlite3.connect(configs[COMPETENT_PROVINCE].event_store.sqlite_path, isolation_level=None)
        db.execute("DROP TRIGGER stored_events_no_delete")
        db.execute("DELETE FROM stored_events WHERE topic LIKE '%ResultDelivered'")
        db.close()
        window_ch = auditor(federation, WINDOW_PROVINCE, AUDITOR, configs[WINDOW_PROVINCE].listen)
        competent_ch = auditor(federation, COMPETENT_PROVINCE, COMPETENT_AUDITOR, configs[COMPETENT_PROVINCE].listen)
        with window_ch, competent_ch:
            request = audit_pb2.VerifyLogRequest(ask_witnesses=True, check_handoffs=True)
            theirs = audit_pb2_grpc.AuditServiceStub(competent_ch).VerifyLog(request, timeout=30)
            ours = audit_pb2_grpc.AuditServiceStub(window_ch).VerifyLog(request, timeout=30)
        assert theirs.verdict == "TOTAL_FAILED" and "deleted" in {p.kind for p in theirs.problems}, theirs.rendered
        assert ours.verdict == "TOTAL_FAILED", ours.rendered
        assert [p.kind for p in ours.problems] == ["handoff"] and "no ResultDelivered" in ours.problems[0].detail
    finally:
        for n in nodes:
            n.stop()
    for n in nodes:
        assert n.process.returncode == 0, n.log_path.read_text()


def public_pki(federation: Federation, target: Path) -> Path:
    """The federation's public half: manifest, CA certificates and CRLs."""
    import shutil

    src = federation.directory
    for rel in ["federation.json", "root/ca.pem", "root/crl.pem"] + [
        f"provinces/{c}/{n}" for c in federation.provinces for n in ("ca.pem", "crl.pem")
    ]:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, target / rel)
    return target


def forgeries(bundle: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    import copy

    out = {}
    dropped = copy.deepcopy(bundle)  # an event left out of one side
    dropped["sides"][0]["entries"].pop(1)
    out["dropped_event"] = dropped
    other_pdf = copy.deepcopy(bundle)  # another document passed off as the result
    other_pdf["pdf"] = base64.b64encode(b"%PDF-1.7 not the issued result").decode()
    out["other_pdf"] = other_pdf
    edited = copy.deepcopy(bundle)  # an event's recorded content changed
    for side in edited["sides"]:
        for e in side["entries"]:
            if "state" in e:
                state = json.loads(base64.b64decode(e["state"]))
                state["actor"] = {**state.get("actor", {}), "operator": "someone-else"}
                e["state"] = base64.b64encode(json.dumps(state).encode()).decode()
    out["edited_event"] = edited
    unwitnessed = copy.deepcopy(bundle)  # a checkpoint nobody co-signed
    unwitnessed["sides"][0]["checkpoint"]["cosignatures"] = []
    out["unwitnessed"] = unwitnessed
    for side in range(len(bundle["sides"])):  # a side shortened by its last events (before: passed)
        for drop in ("ResultDelivered", "Forwarded"):
            shortened = copy.deepcopy(bundle)
            entries = shortened["sides"][side]["entries"]
            at = next((i for i, e in enumerate(entries) if e["topic"].endswith("." + drop)), None)
            if at is not None:
                del entries[at:]
                out[f"without_{drop}"] = shortened
    return out


def test_an_auditor_of_another_province_cannot_read_this_nodes_log(tmp_path: Path, federation: Federation) -> None:
    configs = loopback_configs(tmp_path, [COMPETENT_PROVINCE, WINDOW_PROVINCE], pki_dir=federation.directory)
    node = spawn_node(configs[COMPETENT_PROVINCE])
    try:
        wait_serving(node, federation)
        cert, key = federation.operator_tls(WINDOW_PROVINCE, AUDITOR)
        creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=WINDOW_PROVINCE)
        with secure_channel(configs[COMPETENT_PROVINCE].listen, creds, province=COMPETENT_PROVINCE) as ch:
            with pytest.raises(grpc.RpcError) as caught:
                list(audit_pb2_grpc.AuditServiceStub(ch).NodeLog(audit_pb2.NodeLogRequest(), timeout=30))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        node.stop()


@pytest.mark.postgres
def test_nodes_on_postgresql_chain_checkpoint_and_prove_the_same_way(
    tmp_path: Path, federation: Federation, postgres_schema,  # type: ignore[no-untyped-def]
) -> None:
    federation.issue_operator(COMPETENT_PROVINCE, role="auditor", operator_id=COMPETENT_AUDITOR)
    configs = loopback_configs(tmp_path, [WINDOW_PROVINCE, COMPETENT_PROVINCE], event_store=postgres_schema,
                               pki_dir=federation.directory)
    nodes = [spawn_node(c) for c in configs.values()]
    try:
        for n in nodes:
            wait_serving(n, federation)
        run = carry_one_case(federation, window_address=configs[WINDOW_PROVINCE].listen,
                             competent_address=configs[COMPETENT_PROVINCE].listen)
        ref = common_pb2.CaseRef(case_number=run.case_number)
        window_ch = auditor(federation, WINDOW_PROVINCE, AUDITOR, configs[WINDOW_PROVINCE].listen)
        competent_ch = auditor(federation, COMPETENT_PROVINCE, COMPETENT_AUDITOR, configs[COMPETENT_PROVINCE].listen)
        with window_ch, competent_ch:
            window, competent = audit_pb2_grpc.AuditServiceStub(window_ch), audit_pb2_grpc.AuditServiceStub(competent_ch)
            assert competent.MakeCheckpoint(audit_pb2.MakeCheckpointRequest(), timeout=30).witnessed_by == [WINDOW_PROVINCE]
            assert window.MakeCheckpoint(audit_pb2.MakeCheckpointRequest(), timeout=30).witnessed_by == [COMPETENT_PROVINCE]
            for stub in (window, competent):
                verdict = stub.VerifyLog(audit_pb2.VerifyLogRequest(ask_witnesses=True, check_handoffs=True), timeout=30)
                assert verdict.verdict == "TOTAL_PASSED", verdict.rendered
            merged = window.FederatedTimeline(ref, timeout=30)
            assert len(merged.entries) == 5 + 6 and sorted(merged.nodes) == sorted([WINDOW_PROVINCE, COMPETENT_PROVINCE])
            proof = competent.ResultInclusionProof(ref, timeout=30)
        signed = SignedCheckpoint.from_json(proof.checkpoint_json)
        leaf = entry_leaf(notification_id=proof.notification_id, originator_id=proof.originator_id,
                          version=proof.version, topic=proof.topic, state=proof.state)
        assert verify_inclusion(leaf=leaf, index=proof.leaf_index, size=signed.checkpoint.size,
                                proof=list(proof.path), root=bytes.fromhex(signed.checkpoint.root))
    finally:
        for n in nodes:
            n.stop()
    for n in nodes:
        assert n.process.returncode == 0, n.log_path.read_text()
