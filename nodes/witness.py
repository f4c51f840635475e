"""Partners witnessing each other's logs: making and signing checkpoints, asking partners to
co-sign them after a consistency proof, and the WitnessService that does the checking."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    Signature, SignedCheckpoint, TrustAnchors, cosign, sign_checkpoint, verify_signed_checkpoint,
)
from signing.errors import SigningError
from signing.pki import Federation
from storage.chain import LogStore
from storage.eventstore import EventStoreSettings, open_log_store
from storage.singleton import singleton_job
from storage.logcheck import checkpoint_of, record_checkpoint, recorded_checkpoints
from tongban_pb import audit_pb2, common_pb2, witness_pb2, witness_pb2_grpc

log = logging.getLogger("tongban.witness")

SEEN_NOTE = "seen"  # a checkpoint of a partner's log this node co-signed
FORK_NOTE = "fork"  # two checkpoints signed by one partner that cannot both be true

_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def trust_anchors(federation: Federation) -> TrustAnchors:
    return TrustAnchors(root_pem=federation.root_pem(),
                        province_ca_pems=[federation.province_ca_pem(c) for c in sorted(federation.provinces)])


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
            tree: MerkleTree | None = None
            witnessed, refused = [], []
            for partner in sorted(self.witnesses.peers):
                try:
                    last = self.witnesses.last_seen(partner, log=self.province)
                    old_size = last.checkpoint.size if last else 0
                    if old_size > checkpoint.size:
                        raise IllegalTransition(f"{partner} saw {old_size} entries, the log has {checkpoint.size}")
                    if tree is None:
                        tree = MerkleTree(store.leaf_hashes(checkpoint.size))
                    reply = self.witnesses.call(partner, "Witness", witness_pb2.WitnessRequest(
                        checkpoint_json=signed.to_json(), old_size=old_size,
                        consistency_proof=tree.consistency_proof(old_size, checkpoint.size)))
                    signed = signed.with_cosignature(Signature(**json.loads(reply.cosignature_json)))
                    witnessed.append(partner)
                except (PeerUnavailable, PeerRefused, IllegalTransition, NotFound) as exc:
                    refused.append(f"{partner}: {exc}")
            record_checkpoint(store, signed)
        return signed, witnessed, refused


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
        with self.keeper.open() as store:
            seen = store.notes(SEEN_NOTE, sender)
            last = SignedCheckpoint.from_json(seen[-1].document) if seen else None
            old_size = last.checkpoint.size if last else 0
            if request.old_size != old_size:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"old_size: this witness last saw {old_size} entries of {sender}, not {request.old_size}; "
                              "ask LastSeen and prove consistency from there")
            if last is not None and not verify_consistency(
                old_size=old_size, new_size=new.checkpoint.size,
                old_root=bytes.fromhex(last.checkpoint.root), new_root=bytes.fromhex(new.checkpoint.root),
                proof=list(request.consistency_proof),
            ):
                store.add_note(kind=FORK_NOTE, subject=sender, document=json.dumps(
                    {"witnessed": json.loads(last.to_json()), "presented": json.loads(new.to_json())}))
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"the log of {sender} at {new.checkpoint.size} entries does not extend the one this "
                              f"witness co-signed at {old_size} entries ({last.checkpoint.signed_at}): "
                              "its history was rewritten; the evidence is recorded")
            cert, key = self.keeper.federation.node_tls(self.keeper.province)
            cosignature = cosign(new.checkpoint, witness=self.keeper.province, signed_at=now_iso(),
                                 cert_pem=cert, key_pem=key)
            store.add_note(kind=SEEN_NOTE, subject=sender,
                           document=SignedCheckpoint(new.checkpoint, new.signature, (cosignature,)).to_json())
        return witness_pb2.WitnessReply(cosignature_json=json.dumps(vars(cosignature)))

    def CaseEvents(self, request, context):  # type: ignore[no-untyped-def]
        sender = caller.get().province_code
        parties.require_party(self.ctx.ledger.get_case(request.case_number), sender)
        entries = case_log(self.ctx.ledger, request.case_number, node=self.ctx.province_code)
        return witness_pb2.CaseEventsReply(node=self.ctx.province_code,
                                           entries=[log_entry_to_pb(e) for e in entries])

    def CaseEvidence(self, request, context):  # type: ignore[no-untyped-def]
        from nodes.evidence import case_side

        sender = caller.get().province_code
        parties.require_party(self.ctx.ledger.get_case(request.case_number), sender)
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
    the log owner's signature, so together they prove it showed two histories."""
    by_key: dict[tuple[str, int], SignedCheckpoint] = {}
    forks = []
    for c in checkpoints:
        key = (c.checkpoint.log, c.checkpoint.size)
        other = by_key.setdefault(key, c)
        if other.checkpoint.root != c.checkpoint.root:
            forks.append((other, c))
    return forks


__all__ = ["CheckpointTimer", "LogKeeper", "WitnessGateway", "WitnessServicer", "find_forks"]
