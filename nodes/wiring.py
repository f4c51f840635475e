"""The one place where a node is assembled from its configuration."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import timedelta
from dataclasses import dataclass
from importlib import resources
from typing import Any

from exchange.catalog import Catalog
from exchange.context import NodeContext
from exchange.courier import Courier, RetryPolicy
from exchange.ledger import CaseLedger
from nodes.config import NodeConfig
from nodes.peers import GrpcPeerGateway
from nodes.pools import SigningPool, pool_size
from nodes.spool import FolderSpool
from nodes.tls import channel_credentials
from signing import crl_lookup, names, path_memo, pdfhex
from signing.pki import Federation
from signing.hsm import Pkcs11Token
from signing.seal import DepartmentSealer, PadesLevel
from signing.tsa import HttpTimeStamper
from signing.verify import SealVerifier
from storage.factory import open_object_store
from storage.outbox import outbox_of
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


def build_sealer(federation: Federation, province: str, env: Mapping[str, str] | None = None) -> DepartmentSealer:
    """The province's sealer. By default seal keys are files (encrypted at rest when
    TONGBAN_KEY_PASSPHRASE is set) and timestamps come from the province TSA in-process.
    TONGBAN_PKCS11_MODULE + TONGBAN_PKCS11_TOKEN (PIN in TONGBAN_PKCS11_PIN) move the keys to a
    token; TONGBAN_TSA_URL uses a TSA served beside the node; TONGBAN_PADES_LEVEL=B-LTA archives.
    Names with the same encoding are compared as bytes (signing.names); revocation is looked up
    by serial number (signing.crl_lookup); the seal's own chain, validated before each seal, is
    answered from an earlier pass while nothing that decided it changed (signing.path_memo)."""
    names.install()
    crl_lookup.install()
    path_memo.install()
    env = os.environ if env is None else env
    module, token_label = env.get("TONGBAN_PKCS11_MODULE"), env.get("TONGBAN_PKCS11_TOKEN")
    token = Pkcs11Token(module=module, token_label=token_label) if module and token_label else None
    tsa_url = env.get("TONGBAN_TSA_URL")
    return DepartmentSealer(
        federation=federation, province_code=province, token=token,
        timestamper=HttpTimeStamper(tsa_url) if tsa_url else None,
        level=PadesLevel(env.get("TONGBAN_PADES_LEVEL", PadesLevel.B_LT.value)),
    )


def build_verifier(federation: Federation) -> SealVerifier:
    """The window's seal verifier, with the fast PDF hex-string reader (signing.pdfhex): a
    seal's /Contents is parsed in one slice instead of a Python call per character; and names
    with the same encoding compared as bytes (signing.names); revocation looked up by serial
    number (signing.crl_lookup); chains answered from an earlier pass while nothing that decided
    them changed (signing.path_memo)."""
    pdfhex.install()
    names.install()
    crl_lookup.install()
    path_memo.install()
    # trust_source, not a snapshot: CRLs refreshed on disk by the directory exchange apply at once.
    return SealVerifier(trust_source=federation.trust)


@dataclass
class Node:
    config: NodeConfig
    federation: Federation
    context: NodeContext
    peers: GrpcPeerGateway
    signing_pool: SigningPool | None = None

    def close(self) -> None:
        self.peers.close()
        if self.signing_pool is not None:
            self.signing_pool.close()
        self.context.ledger.close()


def build_node(config: NodeConfig) -> Node:
    federation = Federation.open(config.pki_dir)
    cert, key = federation.node_tls(config.province)
    peers = GrpcPeerGateway(
        province=config.province,
        peers=config.peers,
        credentials=channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=config.province),
        resume_patience=config.outbox.resume_patience_seconds,
    )
    store = open_object_store(config.object_store)
    uploads = PartialUploads(config.data_dir / "transfers", store=store, sealer=_sealer_of(config))
    uploads.sweep(older_than=timedelta(days=7))  # transfers abandoned by their senders
    ledger = CaseLedger(env=config.event_store.application_env())
    processes = pool_size(config.signing_processes)
    pool = SigningPool(pki_dir=config.pki_dir, province=config.province, processes=processes) if processes else None
    context = NodeContext(
        province_code=config.province,
        provinces=provinces_of(federation),
        ledger=ledger,
        outbox=outbox_of(ledger.recorder),
        catalog=load_catalog(),
        store=store,
        peers=peers,
        issuer=pool.issuer() if pool else build_sealer(federation, config.province),
        verifier=pool.verifier() if pool else build_verifier(federation),
        spool=FolderSpool(config.spool_dir),
        max_material_bytes=config.max_material_bytes,
        uploads=uploads,
    )
    ob = config.outbox
    context.courier = Courier(context, policy=RetryPolicy(
        base_seconds=ob.retry_base_seconds, cap_seconds=ob.retry_cap_seconds, lease_seconds=ob.lease_seconds))
    if pool is not None:
        pool.warm()
    return Node(config=config, federation=federation, context=context, peers=peers, signing_pool=pool)
