"""Materials no case holds: scans a clerk uploaded for an application that was never submitted,
materials pushed for a case that never arrived (its forward refused, or withdrawn before it
came). No retention keeps them, and nothing reads them again; they are personal data all the
same, kept no longer than their purpose needs (个人信息保护法 第十九条).

They are left alone for `keep_days` (a clerk may still submit, a sender may still resend), then
deleted. A material any case at this node names is never deleted: it is retained for the case's
matter instead, which heals a node stopped between saving a case and retaining its materials.
A case saved while the sweep runs retains its materials first, and the store refuses to delete
a retained object, so the two cannot cross."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from exchange.case import Case
from exchange.catalog import Catalog
from exchange.errors import IllegalTransition, InvalidRequest
from exchange.materials import retain_for_matter
from exchange.ports import ObjectStore


@dataclass(frozen=True)
class Sweep:
    examined: int  # objects stored before the cutoff that no retention holds
    deleted: tuple[str, ...]  # SHA-256 (a dry run lists what it would delete)
    retained: tuple[str, ...]  # named by a case but not retained: retained now
    dry_run: bool


def sweep_unclaimed(
    *, cases: Iterable[Case], store: ObjectStore, catalog: Catalog, now: datetime, keep_days: int = 30,
    dry_run: bool = False,
) -> Sweep:
    if keep_days < 1:
        raise InvalidRequest("keep_days", "keep unclaimed materials at least one day: a clerk may still submit")
    named = _named_by(cases)
    examined, deleted, retained = 0, [], []
    for sha256 in store.never_retained(stored_before=now - timedelta(days=keep_days)):
        examined += 1
        case = named.get(sha256)
        if case is not None:
            if not dry_run:
                retain_for_matter(store, matter=catalog.get(case.matter_code), materials=[{"sha256": sha256}], now=now)
            retained.append(sha256)
            continue
        if not dry_run:
            try:
                store.delete(sha256)
            except IllegalTransition:  # retained by a case saved meanwhile: claimed after all
                continue
        deleted.append(sha256)
    return Sweep(examined=examined, deleted=tuple(deleted), retained=tuple(retained), dry_run=dry_run)


def _named_by(cases: Iterable[Case]) -> dict[str, Case]:
    named: dict[str, Case] = {}
    for case in cases:
        for material in case.materials:
            named[str(material["sha256"])] = case
        if case.result is not None:
            named[str(case.result["sha256"])] = case
    return named
