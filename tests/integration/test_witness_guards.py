"""A witness co-signs one history of a partner's log even when asked twice at once, and a node's
checkpoint keeps its honest partners' co-signatures whatever a dishonest or broken partner answers.

Real stores (SQLite, and PostgreSQL where the witness's lock differs), real node keys from the
federation fixture; partners' servicers are called in-process instead of over gRPC, so a test can
hold one call at a chosen point or tamper with what a partner answers."""

from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

import nodes.witness as witness_module
from exchange.errors import PeerRefused
from exchange.ledger import CaseLedger
from exchange.merkle import MerkleTree, leaf_hash
from nodes.audit import verify_node_log
from nodes.interceptors import caller
from nodes.tls import channel_credentials
from nodes.witness import FORK_NOTE, SEEN_NOTE, LogKeeper, WitnessGateway, WitnessServicer, trust_anchors
from signing.checkpoint import (
    Checkpoint, Signature, SignedCheckpoint, cosign, sign_checkpoint, verify_signed_checkpoint,
)
from signing.errors import SigningError
from signing.pki import Federation
from storage.eventstore import EventStoreSettings
from storage.logcheck import recorded_checkpoints
from tests.integration.test_audit_chain import record_cases
from tongban_pb import witness_pb2

NODE, HONEST, DISHONEST, BYSTANDER = "340000", "320000", "330000", "310000"
WITNESS = "330000"
SAFETY_NET = 60  # seconds: only ever reached if a test is broken, never part of what it checks


# -- calling a servicer in-process, as a partner's node would over mutual TLS ------------------

