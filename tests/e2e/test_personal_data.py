"""Personal data across a whole case on two real nodes: never in a log line, an error detail or
the event store's files; masked in audit exports unless the auditor's role allows; erased on a
lawful request while the log still verifies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from exchange.people import ERASED, make_resident_id, mask_id
from nodes.clients import WindowClient, operator_channel
from nodes.demo import AUDITOR, CLERK, COMPETENT_PROVINCE, MATTER, WINDOW_PROVINCE, carry_one_case
from nodes.launch import loopback_configs, spawn_node, wait_serving
from signing.pki import Federation
from storage.eventstore import EventStoreSettings, open_log_store

ROOT = Path(__file__).resolve().parents[2]
NAME, ID_NUMBER = "王小明", make_resident_id("33010619850315123")  # what carry_one_case submits
OTHER_NAME, OTHER_ID = "赵钱孙", make_resident_id("44030419770707456")
ADDRESS = "浙江省杭州市西湖区文三路478号华星时代广场"
PII_AUDITOR = "auditor-pii-hefei-009"


def tongban(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodes.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def personal_values() -> list[str]:
    return [NAME, ID_NUMBER, ID_NUMBER[6:14], OTHER_NAME, OTHER_ID, ADDRESS[3:12]]


def assert_free_of_personal_data(text: str, where: str) -> None:
    for value in personal_values():
        assert value not in text, f"{value!r} appears in {where}"


def store_bytes(settings: EventStoreSettings, data_dir: Path) -> bytes:
    """What the node's database holds, read around the library: the SQLite files, or every
    table of the node's PostgreSQL schema as text."""
    if settings.kind == "sqlite":
        return b"".join(p.read_bytes() for p in sorted(data_dir.glob("events.sqlite*")))
    import psycopg

    with psycopg.connect(host=settings.host, port=settings.port, dbname=settings.dbname, user=settings.user) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (settings.schema,)).fetchall()]
        dumps = [conn.execute(f'SELECT t::text FROM "{settings.schema}"."{table}" t').fetchall() for table in tables]
        states = conn.execute(f'SELECT state FROM "{settings.schema}".tongban_events').fetchall()
    return "".join(r[0] for rows in dumps for r in rows).encode() + b"".join(bytes(r[0]) for r in states)


