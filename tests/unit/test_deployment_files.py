"""docker-compose cannot run here (no Docker engine); check that it says the right things."""

from __future__ import annotations

from pathlib import Path

import yaml

from nodes.cli import build_parser
from nodes.config import NodeConfig

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_runs_postgres_minio_and_two_provincial_nodes() -> None:
    services = compose()["services"]
    assert {"postgres", "minio", "node-anhui", "node-zhejiang"} <= set(services)
    assert services["minio"]["command"][0] == "server"


def test_each_node_command_is_one_the_tongban_cli_accepts() -> None:
    for name in ("node-anhui", "node-zhejiang"):
        args = build_parser().parse_args(compose()["services"][name]["command"])
        assert args.command == "node"


def test_each_node_gets_postgres_s3_and_its_partner_through_settings_the_config_reads(tmp_path: Path) -> None:
    services = compose()["services"]
    path = tmp_path / "node.toml"
    path.write_text(compose()["configs"]["node-anhui"]["content"], encoding="utf-8")
    for name, province, partner in (("node-anhui", "340000", "330000"), ("node-zhejiang", "330000", "340000")):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        config = NodeConfig.load(path, env=env)
        assert config.province == province
        assert config.event_store.kind == "postgres" and config.event_store.host == "postgres"
        assert config.event_store.schema == f"tongban_{province}"
        assert config.object_store.kind == "s3" and config.object_store.endpoint == "minio:9000"
        assert config.object_store.bucket == f"tongban-{province}"
        assert set(config.peers) == {partner}
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
