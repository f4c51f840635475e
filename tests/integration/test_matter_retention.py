"""保管期限: a material becomes write-once for its matter's retention period when a case binds it
to that matter — at the window when the case is submitted, at the competent node when the case
is received. Both real backends: the local folder and S3 with object lock (moto server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from exchange.context import NodeContext
from exchange.department import DepartmentDesk
from exchange.courier import Courier, RetryPolicy
from exchange.ledger import CaseLedger
from exchange.window import WindowDesk
from nodes.wiring import load_catalog
from storage.eventstore import EventStoreSettings
from storage.outbox import outbox_of
from storage.local import LocalFolderStore
from storage.retention import RetentionActive
from storage.sealing import NodeKeyring, Sealer
from tests.fixtures.s3 import S3Server

NOW = datetime(2026, 11, 2, 1, tzinfo=timezone.utc)
CLERK = {"node": "340000", "department": "", "operator": "clerk-a"}
PEER = {"node": "330000", "department": "", "operator": "peer:340000"}
DEPARTMENTS = {"public_security": "公安厅", "market": "市场监督管理局"}
PROVINCES = {code: {"name": code, "departments": DEPARTMENTS} for code in ("330000", "340000")}
APPLICANT = {"name": "王小明", "id_number": "330106198503151238"}


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    sealer = Sealer(NodeKeyring.open(tmp_path / "node-keys.json"))
    if request.param == "local":
        return LocalFolderStore(tmp_path / "objects", sealer=sealer)
    from storage.s3 import S3Store

    server: S3Server = request.getfixturevalue("s3_server")
    return S3Store(  # a bucket of its own, never emptied: nobody may delete retained objects
        endpoint=server.endpoint, access_key=server.access_key, secret_key=server.secret_key,
        bucket=f"tongban-retained-{uuid.uuid4().hex[:12]}", region=server.region, sealer=sealer, object_lock=True,
    )


class PartnerTakingEverything:
    """The peer port, answered as a reachable partner node would (the transfer itself is
    tested over gRPC in tests/e2e/test_material_transfer.py)."""

    def push_material(self, province: str, *, case_number: str, material: dict, chunks: Iterator[bytes],
                      first_push: bool = False) -> None:
        for _ in chunks:
            pass

    def forward_case(self, province: str, *, envelope: dict, **_: object) -> bool:
        return False  # taken, not applied before


def node(province: str, store, tmp_path: Path) -> NodeContext:  # type: ignore[no-untyped-def]
    ledger = CaseLedger(env=EventStoreSettings(
        kind="sqlite", sqlite_path=tmp_path / f"{province}-events.sqlite").application_env())
    ctx = NodeContext(
        province_code=province, provinces=PROVINCES, ledger=ledger, catalog=load_catalog(), store=store,
        peers=PartnerTakingEverything(), coordination=None, now=lambda: NOW,  # type: ignore[arg-type]
        outbox=outbox_of(ledger.recorder),
    )
    ctx.courier = Courier(ctx, policy=RetryPolicy(base_seconds=0.0))
    return ctx


@pytest.fixture
def window(store, tmp_path: Path) -> Iterator[NodeContext]:  # type: ignore[no-untyped-def]
    ctx = node("340000", store, tmp_path)
    yield ctx
    ctx.ledger.close()


@pytest.fixture
def competent(store, tmp_path: Path) -> Iterator[NodeContext]:  # type: ignore[no-untyped-def]
    ctx = node("330000", store, tmp_path)
    yield ctx
    ctx.ledger.close()


def take(ctx: NodeContext, kind: str, body: bytes) -> dict:
    return dict(WindowDesk(ctx).take_material([b"%PDF-1.7\n" + body], kind=kind, file_name=f"{kind}.pdf",
                                              media_type="application/pdf"))


def test_the_window_keeps_a_submitted_cases_materials_for_its_matters_period(window: NodeContext) -> None:
    matter = window.catalog.get("KS35-043")  # 营业执照遗失补领、换发
    materials = [take(window, "id_card", b"legal representative"), take(window, "application_form", b"form")]
    assert window.store.retention(materials[0]["sha256"]) is None  # type: ignore[attr-defined]

    WindowDesk(window).submit(
        matter_code=matter.code, competent_province="330000", applicant=APPLICANT, materials=materials,
        checklist={"id_card": True, "application_form": True}, actor=CLERK,
        identity={"method": "id_card_reader", "verified": True},
    )

    until = NOW.replace(year=NOW.year + matter.retention_years)
    for m in materials:
        kept = window.store.retention(m["sha256"])  # type: ignore[attr-defined]
        assert kept is not None and kept.until == until
        with pytest.raises(RetentionActive):
            window.store.delete(m["sha256"], now=until - timedelta(days=1))  # type: ignore[attr-defined]


def test_the_competent_node_keeps_a_received_cases_materials_for_its_matters_period(competent: NodeContext) -> None:
    matter = competent.catalog.search("工作调动户口迁移")[0]
    assert matter.retention_years == 100  # 户籍档案: kept for good
    material = take(competent, "id_card", b"as pushed by the origin node")

    DepartmentDesk(competent).receive({
        "case_number": "340000-20261102-0000AB12", "matter_code": matter.code, "mode": "proxy",
        "origin_province": "340000", "competent_province": "330000",
        "competent_department": matter.lead_department, "applicant": APPLICANT, "materials": [material],
        "checklist": {"id_card": True},
    }, from_province="340000", actor=PEER)

    kept = competent.store.retention(material["sha256"])  # type: ignore[attr-defined]
    assert kept is not None and kept.until == datetime(2126, 11, 2, 1, tzinfo=timezone.utc)
    with pytest.raises(RetentionActive, match="as its matter requires"):
        competent.store.delete(material["sha256"], now=datetime(2126, 11, 1, tzinfo=timezone.utc))  # type: ignore[attr-defined]


def test_a_february_29_start_ends_on_february_28() -> None:
    matter = load_catalog().get("KS35-043")
    assert matter.retained_until(datetime(2028, 2, 29, tzinfo=timezone.utc)).day == 28