class AbortedCall(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


class CallContext:
    """What a servicer uses of grpc.ServicerContext: abort, which ends the call."""

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise AbortedCall(code, details)


def call_as(province: str, servicer: WitnessServicer, method: str, request: Any) -> Any:
    """Call `servicer` as the node of `province` (what the TLS interceptor would set), in a
    context of its own so the caller does not leak into other calls or tests."""
    def run() -> Any:
        caller.set(types.SimpleNamespace(province_code=province))
        return getattr(servicer, method)(request, CallContext())

    return contextvars.Context().run(run)


def empty_node_store(settings: EventStoreSettings) -> EventStoreSettings:
    CaseLedger(env=settings.application_env()).close()  # creates the node's tables
    return settings


def servicer_of(province: str, settings: EventStoreSettings, federation: Federation) -> WitnessServicer:
    # A witness only answers: it asks no partners of its own here.
    keeper = LogKeeper(province=province, settings=settings, federation=federation,
                       witnesses=None)  # type: ignore[arg-type]
    return WitnessServicer(ctx=None, keeper=keeper)


# -- Defect 1: two Witness calls at once --------------------------------------------------------

def leaves(tag: str, count: int) -> list[bytes]:
    return [leaf_hash(f"{tag}-{i}".encode()) for i in range(count)]


COMMON = leaves("common", 10)
HISTORY_1 = MerkleTree(COMMON + leaves("one", 10))  # 20 entries
HISTORY_2 = MerkleTree(COMMON + leaves("two", 5))  # 15 entries: agrees on the first 10 only


def checkpoint_request(federation: Federation, tree: MerkleTree, size: int, *, old_size: int) -> Any:
    cert, key = federation.node_tls(NODE)
    signed = sign_checkpoint(Checkpoint(log=NODE, size=size, root=tree.root(size).hex(), chain_head="00" * 32,
                                        signed_at=f"2025-11-23T10:00:{size:02d}+00:00"), cert_pem=cert, key_pem=key)
    return witness_pb2.WitnessRequest(checkpoint_json=signed.to_json(), old_size=old_size,
                                      consistency_proof=tree.consistency_proof(old_size, size))


def outcome_of(servicer: WitnessServicer, request: Any) -> str:
    try:
        call_as(NODE, servicer, "Witness", request)
        return "co-signed"
    except AbortedCall as refused:
        return f"refused: {refused.code.name}"


def takes_a_lock(sql: object) -> bool:
    text = str(sql).lstrip().upper()
    return text.startswith("BEGIN") or "LOCK" in text


class ConnectionWatched:
    """A store's connection that tells, before running it, of any statement that may wait for a
    lock another call holds."""

    def __init__(self, conn: Any, before_lock: Callable[[], None]) -> None:
        self._conn, self._before_lock = conn, before_lock

    def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        if takes_a_lock(sql):
            self._before_lock()
        return self._conn.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class SecondCallInTheWindow:
    """Holds the first Witness call between reading what the witness last saw and recording
    what it co-signs (at its consistency check) and sends the second call meanwhile. The first
    goes on once the second has either read what the witness last saw as well (the race the
    defect allowed) or is about to queue for the witness's lock (so cannot read it yet)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, second: WitnessServicer, request: Any) -> None:
        self.second, self.request = second, request
        self.second_outcome: str | None = None
        self._second_got_there = threading.Event()
        self._thread = threading.Thread(target=self._send_second)
        self._first_thread = threading.current_thread()
        self._real_check = witness_module.verify_consistency
        monkeypatch.setattr(witness_module, "verify_consistency", self._check)
        monkeypatch.setattr(second.keeper, "open", self._open_watched(second.keeper.open))

    def _check(self, **kwargs: Any) -> bool:
        if threading.current_thread() is self._first_thread and self._thread.ident is None:  # not yet sent
            self._thread.start()
            assert self._second_got_there.wait(SAFETY_NET), "the second call neither read nor queued"
        return self._real_check(**kwargs)

    def _open_watched(self, real_open: Callable[[], Any]) -> Callable[[], Any]:
        def open_store() -> Any:
            store = real_open()
            store.conn = ConnectionWatched(store.conn, before_lock=self._second_got_there.set)
            real_notes = store.notes

            def notes(*args: Any, **kwargs: Any) -> Any:
                try:
                    return real_notes(*args, **kwargs)
                finally:
                    self._second_got_there.set()

            store.notes = notes
            return store

        return open_store

    def _send_second(self) -> None:
        try:
            self.second_outcome = outcome_of(self.second, self.request)
        finally:
            self._second_got_there.set()

    def wait(self) -> str | None:
        self._thread.join(SAFETY_NET)
        return self.second_outcome


def is_one_history(seen: list[SignedCheckpoint]) -> bool:
    return any(all(s.checkpoint.root == tree.root(s.checkpoint.size).hex() for s in seen)
               for tree in (HISTORY_1, HISTORY_2))


def test_a_witness_never_cosigns_two_histories_that_disagree_even_when_asked_at_once(
    settings: EventStoreSettings, federation: Federation, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two replicas of the witness's node share its database, each with its own process: the
    # two calls meet only in the database, the hardest case for keeping them apart.
    shared = empty_node_store(settings)
    replica_1, replica_2 = servicer_of(WITNESS, shared, federation), servicer_of(WITNESS, shared, federation)
    assert outcome_of(replica_1, checkpoint_request(federation, HISTORY_1, 10, old_size=0)) == "co-signed"

    # Both extensions of the common 10 entries arrive together, one at each replica.
    second = SecondCallInTheWindow(monkeypatch, replica_2,
                                   checkpoint_request(federation, HISTORY_2, 15, old_size=10))
    first = outcome_of(replica_1, checkpoint_request(federation, HISTORY_1, 20, old_size=10))

    assert (first, second.wait()) == ("co-signed", "refused: FAILED_PRECONDITION")
    with replica_1.keeper.open() as store:
        seen = [SignedCheckpoint.from_json(n.document) for n in store.notes(SEEN_NOTE, NODE)]
    assert [s.checkpoint.size for s in seen] == [10, 20] and is_one_history(seen)


def test_a_witness_refusing_a_rewritten_history_keeps_the_evidence(
    settings: EventStoreSettings, federation: Federation,
) -> None:
    # A guard for the fix above: the refusal is now decided inside the witness's transaction,
    # and the evidence must be committed, not rolled back with the aborted call.
    witness = servicer_of(WITNESS, empty_node_store(settings), federation)
    assert outcome_of(witness, checkpoint_request(federation, HISTORY_1, 12, old_size=0)) == "co-signed"
    assert outcome_of(witness, checkpoint_request(federation, HISTORY_2, 15, old_size=12)) == \
        "refused: FAILED_PRECONDITION"
    with witness.keeper.open() as store:
        evidence = [json.loads(n.document) for n in store.notes(FORK_NOTE, NODE)]
    sizes = [(e["witnessed"]["checkpoint"]["size"], e["presented"]["checkpoint"]["size"]) for e in evidence]
    assert sizes == [(12, 15)]


# -- Defect 2: what partners answer when asked to witness ---------------------------------------

# (method, the node's request, the partner's real reply) -> what the partner sends instead
Tamper = Callable[[str, Any, Any], Any]


class InProcessPartners(WitnessGateway):
    """The node's real gateway with gRPC replaced by direct calls to its partners' servicers;
    a dishonest partner's answers pass through `tamper` on the way back."""

    def __init__(self, federation: Federation, servicers: dict[str, WitnessServicer],
                 tamper: dict[str, Tamper]) -> None:
        cert, key = federation.node_tls(NODE)
        super().__init__(peers={p: "not-dialled:0" for p in servicers}, credentials=channel_credentials(
            federation, cert_pem=cert, key_pem=key, province_of_cert=NODE))
        self.servicers, self.tamper = servicers, tamper

    def call(self, province: str, method: str, request: Any) -> Any:
        try:
            reply = call_as(NODE, self.servicers[province], method, request)
        except AbortedCall as exc:  # as the real gateway reports a refusal
            raise PeerRefused(f"the node of {province} refused: {exc}") from None
        change = self.tamper.get(province)
        return change(method, request, reply) if change else reply


@pytest.fixture
def node_with_partners(tmp_path: Path, federation: Federation) -> Callable[[Tamper], LogKeeper]:
    """The node 340000 with a few cases in its log, witnessed by an honest 320000 and by 330000
    whose answers go through the given tamper."""
    def make(tamper: Tamper) -> LogKeeper:
        partners = {p: servicer_of(p, empty_node_store(EventStoreSettings(
            kind="sqlite", sqlite_path=tmp_path / p / "events.sqlite")), federation) for p in (HONEST, DISHONEST)}
        settings = EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / NODE / "events.sqlite")
        ledger = CaseLedger(env=settings.application_env())
        record_cases(ledger, 2)
        ledger.close()
        gateway = InProcessPartners(federation, partners, {DISHONEST: tamper})
        return LogKeeper(province=NODE, settings=settings, federation=federation, witnesses=gateway)

    return make


