"""Shared fixtures: a federation PKI, PostgreSQL settings, nodes on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from signing.pki import Federation
from storage.eventstore import EventStoreSettings

pytest_plugins = ["tests.fixtures.s3"]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    from nodes.demo import make_federation

    return make_federation(tmp_path_factory.mktemp("federation"))


@pytest.fixture(scope="session")
def foreign_federation(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    """A PKI with the same layout and names but another root: not the federation's."""
    from nodes.demo import make_federation

    return make_federation(tmp_path_factory.mktemp("foreign"))


@pytest.fixture(scope="session")
def postgres_base() -> EventStoreSettings:
    """The PostgreSQL server at 127.0.0.1:5432 (CI starts it). Unreachable is a failure, not a
    skip, so a green run always includes PostgreSQL."""
    import psycopg

    settings = EventStoreSettings(
        kind="postgres",
        host=os.environ.get("TONGBAN_TEST_PGHOST", "127.0.0.1"),
        port=int(os.environ.get("TONGBAN_TEST_PGPORT", "5432")),
        dbname=os.environ.get("TONGBAN_TEST_PGDATABASE", "test"),
        user=os.environ.get("TONGBAN_TEST_PGUSER", "postgres"),
    )
    try:
        psycopg.connect(host=settings.host, port=settings.port, dbname=settings.dbname,
                        user=settings.user, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {settings.host}:{settings.port} is not reachable ({exc}); "
                    "start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    return settings


@pytest.fixture
def postgres_schema(postgres_base: EventStoreSettings) -> Iterator[EventStoreSettings]:
    """A fresh schema prefix per test; every schema made from it is dropped afterwards."""
    import dataclasses

    import psycopg

    prefix = f"t_{uuid.uuid4().hex[:10]}"
    yield dataclasses.replace(postgres_base, schema=prefix)
    with psycopg.connect(host=postgres_base.host, port=postgres_base.port, dbname=postgres_base.dbname,
                         user=postgres_base.user, autocommit=True) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)).fetchall()
        for (name,) in rows:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
