"""Jobs that one replica of a province's node must do at a time (making a log checkpoint,
publishing the province CRL), when several replicas share one PostgreSQL event store.

A PostgreSQL session advisory lock keyed by the node's schema and the job's name: held while the
job runs, released when its connection closes, so a replica that dies mid-job frees it. With
SQLite there is one process per database file, so the job is always this process's."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from storage.eventstore import EventStoreSettings


def lock_key(settings: EventStoreSettings, job: str) -> int:
    """A signed 64-bit key, as pg_advisory_lock takes, the same in every replica."""
    digest = hashlib.sha256(f"tongban:{settings.dbname}:{settings.schema}:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def singleton_job(settings: EventStoreSettings, job: str, *, wait: bool) -> Iterator[bool]:
    """Yield True if this process holds the job now. wait=False yields False at once when
    another replica holds it (a periodic job skips its round); wait=True queues behind it."""
    if settings.kind != "postgres":
        yield True
        return
    import psycopg

    with psycopg.connect(host=settings.host, port=settings.port, dbname=settings.dbname, user=settings.user,
                         password=settings.password or None, autocommit=True, connect_timeout=5) as conn:
        key = lock_key(settings, job)
        if wait:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            held = True
        else:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            held = bool(row and row[0])
        try:
            yield held
        finally:
            if held and not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
