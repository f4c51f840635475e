"""Two processes of one province's node on one PostgreSQL schema and one S3 bucket, reached
through one gRPC target, carry cases as one node would."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from nodes.bench import BenchOptions, Topology, Traffic
from nodes.demo import COMPETENT_PROVINCE, WINDOW_PROVINCE
from nodes.launch import NodeProcess, loopback_configs, replica_configs, replica_target, spawn_node, wait_serving
from signing.pki import Federation
from storage.eventstore import EventStoreSettings
from storage.factory import ObjectStoreSettings
from storage.singleton import singleton_job
from tests.fixtures.s3 import S3Server


def _calls_served(node: NodeProcess) -> int:
    return sum(1 for line in node.log_path.read_text(errors="replace").splitlines() if "tongban.rpc" in line)


def test_two_replicas_of_a_province_serve_cases_through_one_address(
    tmp_path: Path, federation: Federation, postgres_schema: EventStoreSettings, s3_server: S3Server,
) -> None:
    objects = ObjectStoreSettings(kind="s3", endpoint=s3_server.endpoint, access_key=s3_server.access_key,
                                  secret_key=s3_server.secret_key, region=s3_server.region,
                                  bucket=f"tb-replicas-{tmp_path.name[-8:].lower().replace('_', '-')}")
    configs = loopback_configs(tmp_path, [WINDOW_PROVINCE, COMPETENT_PROVINCE], event_store=postgres_schema,
                               object_store=objects, pki_dir=federation.directory)
    first, second = replica_configs(configs[COMPETENT_PROVINCE], count=2, workdir=tmp_path)
    second = replace(second, signing_processes=1)  # one replica seals and verifies in a worker process
    target = replica_target([first.listen, second.listen])
    window = replace(configs[WINDOW_PROVINCE], peers={COMPETENT_PROVINCE: target})
    nodes: list[NodeProcess] = []
    try:
        for config in (window, first, second):  # the first replica creates the schema and the bucket
            nodes.append(spawn_node(config))
            wait_serving(nodes[-1], federation)
        topology = Topology(federation=federation, nodes=nodes, window_target=window.listen, competent_target=target)
        traffic = Traffic(topology, BenchOptions(min_material=2_000, max_material=60_000, seed=7))
        clients = [threading.Thread(target=lambda k=k: [traffic.one_case(k * 10 + i) for i in range(3)])
                   for k in range(2)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        traffic.close()

        assert traffic.failures == []
        assert len(traffic.latencies["case"]) == 6  # each printed after its seal verified
        assert _calls_served(nodes[1]) > 0 and _calls_served(nodes[2]) > 0
    finally:
        for n in nodes:
            n.stop()


def test_a_singleton_job_runs_at_one_replica_at_a_time(postgres_schema: EventStoreSettings) -> None:
    with singleton_job(postgres_schema, "checkpoint-timer", wait=False) as first:
        with singleton_job(postgres_schema, "checkpoint-timer", wait=False) as second:
            assert first and not second
        with singleton_job(postgres_schema, "crl-publish", wait=False) as other_job:
            assert other_job
    with singleton_job(postgres_schema, "checkpoint-timer", wait=False) as again:
        assert again  # released when the holder finished
