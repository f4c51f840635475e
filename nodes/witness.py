"""Partners witnessing each other's logs: making and signing checkpoints, asking partners to
co-sign them after a consistency proof, and the WitnessService that does the checking."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import grpc

from exchange import parties
from exchange.audit import case_log
from exchange.context import utc_now
from exchange.errors import IllegalTransition, NotAuthorised, NotFound, PeerRefused, PeerUnavailable
from exchange.merkle import MerkleTree, verify_consistency
from nodes.interceptors import caller
from nodes.tls import PartnerStubs
from signing.checkpoint import (
    Checkpoint, Signature, SignedCheckpoint, TrustAnchors, cosign, cosignature_body, parse_json, sign_checkpoint,
    verify_signature, verify_signed_checkpoint,
)
from signing.errors import SigningError
from signing.pki import Federation
from storage.chain import LogStore, PostgresLogStore
from storage.eventstore import EventStoreSettings, open_log_store
from storage.singleton import lock_key, singleton_job
from storage.logcheck import checkpoint_of, record_checkpoint, recorded_checkpoints
from tongban_pb import audit_pb2, common_pb2, witness_pb2, witness_pb2_grpc

log = logging.getLogger("tongban.witness")

SEEN_NOTE = "seen"  # a checkpoint of a partner's log this node co-signed
FORK_NOTE = "fork"  # two checkpoints signed by one partner that cannot both be true

_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

# What one partner can make go wrong while witnessing a checkpoint: it is down or refuses, it saw
# more than the log holds, or its answer is malformed or forged (bad JSON, a document of the wrong
# shape, a co-signature that does not verify). Each means that partner declines this round; none
# may cost the checkpoint the other partners' co-signatures.
PARTNER_DECLINED = (PeerUnavailable, PeerRefused, IllegalTransition, NotFound,
                    ValueError, TypeError, KeyError, SigningError)
# Of those, the ones no honest partner causes: worth a warning naming the partner.
_MISBEHAVING = (ValueError, TypeError, KeyError, SigningError)


def trust_anchors(federation: Federation) -> TrustAnchors:
    codes = sorted(federation.provinces)
    return TrustAnchors(root_pem=federation.root_pem(),
                        province_ca_pems=[federation.province_ca_pem(c) for c in codes],
                        province_crl_pems=[federation.crl_pem(c) for c in codes])


def now_iso() -> str:
    return utc_now().isoformat(timespec="microseconds")


def log_entry_to_pb(e: Any) -> audit_pb2.LogEntry:
    return audit_pb2.LogEntry(
        node=e.node, notification_id=e.notification_id, case_number=e.case_number, version=e.version,
        event=e.event, recorded_at=e.recorded_at.isoformat(), actor=common_pb2.Actor(**e.actor),
        detail_json=json.dumps(e.detail, ensure_ascii=False, sort_keys=True, default=str),
    )


class WitnessGateway:
    """Calls to partners' WitnessService over mutual TLS with the node's certificate."""

    def __init__(self, *, peers: Mapping[str, str], credentials: grpc.ChannelCredentials, timeout: float = 30.0) -> None:
        self.peers = dict(peers)
        self.credentials = credentials
        self.timeout = timeout
        self._partners = PartnerStubs(peers=peers, credentials=credentials, stub_class=witness_pb2_grpc.WitnessServiceStub,
                                      missing=lambda p: NotFound(f"this node has no peer address for province {p}"))

    def stub(self, province: str) -> witness_pb2_grpc.WitnessServiceStub:
        return self._partners.get(province)

    def call(self, province: str, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub(province), method)(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            if exc.code() in _UNREACHABLE:
                raise PeerUnavailable(f"the node of {province} is unreachable ({exc.code().name})") from None
            raise PeerRefused(f"the node of {province} refused: {exc.code().name}: {exc.details()}") from None

    def last_seen(self, province: str, *, log: str) -> SignedCheckpoint | None:
        reply = self.call(province, "LastSeen", witness_pb2.LogRef(log=log))
        return SignedCheckpoint.from_json(reply.checkpoint_json) if reply.checkpoint_json else None

    def close(self) -> None:
        self._partners.close()


@dataclass
class LogKeeper:
    """A node's own log: where it is stored, who signs for it and who witnesses it."""

    province: str
    settings: EventStoreSettings
    federation: Federation
    witnesses: WitnessGateway
    _checkpoint_lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> LogStore:
        return open_log_store(self.settings)

    def anchors(self) -> TrustAnchors:
        return trust_anchors(self.federation)

    def make_checkpoint(self) -> tuple[SignedCheckpoint, list[str], list[str]]:
        """Sign the log as it is now, gather co-signatures, record the result."""
        cert, key = self.federation.node_tls(self.province)
        # Replicas of this node share the log: one of them checkpoints it at a time.
        with self._checkpoint_lock, singleton_job(self.settings, "checkpoint", wait=True), self.open() as store:
            checkpoint = checkpoint_of(store, log=self.province, signed_at=now_iso())
            signed = sign_checkpoint(checkpoint, cert_pem=cert, key_pem=key)
            proofs = ConsistencyProofs(store, checkpoint.size)
            witnessed, refused = [], []
            for partner in sorted(self.witnesses.peers):
                try:
                    cosignature = self._cosignature_of(partner, signed, proofs)
                except PARTNER_DECLINED as exc:
                    refused.append(self._declined(partner, checkpoint, exc))
                    continue
                signed = signed.with_cosignature(cosignature)
                witnessed.append(partner)
            record_checkpoint(store, signed)
        return signed, witnessed, refused

    def _cosignature_of(self, partner: str, signed: SignedCheckpoint, proofs: ConsistencyProofs) -> Signature:
        """Ask `partner` to witness `signed`, proving it extends what the partner last saw; return
        its co-signature once it is known to be the partner's own over this very checkpoint."""
        checkpoint = signed.checkpoint
        last = self.witnesses.last_seen(partner, log=self.province)
        old_size = last.checkpoint.size if last else 0
        if old_size > checkpoint.size:
            raise IllegalTransition(f"{partner} saw {old_size} entries, the log has {checkpoint.size}")
        reply = self.witnesses.call(partner, "Witness", witness_pb2.WitnessRequest(
            checkpoint_json=signed.to_json(), old_size=old_size, consistency_proof=proofs.from_size(old_size)))
        cosignature = signature_from_json(reply.cosignature_json)
        verify_cosignature(cosignature, checkpoint, witness=partner, anchors=self.anchors())
        return cosignature

    def _declined(self, partner: str, checkpoint: Checkpoint, exc: Exception) -> str:
        if isinstance(exc, _MISBEHAVING):
            log.warning("partner %s gave an unusable answer when asked to witness the log of %s at %d entries; "
                        "the checkpoint is recorded without it: %s: %s",
                        partner, self.province, checkpoint.size, type(exc).__name__, exc)
            return f"{partner}: unusable answer ({type(exc).__name__}: {exc})"
        return f"{partner}: {exc}"


