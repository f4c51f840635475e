"""tongban bench counts the nodes' PostgreSQL round trips per case from the server's own
transaction counter for the nodes' database, and nothing on SQLite."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from nodes.bench import postgres_transactions
from storage.eventstore import EventStoreSettings


def topology_on(settings: EventStoreSettings) -> Any:
    return SimpleNamespace(nodes=[SimpleNamespace(config=SimpleNamespace(event_store=settings))])


@pytest.mark.postgres
def test_the_transactions_of_the_nodes_database_are_counted(postgres_schema: EventStoreSettings) -> None:
    topology = topology_on(postgres_schema)
    before = postgres_transactions(topology)
    assert isinstance(before, int)
    with psycopg.connect(host=postgres_schema.host, port=postgres_schema.port, dbname=postgres_schema.dbname,
                         user=postgres_schema.user, autocommit=True) as conn:
        for _ in range(20):
            conn.execute("SELECT 1")
    deadline = time.monotonic() + 15  # a backend reports its counts at most once a second, or on closing
    while (after := postgres_transactions(topology)) is not None and after < before + 20:
        assert time.monotonic() < deadline, f"{after - before} of 20 transactions counted"
        time.sleep(0.2)


def test_nothing_is_counted_on_sqlite(tmp_path: Path) -> None:
    assert postgres_transactions(topology_on(EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "e.sqlite"))) is None