Forge = Callable[[Checkpoint, Signature], Signature]  # (checkpoint asked about, real co-signature) -> forged


def cosignature_replaced(forge: Forge) -> Tamper:
    """A partner that co-signs, then sends `forge(...)` in place of its real co-signature."""
    def tamper(method: str, request: Any, reply: Any) -> Any:
        if method != "Witness":
            return reply
        checkpoint = SignedCheckpoint.from_json(request.checkpoint_json).checkpoint
        forged = forge(checkpoint, Signature(**json.loads(reply.cosignature_json)))
        return witness_pb2.WitnessReply(cosignature_json=json.dumps(vars(forged)))
    return tamper


def with_broken_signature(checkpoint: Checkpoint, real: Signature) -> Signature:
    return dataclasses.replace(real, signature=real.signature[:-8] + "AAAAAAA=")


def made_with_key_of(federation: Federation, province: str, *, claiming: str | None = None,
                     over: Callable[[Checkpoint], Checkpoint] = lambda c: c) -> Forge:
    """A co-signature really made with `province`'s node key over `over(checkpoint)`, naming
    `claiming` (by default `province` itself) as the witness."""
    def forge(checkpoint: Checkpoint, real: Signature) -> Signature:
        cert, key = federation.node_tls(province)
        return cosign(over(checkpoint), witness=claiming or province, signed_at=real.signed_at,
                      cert_pem=cert, key_pem=key)
    return forge


def signed_later(checkpoint: Checkpoint) -> Checkpoint:
    return dataclasses.replace(checkpoint, signed_at="2099-01-01T00:00:00.000000+00:00")