def _carry_mail_and_erase(tmp_path: Path, federation: Federation, event_store: EventStoreSettings | None) -> None:
    federation.issue_operator(WINDOW_PROVINCE, role="auditor-pii", operator_id=PII_AUDITOR)
    configs = loopback_configs(tmp_path, [WINDOW_PROVINCE, COMPETENT_PROVINCE], event_store=event_store,
                               pki_dir=federation.directory)
    nodes = [spawn_node(c, verbose=True) for c in configs.values()]  # DEBUG logging
    window_toml = str(configs[WINDOW_PROVINCE].data_dir / "node.toml")
    details: list[str] = []
    try:
        for n in nodes:
            wait_serving(n, federation)
        run = carry_one_case(federation, window_address=configs[WINDOW_PROVINCE].listen,
                             competent_address=configs[COMPETENT_PROVINCE].listen)
        number = run.case_number
        with operator_channel(federation, province=WINDOW_PROVINCE, operator_id=CLERK,
                              address=configs[WINDOW_PROVINCE].listen) as channel:
            window = WindowClient(channel)
            window.mail(number, carrier="EMS", tracking_number="EMS0001", address=ADDRESS)
            # Refused requests that carry personal data: the refusals must not echo it.
            for bad_id in (OTHER_ID[:-1] + ("0" if OTHER_ID[-1] != "0" else "1"), OTHER_ID[:10]):
                with pytest.raises(grpc.RpcError) as refused:
                    window.submit(matter_code=MATTER, competent_province=COMPETENT_PROVINCE, applicant_name=OTHER_NAME,
                                  applicant_id=bad_id, materials=[], checklist={})
                details.append(refused.value.details())
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.RpcError) as refused:
                window.submit(matter_code="NO-SUCH-MATTER", competent_province=COMPETENT_PROVINCE,
                              applicant_name=OTHER_NAME, applicant_id=OTHER_ID, materials=[], checklist={})
            details.append(refused.value.details())
            with pytest.raises(grpc.RpcError) as refused:
                window.mail("340000-20990101-NOPE", carrier="EMS", tracking_number="x", address=ADDRESS)
            details.append(refused.value.details())
            for detail in details:
                assert_free_of_personal_data(detail, f"the error detail {detail!r}")

            # Audit exports: masked by default, even for an auditor; unmasked for role auditor-pii only.
            masked = tongban("audit", "export", "--config", window_toml, "--case", number)
            assert masked.returncode == 0, masked.stderr
            assert mask_id(ID_NUMBER) in masked.stdout and "王**" in masked.stdout
            assert_free_of_personal_data(masked.stdout, "the masked export")
            plain_auditor = tongban("audit", "export", "--config", window_toml, "--case", number,
                                    "--reveal-personal-data", "--pki", str(federation.directory), "--operator", AUDITOR)
            assert plain_auditor.returncode == 2 and "auditor-pii" in plain_auditor.stderr
            assert_free_of_personal_data(plain_auditor.stdout + plain_auditor.stderr, "a refused export")
            revealed = tongban("audit", "export", "--config", window_toml, "--case", number, "--format", "csv",
                               "--reveal-personal-data", "--pki", str(federation.directory), "--operator", PII_AUDITOR)
            assert revealed.returncode == 0, revealed.stderr
            assert NAME in revealed.stdout and ID_NUMBER in revealed.stdout and ADDRESS in revealed.stdout

            # 依法删除 while the node runs: the node reads placeholders at once.
            erased = tongban("erase", number, "--config", window_toml, "--operator", "dpo-hefei-001",
                             "--legal-basis", "《个人信息保护法》第四十七条", "--reason", "申请人书面请求删除 (编号 2025-17)")
            assert erased.returncode == 0, erased.stderr
            view = window.get_case(number)
            assert {m.file_name for m in view.materials} == {ERASED}  # file names are personal too
            assert view.status == "mailed"
        timeline = tongban("audit", "timeline", "--config", window_toml, number)
        assert "PersonalDataErased" in timeline.stdout and "Mailed" in timeline.stdout
        after = tongban("audit", "export", "--config", window_toml, "--case", number,
                        "--reveal-personal-data", "--pki", str(federation.directory), "--operator", PII_AUDITOR)
        assert after.returncode == 0 and ERASED in after.stdout
        assert_free_of_personal_data(after.stdout, "an unmasked export after erasure")
        verified = tongban("audit", "verify", "--config", window_toml, "--quiet")
        assert verified.returncode == 0 and "TOTAL_PASSED" in verified.stdout, verified.stdout
        outputs = [masked, erased, timeline, verified]
    finally:
        for n in nodes:
            n.stop()
    for n in nodes:
        log = n.log_path.read_text(encoding="utf-8", errors="replace")
        assert n.process.returncode == 0, log
        assert " DEBUG " in log or " INFO " in log
        assert_free_of_personal_data(log, f"the log of node {n.config.province}")
    for out in outputs:
        assert_free_of_personal_data(out.stdout + out.stderr, f"the output of tongban {out.args[3:5]}")
    with open_log_store(configs[WINDOW_PROVINCE].event_store) as store:
        disclosures = [json.loads(n.document) for n in store.notes("personal-data-disclosure")]
    assert [(d["operator"], d["what"]) for d in disclosures] == [(PII_AUDITOR, number)] * 2  # recorded
    for code, config in configs.items():
        raw = store_bytes(config.event_store, config.data_dir)
        assert len(raw) > 1000
        for value in personal_values():
            assert value.encode() not in raw, f"{value!r} stored in clear at {code}"


def test_a_case_leaves_no_personal_data_in_logs_errors_or_store_and_erases_on_request(
    tmp_path: Path, federation: Federation,
) -> None:
    _carry_mail_and_erase(tmp_path, federation, None)


@pytest.mark.postgres
def test_the_same_holds_on_postgresql(tmp_path: Path, federation: Federation,
                                      postgres_schema: EventStoreSettings) -> None:
    _carry_mail_and_erase(tmp_path, federation, postgres_schema)
