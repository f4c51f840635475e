from __future__ import annotations

from pathlib import Path

import pytest

from exchange.errors import NotFound
from nodes.config import NodeConfig, to_toml
from nodes.wiring import load_catalog
from storage.eventstore import EventStoreSettings
from storage.factory import ObjectStoreSettings


def test_the_shipped_catalog_has_the_lost_business_licence_matter() -> None:
    catalog = load_catalog()
    matter = catalog.get("KS2020-044")
    assert matter.name == "营业执照遗失补领、换发"
    assert matter.lead_department == "market"
    assert {"id_card", "application_form"} <= matter.required_kinds()
    assert catalog.search("营业执照") == [matter]


def test_an_unknown_matter_code_says_how_to_find_the_right_one() -> None:
    with pytest.raises(NotFound, match="search the catalog"):
        load_catalog().get("NOPE")


def test_a_config_written_by_to_toml_reads_back_the_same(tmp_path: Path) -> None:
    config = NodeConfig(
        province="330000", listen="127.0.0.1:5000", data_dir=tmp_path / "d", pki_dir=tmp_path / "pki",
        peers={"340000": "127.0.0.1:5001"},
        event_store=EventStoreSettings(kind="postgres", dbname="test", schema="zj"),
        object_store=ObjectStoreSettings(kind="s3", endpoint="127.0.0.1:9000", bucket="b", access_key="a", secret_key="s"),
    )
    path = tmp_path / "node.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    assert NodeConfig.load(path, env={}) == config


def test_environment_variables_override_the_file_as_docker_compose_does(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('province = "330000"\nlisten = "0.0.0.0:50051"\n', encoding="utf-8")
    config = NodeConfig.load(path, env={
        "TONGBAN_EVENT_STORE_KIND": "postgres", "TONGBAN_EVENT_STORE_HOST": "postgres",
        "TONGBAN_OBJECT_STORE_KIND": "s3", "TONGBAN_OBJECT_STORE_ENDPOINT": "minio:9000",
        "TONGBAN_PEER_340000": "node-anhui:50051",
    })
    assert config.event_store.kind == "postgres" and config.event_store.host == "postgres"
    assert config.event_store.schema == "tongban_330000"
    assert config.object_store.endpoint == "minio:9000"
    assert config.peers == {"340000": "node-anhui:50051"}