class ConsistencyProofs:
    """Proofs that the log at `size` entries extends its first n entries, for any n a partner
    last saw; the Merkle tree is built once, and only if some partner is asked."""

    def __init__(self, store: LogStore, size: int) -> None:
        self.store, self.size = store, size
        self._tree: MerkleTree | None = None

    def from_size(self, old_size: int) -> list[bytes]:
        if self._tree is None:
            self._tree = MerkleTree(self.store.leaf_hashes(self.size))
        return self._tree.consistency_proof(old_size, self.size)


_SIGNATURE_FIELDS = frozenset(f.name for f in fields(Signature))


def signature_from_json(text: str) -> Signature:
    """A signature sent by a partner: every field present and a string, before anything uses it."""
    data = parse_json(text, what="co-signature")
    if not isinstance(data, dict) or set(data) != _SIGNATURE_FIELDS:
        raise SigningError(f"malformed co-signature: expected the fields {sorted(_SIGNATURE_FIELDS)}")
    if not all(type(value) is str for value in data.values()):
        raise SigningError("malformed co-signature: every field must be a string")
    return Signature(**data)


def verify_cosignature(cosignature: Signature, checkpoint: Checkpoint, *, witness: str,
                       anchors: TrustAnchors) -> None:
    """Raise SigningError unless `witness`'s node key co-signed exactly `checkpoint`: a partner
    must not be able to put a co-signature into our checkpoint that a verifier would reject, or
    one in another province's name."""
    body = cosignature_body(checkpoint, witness=witness, signed_at=cosignature.signed_at)
    verify_signature(cosignature, body, anchors=anchors, province=witness)


