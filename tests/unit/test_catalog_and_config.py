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
        event_store=EventStoreSettings(kind="postgres", dbname="test", schema="zj", create_schema=False),
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


@pytest.mark.parametrize(("text", "says"), [
    (None, "cannot read the node configuration"),
    ("province = \n", "is not valid TOML"),
    ('listen = "127.0.0.1:50051"\n', "the setting 'province' is missing"),
    ('province = "340000"\nworkers = "many"\n', "a setting has the wrong type or value (invalid literal for int()"),
])
def test_a_config_file_with_a_mistake_is_named_in_a_sentence_not_a_traceback(tmp_path: Path, text: str | None,
                                                                             says: str) -> None:
    from exchange.errors import TongbanError

    path = tmp_path / "node.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(TongbanError) as refused:
        NodeConfig.load(path, env={})
    assert says in str(refused.value) and str(path) in str(refused.value)


def test_a_command_given_an_argument_it_cannot_use_says_so_and_exits_2(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from nodes.cli import main

    config = tmp_path / "node.toml"
    config.write_text(to_toml(NodeConfig(province="340000", listen="127.0.0.1:50051", data_dir=tmp_path / "data",
                                         pki_dir=tmp_path / "pki")), encoding="utf-8")
    assert main(["console", "--config", str(config), "--listen", "0.0.0.0:8340"]) == 2  # PINs in clear: refused
    assert "beyond loopback give it --tls-cert and --tls-key" in capsys.readouterr().err
