"""Partners witness each other's logs over real gRPC: they co-sign checkpoints that extend what
they saw, refuse a rewritten history, and a node that shows two partners two histories is caught."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.errors import PeerRefused
from exchange.ledger import CaseLedger
from nodes.audit import verify_node_log
from nodes.launch import loopback_configs
from nodes.server import RunningNode, start_node
from nodes.tls import channel_credentials
from nodes.witness import LogKeeper, WitnessGateway, find_forks, trust_anchors
from signing.checkpoint import verify_signed_checkpoint
from signing.pki import Federation
from storage.eventstore import EventStoreSettings
from tests.integration.test_audit_chain import record_cases

NODE, WITNESS_1, WITNESS_2 = "340000", "330000", "320000"


@pytest.fixture
def witnesses(tmp_path: Path, federation: Federation) -> Iterator[dict[str, RunningNode]]:
    configs = loopback_configs(tmp_path, [NODE, WITNESS_1, WITNESS_2], pki_dir=federation.directory)
    running = {code: start_node(configs[code]) for code in (WITNESS_1, WITNESS_2)}
    try:
        yield running
    finally:
        for r in running.values():
            r.stop(0)


def keeper_for(tmp_path: Path, federation: Federation, name: str, partners: dict[str, str]) -> LogKeeper:
    """The node 340000's log in its own file, witnessed by `partners` (province -> address)."""
    settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / name / "events.sqlite")
    cert, key = federation.node_tls(NODE)
    gateway = WitnessGateway(peers=partners, credentials=channel_credentials(
        federation, cert_pem=cert, key_pem=key, province_of_cert=NODE))
    return LogKeeper(province=NODE, settings=settings, federation=federation, witnesses=gateway)


def grow(keeper: LogKeeper, cases: int, *, first: int) -> None:
    ledger = CaseLedger(env=keeper.settings.application_env())
    record_cases(ledger, cases, first=first)
    ledger.close()


def test_partners_cosign_checkpoints_that_extend_what_they_saw(
    tmp_path: Path, federation: Federation, witnesses: dict[str, RunningNode],
) -> None:
    keeper = keeper_for(tmp_path, federation, "honest", {c: r.address for c, r in witnesses.items()})
    grow(keeper, 3, first=0)
    first, witnessed, refused = keeper.make_checkpoint()
    assert (witnessed, refused) == ([WITNESS_2, WITNESS_1], [])
    grow(keeper, 2, first=3)
    second, witnessed, refused = keeper.make_checkpoint()
    assert (witnessed, refused) == ([WITNESS_2, WITNESS_1], [])
    assert (first.checkpoint.size, second.checkpoint.size) == (6, 10)
    assert sorted(verify_signed_checkpoint(second, anchors=trust_anchors(federation))) == [WITNESS_2, WITNESS_1]
    report = verify_node_log(keeper, ask_witnesses=True)
    assert report.verdict == "TOTAL_PASSED", report.render()
    assert report.anchors_checked == 4  # two own checkpoints, one held by each witness
    keeper.witnesses.close()


def test_a_node_showing_two_partners_two_histories_is_caught(
    tmp_path: Path, federation: Federation, witnesses: dict[str, RunningNode],
) -> None:
    # The same node key signs two different logs: one for each witness.
    fork_a = keeper_for(tmp_path, federation, "fork-a", {WITNESS_1: witnesses[WITNESS_1].address})
    fork_b = keeper_for(tmp_path, federation, "fork-b", {WITNESS_2: witnesses[WITNESS_2].address})
    grow(fork_a, 2, first=0)
    grow(fork_b, 2, first=0)
    assert fork_a.make_checkpoint()[1] == [WITNESS_1]
    # Both grow by one more case; fork B records another case number.
    grow(fork_a, 1, first=2)
    grow(fork_b, 1, first=7)
    a, _, _ = fork_a.make_checkpoint()
    b, witnessed, _ = fork_b.make_checkpoint()
    assert witnessed == [WITNESS_2]  # each witness alone sees a consistent history

    # Comparing what the two witnesses co-signed proves the fork with the node's own signatures.
    auditor = WitnessGateway(peers={c: r.address for c, r in witnesses.items()},
                             credentials=fork_a.witnesses.credentials)
    seen = [auditor.last_seen(w, log=NODE) for w in (WITNESS_1, WITNESS_2)]
    forks = find_forks([s for s in seen if s is not None])
    assert len(forks) == 1 and forks[0][0].checkpoint.size == forks[0][1].checkpoint.size == 6
    # Checked against the witnesses, either history fails.
    both = keeper_for(tmp_path, federation, "fork-a", {c: r.address for c, r in witnesses.items()})
    report = verify_node_log(both, ask_witnesses=True)
    assert report.verdict == "TOTAL_FAILED"
    assert [p.detail for p in report.problems if p.kind == "rewritten"][0].startswith("the first 6 entries")
    assert any(WITNESS_2 in p.detail for p in report.problems if p.kind == "rewritten")

    # And a witness shown the other history refuses to co-sign it, keeping the evidence.
    swapped = dataclasses.replace(fork_b, witnesses=WitnessGateway(
        peers={WITNESS_1: witnesses[WITNESS_1].address}, credentials=fork_a.witnesses.credentials))
    grow(swapped, 1, first=9)
    _, witnessed, refused = swapped.make_checkpoint()
    assert witnessed == [] and "does not extend" in refused[0] and refused[0].startswith(WITNESS_1)
    for k in (fork_a, fork_b, both, swapped):
        k.witnesses.close()
    auditor.close()