@dataclass(frozen=True)
class Refusal:
    """Why a witness will not co-sign, returned out of its transaction so that what it recorded
    while deciding (the evidence of a fork) is committed before the call is aborted."""

    code: grpc.StatusCode
    details: str


@contextmanager
def witnessing_turn(store: LogStore, settings: EventStoreSettings, sender: str) -> Iterator[None]:
    """One transaction holding a lock on `sender`'s witnessing from before the witness reads what
    it last saw of `sender` until it has recorded what it co-signs next. Without it two calls in
    flight at once both check against the same last-seen checkpoint and the witness co-signs two
    histories that disagree. The lock lives in the database, so it also holds between replicas of
    this node sharing it; a lock in this process could not."""
    if isinstance(store, PostgresLogStore):
        # Keyed like the node's singleton jobs (database, schema, name), so every replica agrees on
        # it; a transaction-level lock is released by COMMIT or ROLLBACK, and by a dying connection.
        with store.conn.transaction():
            store.conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(settings, f"witness:{sender}"),))
            yield
        return
    # SQLite has one writer at a time: taking the write lock before the read serialises every
    # Witness call on this database file (the store's connection is in autocommit mode).
    store.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        store.conn.execute("ROLLBACK")
        raise
    store.conn.execute("COMMIT")


class WitnessServicer(witness_pb2_grpc.WitnessServiceServicer):
    """Partners call this with their node certificates (role "node")."""

    def __init__(self, ctx: Any, keeper: LogKeeper) -> None:
        self.ctx = ctx
        self.keeper = keeper

    def LastSeen(self, request, context):  # type: ignore[no-untyped-def]
        with self.keeper.open() as store:
            seen = store.notes(SEEN_NOTE, request.log)
        return witness_pb2.SeenCheckpoint(checkpoint_json=seen[-1].document if seen else "")

    def Witness(self, request, context):  # type: ignore[no-untyped-def]
        sender = caller.get().province_code
        try:
            new = SignedCheckpoint.from_json(request.checkpoint_json)
            verify_signed_checkpoint(SignedCheckpoint(new.checkpoint, new.signature), anchors=self.keeper.anchors())
        except (SigningError, ValueError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"checkpoint_json: {exc}")
        if new.checkpoint.log != sender:
            raise NotAuthorised(f"province {sender} can only submit its own log, not {new.checkpoint.log}'s")
        with self.keeper.open() as store, witnessing_turn(store, self.keeper.settings, sender):
            outcome = self._witness(store, sender, new, request)
        if isinstance(outcome, Refusal):
            context.abort(outcome.code, outcome.details)
        return witness_pb2.WitnessReply(cosignature_json=json.dumps(vars(outcome)))

    def _witness(self, store: LogStore, sender: str, new: SignedCheckpoint, request: Any) -> Signature | Refusal:
        """Co-sign `new` and record it as seen if it extends what this witness last saw of
        `sender`; run within `witnessing_turn`, so nothing is seen in between."""
        seen = store.notes(SEEN_NOTE, sender)
        last = SignedCheckpoint.from_json(seen[-1].document) if seen else None
        old_size = last.checkpoint.size if last else 0
        if request.old_size != old_size:
            return Refusal(grpc.StatusCode.FAILED_PRECONDITION,
                           f"old_size: this witness last saw {old_size} entries of {sender}, not {request.old_size}; "
                           "ask LastSeen and prove consistency from there")
        if last is not None and not verify_consistency(
            old_size=old_size, new_size=new.checkpoint.size,
            old_root=bytes.fromhex(last.checkpoint.root), new_root=bytes.fromhex(new.checkpoint.root),
            proof=list(request.consistency_proof),
        ):
            store.add_note(kind=FORK_NOTE, subject=sender, document=json.dumps(
                {"witnessed": json.loads(last.to_json()), "presented": json.loads(new.to_json())}))
            return Refusal(grpc.StatusCode.FAILED_PRECONDITION,
                           f"the log of {sender} at {new.checkpoint.size} entries does not extend the one this "
                           f"witness co-signed at {old_size} entries ({last.checkpoint.signed_at}): "
                           "its history was rewritten; the evidence is recorded")
        cert, key = self.keeper.federation.node_tls(self.keeper.province)
        cosignature = cosign(new.checkpoint, witness=self.keeper.province, signed_at=now_iso(),
                             cert_pem=cert, key_pem=key)
        store.add_note(kind=SEEN_NOTE, subject=sender,
                       document=SignedCheckpoint(new.checkpoint, new.signature, (cosignature,)).to_json())
        return cosignature

    def CaseEvents(self, request, context):  # type: ignore[no-untyped-def]
        sender = caller.get().province_code
        parties.case_of_party(self.ctx.ledger, request.case_number, sender)  # a case not here: refused alike
        entries = case_log(self.ctx.ledger, request.case_number, node=self.ctx.province_code)
        return witness_pb2.CaseEventsReply(node=self.ctx.province_code,
                                           entries=[log_entry_to_pb(e) for e in entries])

    def CaseEvidence(self, request, context):  # type: ignore[no-untyped-def]
        from nodes.evidence import case_side

        sender = caller.get().province_code
        parties.case_of_party(self.ctx.ledger, request.case_number, sender)  # a case not here: refused alike
        return witness_pb2.CaseEvidenceReply(side_json=json.dumps(case_side(self.keeper, request.case_number,
                                                                                   mapper=self.ctx.ledger.mapper)))


