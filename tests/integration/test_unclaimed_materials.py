"""Materials no case names are deleted after a while; those a case names are kept and retained.
A real SQLite ledger and a real local folder store; the clock is moved, not the files' times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from exchange.case import Case
from exchange.errors import InvalidRequest
from exchange.ledger import CaseLedger
from exchange.materials import retain_for_matter
from exchange.unclaimed import sweep_unclaimed
from nodes.wiring import load_catalog
from storage.eventstore import EventStoreSettings
from storage.local import LocalFolderStore

CLERK = {"node": "340000", "department": "", "operator": "clerk-1"}
PDF = "application/pdf"


def submitted(number: str, materials: list[dict]) -> Case:  # type: ignore[type-arg]
    return Case.submit(
        case_number=number, matter_code="KS35-043", mode="proxy", origin_province="340000",
        competent_province="330000", competent_department="market",
        applicant={"name": "王小明", "id_number": "330106198503151234"}, materials=materials, checklist={},
        actor=CLERK, at="2026-11-02T01:00:00+00:00",
    )


def named(sha256: str) -> dict[str, object]:
    return {"kind": "application_form", "file_name": "form.pdf", "media_type": PDF, "size": 1, "sha256": sha256}


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    ledger = CaseLedger(env=EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite").application_env())
    yield ledger
    ledger.close()


def test_a_scan_never_submitted_is_deleted_after_the_days_kept_and_a_case_s_material_never(
    ledger: CaseLedger, tmp_path: Path,
) -> None:
    store, catalog = LocalFolderStore(tmp_path / "objects"), load_catalog()
    in_a_case = store.put_bytes(b"%PDF- a submitted application form", media_type=PDF)
    unretained = store.put_bytes(b"%PDF- saved, then the node stopped before retaining", media_type=PDF)
    abandoned = store.put_bytes(b"%PDF- scanned for an applicant who left", media_type=PDF)
    now = datetime.now(timezone.utc)
    retain_for_matter(store, matter=catalog.get("KS35-043"), materials=[named(in_a_case.sha256)], now=now)
    ledger.save(submitted("340000-20261102-00000001", [named(in_a_case.sha256), named(unretained.sha256)]))

    too_soon = sweep_unclaimed(cases=ledger.cases(), store=store, catalog=catalog, now=now, keep_days=30)
    assert too_soon.examined == 0 and store.stat(abandoned.sha256) is not None

    month_on = now + timedelta(days=31)
    looked = sweep_unclaimed(cases=ledger.cases(), store=store, catalog=catalog, now=month_on, dry_run=True)
    assert looked.deleted == (abandoned.sha256,) and store.stat(abandoned.sha256) is not None
    swept = sweep_unclaimed(cases=ledger.cases(), store=store, catalog=catalog, now=month_on)
    assert swept.deleted == (abandoned.sha256,) and swept.retained == (unretained.sha256,)
    assert store.stat(abandoned.sha256) is None
    assert store.stat(in_a_case.sha256) is not None and store.retention(in_a_case.sha256) is not None
    assert store.retention(unretained.sha256) is not None, "a case's material left deletable is retained"


def test_a_sweep_keeps_everything_at_least_a_day(ledger: CaseLedger, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="keep_days"):
        sweep_unclaimed(cases=[], store=LocalFolderStore(tmp_path / "objects"), catalog=load_catalog(),
                        now=datetime.now(timezone.utc), keep_days=0)


def test_the_command_sweeps_a_node_from_its_configuration(tmp_path: Path, federation) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from nodes.config import to_toml
    from nodes.launch import loopback_configs
    from nodes.wiring import build_node

    config = loopback_configs(tmp_path, ["340000", "330000"], pki_dir=federation.directory)["340000"]
    node = build_node(config)  # makes the node's stores as a start would
    node.context.store.put_bytes(b"%PDF- scanned, never submitted", media_type=PDF)
    node.close()
    path = tmp_path / "node.toml"
    path.write_text(to_toml(config))
    done = subprocess.run([sys.executable, "-m", "nodes.cli", "sweep-unclaimed", "--config", str(path),
                           "--keep-days", "1", "--dry-run"], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert "never retained; would delete 0 that no case names" in done.stdout  # stored today: kept