def test_a_node_cannot_submit_another_provinces_log(
    tmp_path: Path, federation: Federation, witnesses: dict[str, RunningNode],
) -> None:
    from tongban_pb import witness_pb2

    keeper = keeper_for(tmp_path, federation, "honest", {WITNESS_1: witnesses[WITNESS_1].address})
    grow(keeper, 1, first=0)
    signed, _, _ = keeper.make_checkpoint()
    # 320000 relays 340000's checkpoint as if it were its own submission.
    cert, key = federation.node_tls(WITNESS_2)
    relay = WitnessGateway(peers={WITNESS_1: witnesses[WITNESS_1].address}, credentials=channel_credentials(
        federation, cert_pem=cert, key_pem=key, province_of_cert=WITNESS_2))
    with pytest.raises(PeerRefused, match="PERMISSION_DENIED"):
        relay.call(WITNESS_1, "Witness", witness_pb2.WitnessRequest(checkpoint_json=signed.to_json()))
    relay.close()
    keeper.witnesses.close()


def test_a_node_checkpoints_its_log_regularly_when_it_grew(
    tmp_path: Path, federation: Federation, witnesses: dict[str, RunningNode],
) -> None:
    from nodes.witness import CheckpointTimer
    from storage.logcheck import recorded_checkpoints

    keeper = keeper_for(tmp_path, federation, "timed", {WITNESS_1: witnesses[WITNESS_1].address})
    grow(keeper, 2, first=0)
    timer = CheckpointTimer(keeper, interval=3600)
    assert timer.tick() is True
    assert timer.tick() is False  # nothing new to sign
    grow(keeper, 1, first=2)
    assert timer.tick() is True
    with keeper.open() as store:
        done = recorded_checkpoints(store, log=NODE)
    assert [c.checkpoint.size for c in done] == [4, 6]
    assert all([s.signer for s in c.cosignatures] == [WITNESS_1] for c in done)
    keeper.witnesses.close()


def test_replicas_on_one_postgres_log_checkpoint_it_once_per_round(
    federation: Federation, witnesses: dict[str, RunningNode], postgres_schema: EventStoreSettings,
) -> None:
    from nodes.witness import CheckpointTimer
    from storage.logcheck import recorded_checkpoints
    from storage.singleton import singleton_job

    cert, key = federation.node_tls(NODE)

    def replica() -> LogKeeper:
        gateway = WitnessGateway(peers={WITNESS_1: witnesses[WITNESS_1].address}, credentials=channel_credentials(
            federation, cert_pem=cert, key_pem=key, province_of_cert=NODE))
        return LogKeeper(province=NODE, settings=postgres_schema, federation=federation, witnesses=gateway)

    first, second = replica(), replica()
    grow(first, 2, first=0)
    with singleton_job(postgres_schema, "checkpoint-timer", wait=False) as held_by_the_other_replica:
        assert held_by_the_other_replica
        assert CheckpointTimer(first, interval=3600).tick() is False  # skips this round
    assert CheckpointTimer(first, interval=3600).tick() is True
    assert CheckpointTimer(second, interval=3600).tick() is False  # the log is already checkpointed
    with first.open() as store:
        assert [c.checkpoint.size for c in recorded_checkpoints(store, log=NODE)] == [4]
    first.witnesses.close()
    second.witnesses.close()