def forgeries(federation: Federation) -> dict[str, Forge]:
    return {
        "a signature that does not verify": with_broken_signature,
        "a real co-signature by another province": made_with_key_of(federation, BYSTANDER),
        "another province's co-signature under its own name": made_with_key_of(
            federation, BYSTANDER, claiming=DISHONEST),
        "its own co-signature over another checkpoint": made_with_key_of(federation, DISHONEST, over=signed_later),
    }


def assert_recorded_with_the_honest_cosignature_only(
    keeper: LogKeeper, federation: Federation, outcome: tuple[SignedCheckpoint, list[str], list[str]], log_text: str,
) -> None:
    signed, witnessed, refused = outcome
    assert witnessed == [HONEST]
    assert len(refused) == 1 and refused[0].startswith(f"{DISHONEST}: ")
    assert DISHONEST in log_text  # the operator is told which partner misbehaved
    assert verify_signed_checkpoint(signed, anchors=trust_anchors(federation)) == [HONEST]
    with keeper.open() as store:
        assert recorded_checkpoints(store, log=NODE) == [signed]


@pytest.mark.parametrize("forged", [
    "a signature that does not verify",
    "a real co-signature by another province",
    "another province's co-signature under its own name",
    "its own co-signature over another checkpoint",
])
def test_a_partner_returning_a_forged_cosignature_is_left_out_of_the_checkpoint(
    forged: str, federation: Federation, node_with_partners: Callable[[Tamper], LogKeeper],
    caplog: pytest.LogCaptureFixture,
) -> None:
    keeper = node_with_partners(cosignature_replaced(forgeries(federation)[forged]))

    with caplog.at_level(logging.WARNING, logger="tongban.witness"):
        outcome = keeper.make_checkpoint()

    assert_recorded_with_the_honest_cosignature_only(keeper, federation, outcome, caplog.text)
    # The node's own audit of its untampered log passes: no bad co-signature poisons the record.
    assert verify_node_log(keeper, ask_witnesses=False).verdict == "TOTAL_PASSED"


def answering(method: str, text: str) -> Tamper:
    """A partner whose answer to `method` carries `text` in place of its document."""
    def tamper(called: str, request: Any, reply: Any) -> Any:
        if called != method:
            return reply
        if method == "LastSeen":
            return witness_pb2.SeenCheckpoint(checkpoint_json=text)
        return witness_pb2.WitnessReply(cosignature_json=text)
    return tamper


NEGATIVE_SIZE = json.dumps({
    "checkpoint": {"log": NODE, "size": -1, "root": "", "chain_head": "", "signed_at": ""},
    "signature": {"signer": NODE, "signed_at": "", "signature": "", "certificate": ""},
})


@pytest.mark.parametrize(("method", "garbage"), [
    ("LastSeen", "not json"),
    ("LastSeen", '{"checkpoint": 1}'),
    ("LastSeen", "[]"),
    ("LastSeen", NEGATIVE_SIZE),
    ("Witness", "not json"),
    ("Witness", "null"),
    ("Witness", '{"signer": 5}'),
    ("Witness", json.dumps({"signer": DISHONEST, "signed_at": 1, "signature": "", "certificate": ""})),
])
def test_a_partner_answering_garbage_does_not_stop_the_checkpoint(
    method: str, garbage: str, federation: Federation, node_with_partners: Callable[[Tamper], LogKeeper],
    caplog: pytest.LogCaptureFixture,
) -> None:
    keeper = node_with_partners(answering(method, garbage))

    with caplog.at_level(logging.WARNING, logger="tongban.witness"):
        outcome = keeper.make_checkpoint()

    assert_recorded_with_the_honest_cosignature_only(keeper, federation, outcome, caplog.text)


@pytest.mark.parametrize("parse", [SignedCheckpoint.from_json, witness_module.signature_from_json])
def test_a_document_nested_past_the_json_parsers_limit_is_malformed_not_an_internal_error(
    parse: Callable[[str], Any],
) -> None:
    # Found by the RPC fuzz test: a witness answered INTERNAL to a checkpoint_json of 2 045 '['.
    with pytest.raises(SigningError, match="nested too deeply"):
        parse("[" * 100_000)