class CheckpointTimer:
    """Every `interval` seconds, if the log grew since the last checkpoint, sign a new one and
    have the partners witness it."""

    def __init__(self, keeper: LogKeeper, *, interval: float) -> None:
        self.keeper, self.interval = keeper, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"checkpoints-{keeper.province}", daemon=True)

    def start(self) -> CheckpointTimer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def tick(self) -> bool:
        # Every replica of the node runs a timer; the one that holds the job this round decides,
        # and the others find the log already checkpointed next time.
        with singleton_job(self.keeper.settings, "checkpoint-timer", wait=False) as ours:
            if not ours:
                return False
            with self.keeper.open() as store:
                head = store.head()
                done = recorded_checkpoints(store, log=self.keeper.province)
            size = head.position if head else 0
            if size == 0 or (done and done[-1].checkpoint.size >= size):
                return False
            _, _, refused = self.keeper.make_checkpoint()
        for reason in refused:
            log.warning("checkpoint of %s at %d entries not witnessed by %s", self.keeper.province, size, reason)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the next tick tries again; the log itself is unaffected
                log.exception("could not make a checkpoint of the log of %s", self.keeper.province)


def find_forks(checkpoints: list[SignedCheckpoint]) -> list[tuple[SignedCheckpoint, SignedCheckpoint]]:
    """Pairs of checkpoints of one log at the same size with different tree heads: both carry
    the log owner's signature, so together they prove it showed two histories.

    Two checkpoints of different sizes are not compared: telling whether the larger extends the
    smaller needs a consistency proof between exactly those two sizes, and none is kept (a witness
    checks the proof it is sent and stores only the checkpoint). Such a fork shows up instead when
    the log is checked against the witnesses' checkpoints (nodes.audit), or is refused, with the
    evidence kept, by the witness it is shown to."""
    by_key: dict[tuple[str, int], SignedCheckpoint] = {}
    forks = []
    for c in checkpoints:
        key = (c.checkpoint.log, c.checkpoint.size)
        other = by_key.setdefault(key, c)
        if other.checkpoint.root != c.checkpoint.root:
            forks.append((other, c))
    return forks


__all__ = ["CheckpointTimer", "LogKeeper", "WitnessGateway", "WitnessServicer", "find_forks"]
