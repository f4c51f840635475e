"""The one place where a node is assembled from its configuration."""

from __future__ import annotations

import json
from datetime import timedelta
from dataclasses import dataclass
from importlib import resources
from typing import Any

from exchange.catalog import Catalog
from exchange.context import NodeContext
from exchange.ledger import CaseLedger
from nodes.config import NodeConfig
from nodes.peers import GrpcPeerGateway
from nodes.spool import FolderSpool
from nodes.tls import channel_credentials
from signing.pki import Federation
from signing.seal import DepartmentSealer
from signing.verify import SealVerifier
from storage.factory import open_object_store
from storage.sealing import NodeKeyring, Sealer
from storage.transfers import PartialUploads


def _sealer_of(config: NodeConfig) -> Sealer | None:
    """Partial uploads are sealed with the same node key as the object store."""
    key_file = config.object_store.key_file
    return Sealer(NodeKeyring.open(key_file)) if key_file is not None else None


def load_catalog() -> Catalog:
    text = resources.files("exchange").joinpath("data/matters.json").read_text(encoding="utf-8")
    return Catalog.from_records(json.loads(text))


def provinces_of(federation: Federation) -> dict[str, dict[str, Any]]:
    return {
        code: {"name": p.name, "departments": dict(p.departments)}
        for code, p in federation.provinces.items()
    }


@dataclass
class Node:
    config: NodeConfig
    federation: Federation
    context: NodeContext
    peers: GrpcPeerGateway

    def close(self) -> None:
        self.peers.close()
        self.context.ledger.close()


def build_node(config: NodeConfig) -> Node:
    federation = Federation.open(config.pki_dir)
    cert, key = federation.node_tls(config.province)
    peers = GrpcPeerGateway(
        province=config.province,
        peers=config.peers,
        credentials=channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=config.province),
    )
    store = open_object_store(config.object_store)
    uploads = PartialUploads(config.data_dir / "transfers", store=store, sealer=_sealer_of(config))
    uploads.sweep(older_than=timedelta(days=7))  # transfers abandoned by their senders
    context = NodeContext(
        province_code=config.province,
        provinces=provinces_of(federation),
        ledger=CaseLedger(env=config.event_store.application_env()),
        catalog=load_catalog(),
        store=store,
        peers=peers,
        issuer=DepartmentSealer(federation=federation, province_code=config.province),
        verifier=SealVerifier(trust=federation.trust()),
        spool=FolderSpool(config.spool_dir),
        max_material_bytes=config.max_material_bytes,
        uploads=uploads,
    )
    return Node(config=config, federation=federation, context=context, peers=peers)
