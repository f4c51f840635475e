"""Checking a node's whole log against its hash chain and its signed checkpoints, and making
checkpoints of it. Reads in pages, so a log of millions of entries is checked in constant memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from exchange.merkle import MerkleAccumulator, MerkleTree
from signing.checkpoint import Checkpoint, SignedCheckpoint
from storage.chain import GENESIS, ChainRow, EventRow, LogStore, chain_hash

CHECKPOINT_NOTE = "checkpoint"
MAX_PROBLEMS = 200
TOTAL_PASSED, TOTAL_FAILED = "TOTAL_PASSED", "TOTAL_FAILED"


@dataclass(frozen=True)
class Problem:
    kind: str  # altered | deleted | unchained | chain_broken | reordered | truncated | rewritten | ...
    detail: str
    position: int | None = None  # chain position (1-based entry number)
    notification_id: int | None = None


@dataclass(frozen=True)
class Anchor:
    """A checkpoint the log must still match: from the node's notes or from a witness."""

    size: int
    root: bytes
    chain_head: bytes
    source: str


@dataclass(frozen=True)
class LogReport:
    node: str
    entries: int
    events: int
    anchors_checked: int
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    more_problems: int = 0

    @property
    def verdict(self) -> str:
        return TOTAL_PASSED if not self.problems else TOTAL_FAILED

    @property
    def passed(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"log of node {self.node}: {self.entries} chained entries, {self.events} stored events, "
                 f"{self.anchors_checked} checkpoint(s) checked", f"verdict: {self.verdict}"]
        for p in self.problems:
            where = " ".join(x for x in (
                f"entry {p.position}" if p.position is not None else "",
                f"notification {p.notification_id}" if p.notification_id is not None else "") if x)
            lines.append(f"  {p.kind:<13} {where}: {p.detail}")
        if self.more_problems:
            lines.append(f"  ... and {self.more_problems} more problems")
        return "\n".join(lines)


def _merge(events: Iterator[EventRow], chain: Iterator[ChainRow]) -> Iterator[tuple[EventRow | None, ChainRow | None]]:
    """Pair stored events with chain entries by notification id (both come ordered)."""
    e, c = next(events, None), next(chain, None)
    while e is not None or c is not None:
        if e is not None and c is not None and e.notification_id == c.notification_id:
            yield e, c
            e, c = next(events, None), next(chain, None)
        elif c is None or (e is not None and e.notification_id < c.notification_id):
            yield e, None
            e = next(events, None)
        else:
            yield None, c
            c = next(chain, None)


def verify_log(
    store: LogStore, *, node: str, anchors: Sequence[Anchor] = (),
    progress: Callable[[int], None] | None = None,
) -> LogReport:
    """The log as it stood when the check began. Events and chain are read in separate pages, so
    on a node that keeps recording they must come from one snapshot: otherwise an event committed
    after the events were read but before the chain was would look deleted. What the node records
    meanwhile is left to the next check."""
    with store.snapshot():
        return _check_log(store, node=node, anchors=anchors, progress=progress)


def _check_log(
    store: LogStore, *, node: str, anchors: Sequence[Anchor], progress: Callable[[int], None] | None,
) -> LogReport:
    problems: list[Problem] = []
    dropped = 0

    def report(problem: Problem) -> None:
        nonlocal dropped
        if len(problems) < MAX_PROBLEMS:
            problems.append(problem)
        else:
            dropped += 1

    pending = sorted((a for a in anchors if a.size > 0), key=lambda a: a.size)
    acc = MerkleAccumulator()
    previous_hash, previous_position, previous_nid = GENESIS, 0, 0
    events = entries = 0
    for event, entry in _merge(store.iter_events(), store.iter_chain()):
        if event is not None:
            events += 1
        if entry is None:
            assert event is not None
            report(Problem("unchained", "stored event has no chain entry: it was inserted outside the node "
                           "or its chain entry was deleted", notification_id=event.notification_id))
            continue
        entries += 1
        if entry.position != previous_position + 1:
            report(Problem("deleted", f"chain entries {previous_position + 1}..{entry.position - 1} are missing",
                           position=entry.position, notification_id=entry.notification_id))
        if entry.notification_id <= previous_nid:
            report(Problem("reordered", f"notification id {entry.notification_id} comes after {previous_nid}",
                           position=entry.position, notification_id=entry.notification_id))
        if chain_hash(previous_hash, entry.leaf_hash) != entry.chain_hash:
            report(Problem("chain_broken", "the chain hash does not follow from the previous entry: "
                           "the chain was edited here", position=entry.position,
                           notification_id=entry.notification_id))
        leaf = entry.leaf_hash
        if event is None:
            report(Problem("deleted", "the chain records an event that is no longer stored",
                           position=entry.position, notification_id=entry.notification_id))
        else:
            leaf = event.leaf()
            if leaf != entry.leaf_hash:
                report(Problem("altered", f"the stored event (aggregate {event.originator_id}, version "
                               f"{event.version}, {event.topic.rsplit('.', 1)[-1]}) is not what was recorded",
                               position=entry.position, notification_id=entry.notification_id))
        acc.append(leaf)
        while pending and pending[0].size == acc.size:
            anchor = pending.pop(0)
            if acc.root() != anchor.root:
                report(Problem("rewritten", f"the first {anchor.size} entries no longer have the tree head "
                               f"signed in {anchor.source}", position=anchor.size))
            if entry.chain_hash != anchor.chain_head:
                report(Problem("rewritten", f"the chain head at entry {anchor.size} differs from {anchor.source}",
                               position=anchor.size))
        previous_hash, previous_position, previous_nid = entry.chain_hash, entry.position, entry.notification_id
        if progress is not None and entries % 10000 == 0:
            progress(entries)
    for anchor in pending:
        if anchor.size > acc.size:
            report(Problem("truncated", f"{anchor.source} covers {anchor.size} entries but the log has "
                           f"{acc.size}: entries {acc.size + 1}..{anchor.size} are gone", position=acc.size + 1))
    if progress is not None:
        progress(entries)
    return LogReport(node=node, entries=entries, events=events,
                     anchors_checked=len(anchors), problems=tuple(problems), more_problems=dropped)


# -- checkpoints ----------------------------------------------------------------------------

def checkpoint_of(store: LogStore, *, log: str, signed_at: str, size: int | None = None) -> Checkpoint:
    """The checkpoint of the log as stored now (or of its first `size` entries)."""
    head = store.head()
    size = (head.position if head else 0) if size is None else size
    leaves = store.leaf_hashes(size)
    tree = MerkleTree(leaves)
    entry = store.chain_at(size) if size else None
    return Checkpoint(log=log, size=size, root=tree.root().hex(),
                      chain_head=(entry.chain_hash if entry else GENESIS).hex(), signed_at=signed_at)


def record_checkpoint(store: LogStore, signed: SignedCheckpoint) -> None:
    store.add_note(kind=CHECKPOINT_NOTE, subject=signed.checkpoint.log, document=signed.to_json())


def recorded_checkpoints(store: LogStore, *, log: str | None = None) -> list[SignedCheckpoint]:
    return [SignedCheckpoint.from_json(n.document) for n in store.notes(CHECKPOINT_NOTE, log)]


def anchors_from(checkpoints: Iterable[SignedCheckpoint], *, source: str) -> list[Anchor]:
    return [Anchor(size=c.checkpoint.size, root=bytes.fromhex(c.checkpoint.root),
                   chain_head=bytes.fromhex(c.checkpoint.chain_head),
                   source=f"{source} checkpoint of {c.checkpoint.signed_at}") for c in checkpoints]
