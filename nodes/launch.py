"""Starting provincial nodes as separate processes on loopback (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from nodes.config import NodeConfig, to_toml
from nodes.tls import channel_credentials, secure_channel
from signing.pki import Federation
from storage.eventstore import EventStoreSettings
from storage.factory import ObjectStoreSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loopback_configs(
    workdir: Path,
    provinces: list[str],
    *,
    event_store: EventStoreSettings | None = None,
    object_store: ObjectStoreSettings | None = None,
    pki_dir: Path | None = None,
) -> dict[str, NodeConfig]:
    """One config per province, each node peering with all the others on loopback.
    A shared PostgreSQL or S3 setting is given a per-node schema or bucket."""
    ports = {code: free_port() for code in provinces}
    configs = {}
    for code in provinces:
        data_dir = workdir / f"node-{code}"
        es = event_store or EventStoreSettings(kind="sqlite")
        es = replace(es, sqlite_path=data_dir / "events.sqlite") if es.kind == "sqlite" else replace(es, schema=f"{es.schema}_{code}")
        es = replace(es, key_file=es.key_file or data_dir / "keys" / "event-keys.json")  # personal data encrypted
        os_ = object_store or ObjectStoreSettings(kind="local")
        os_ = replace(os_, local_root=data_dir / "objects") if os_.kind == "local" else replace(os_, bucket=f"{os_.bucket}-{code}")
        os_ = replace(os_, key_file=os_.key_file or data_dir / "keys" / "node-keys.json")  # sealed at rest
        configs[code] = NodeConfig(
            province=code,
            listen=f"127.0.0.1:{ports[code]}",
            data_dir=data_dir,
            pki_dir=pki_dir or workdir / "pki",
            peers={other: f"127.0.0.1:{ports[other]}" for other in provinces if other != code},
            event_store=es,
            object_store=os_,
        )
    return configs


def replica_target(addresses: list[str]) -> str:
    """One gRPC target for several processes of one node (the channel balances round robin)."""
    return addresses[0] if len(addresses) == 1 else "ipv4:" + ",".join(addresses)


def replica_configs(config: NodeConfig, *, count: int, workdir: Path) -> list[NodeConfig]:
    """`count` processes of one province's node: the same event store schema, object store
    bucket and node key (so each reads what another stored), their own port and data folder
    (partial uploads, spool)."""
    replicas = [config]
    for i in range(2, count + 1):
        replicas.append(replace(config, listen=f"127.0.0.1:{free_port()}",
                                data_dir=workdir / f"node-{config.province}-replica{i}"))
    return replicas


@dataclass
class NodeProcess:
    config: NodeConfig
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> str:
        return self.config.listen

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn_node(config: NodeConfig, *, env: dict[str, str] | None = None, verbose: bool = False,
               source: Path | None = None) -> NodeProcess:
    """`source`: the checkout whose code the node runs (another revision's worktree, for an A/B
    comparison); this one by default."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    path = config.data_dir / "node.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    log_path = config.data_dir / "node.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "nodes.cli", *(["--verbose"] if verbose else []), "node", "--config", str(path)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        cwd=source or Path(__file__).resolve().parent.parent,  # `-m` imports from the working directory
    )
    return NodeProcess(config=config, process=process, log_path=log_path)


def wait_serving(node: NodeProcess, federation: Federation, *, timeout: float = 30.0) -> None:
    """Poll the node's health service over mutual TLS until it says SERVING."""
    code = node.config.province
    cert, key = federation.node_tls(code)
    creds = channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=code)
    deadline = time.monotonic() + timeout
    with secure_channel(node.address, creds, province=code) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if node.process.poll() is not None:
                raise RuntimeError(
                    f"node {code} exited with {node.process.returncode}; see {node.log_path}:\n"
                    + node.log_path.read_text(errors="replace")[-3000:]
                )
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {code} did not become healthy in {timeout}s; see {node.log_path}")
            time.sleep(0.1)
