"""`tongban keys rotate` re-wraps every data key of a node under a new node key: the old key
can be dropped and the materials still read, without any material being uploaded again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nodes.cli import main
from nodes.config import NodeConfig
from storage.factory import open_object_store
from storage.sealing import NodeKeyring


def test_rotating_the_node_key_from_the_command_line_keeps_every_material_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = tmp_path / "node.toml"
    config_path.write_text(f'province = "340000"\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    config = NodeConfig.load(config_path, env={})
    assert config.object_store.key_file == tmp_path / "data" / "keys" / "node-keys.json"
    store = open_object_store(config.object_store)
    stored = [store.put_bytes(f"%PDF- {i}".encode(), media_type="application/pdf") for i in range(3)]
    old = NodeKeyring.open(config.object_store.key_file).current_id  # type: ignore[arg-type]
    object_bytes = {s.sha256: (tmp_path / "data" / "objects" / s.key).read_bytes() for s in stored}

    assert main(["keys", "rotate", "--config", str(config_path), "--retire-old"]) == 0

    assert "re-wrapped 3 stored" in capsys.readouterr().out
    ring = NodeKeyring.open(config.object_store.key_file)  # type: ignore[arg-type]
    assert old not in ring.key_ids and len(ring.key_ids) == 1
    reopened = open_object_store(config.object_store)
    for s in stored:
        assert (tmp_path / "data" / "objects" / s.key).read_bytes() == object_bytes[s.sha256]
        assert hashlib.sha256(reopened.read_bytes(s.sha256)).hexdigest() == s.sha256
