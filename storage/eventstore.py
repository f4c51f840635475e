"""Event-store settings: which persistence module the node's eventsourcing application uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from exchange.errors import InvalidRequest

if TYPE_CHECKING:
    from storage.chain import LogStore


@dataclass(frozen=True)
class EventStoreSettings:
    kind: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 5432
    dbname: str = "tongban"
    user: str = "postgres"
    password: str = ""
    schema: str = "public"
    pool_size: int = 5
    # The node's event key file (storage.eventcipher): events holding personal data are encrypted
    # and each case's personal fields sealed under a per-case key. None keeps events in clear.
    key_file: Path | None = None
    # False for a node whose PostgreSQL role may only read and append (storage.chain.
    # grant_append_only): the schema's owner creates the schema and its tables, once.
    create_schema: bool = True

    def application_env(self) -> dict[str, str]:
        """The environment an eventsourcing Application reads its persistence from. Without
        PERSISTENCE_MODULE the library keeps events in memory and loses them on exit."""
        if self.kind == "sqlite":
            if self.sqlite_path is None:
                raise InvalidRequest("event_store.sqlite_path", "give the SQLite file of this node")
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "APPLICATION_RECORDER_TOPIC": "storage.chain:ChainedSQLiteRecorder",
                **self._protection_env(has_events=_sqlite_has_events(self.sqlite_path)),
            }
        if self.kind == "postgres":
            has_events = ensure_postgres_schema(self)
            return {
                "CREATE_TABLE": "yes" if self.create_schema else "no",
                **self._protection_env(has_events=has_events),
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": self.dbname,
                "POSTGRES_HOST": self.host,
                "POSTGRES_PORT": str(self.port),
                "POSTGRES_USER": self.user,
                "POSTGRES_PASSWORD": self.password,
                "POSTGRES_SCHEMA": self.schema,
                "POSTGRES_POOL_SIZE": str(self.pool_size),
                "APPLICATION_RECORDER_TOPIC": "storage.chain:ChainedPostgresRecorder",
                # The chain trigger relies on the library's table lock, which the
                # database-function insert path does not take.
                "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
            }
        raise InvalidRequest("event_store.kind", f"{self.kind!r} is not sqlite or postgres")

    def _protection_env(self, *, has_events: bool) -> dict[str, str]:
        """The node cipher and the personal-data mapper. A new store gets a new key; a store that
        already holds events never does, since a new key could not read what the old one wrote."""
        if self.key_file is None:
            return {}
        from storage.eventcipher import KEY_FILE_ENV, EventKeyring, open_event_keyring

        if self.key_file.exists() or has_events:
            open_event_keyring(self.key_file)  # fail now, with a message, not at the first read
        else:
            EventKeyring.open(self.key_file, create=True)
        return {
            "CIPHER_TOPIC": "storage.eventcipher:EventCipher",
            "MAPPER_TOPIC": "storage.personal:PersonalDataMapper",
            KEY_FILE_ENV: str(self.key_file),
        }


def _sqlite_has_events(path: Path) -> bool:
    if not path.exists():
        return False
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'stored_events'").fetchone()
        return bool(found and conn.execute("SELECT 1 FROM stored_events LIMIT 1").fetchone())
    finally:
        conn.close()


def open_log_store(settings: EventStoreSettings) -> LogStore:
    """Raw access to the node's log for auditing (events, hash chain, checkpoints)."""
    from storage.chain import PostgresLogStore, SQLiteLogStore

    if settings.kind == "sqlite":
        if settings.sqlite_path is None:
            raise InvalidRequest("event_store.sqlite_path", "give the SQLite file of this node")
        return SQLiteLogStore(str(settings.sqlite_path))
    import psycopg

    conn = psycopg.connect(
        host=settings.host, port=settings.port, dbname=settings.dbname, user=settings.user,
        password=settings.password or None, autocommit=True, connect_timeout=5,
    )
    return PostgresLogStore(conn, schema=settings.schema)


def ensure_postgres_schema(settings: EventStoreSettings) -> bool:
    """Each node gets its own schema: eventsourcing does not prefix its tables per node.
    Returns whether the schema already holds events."""
    import psycopg

    with psycopg.connect(
        host=settings.host,
        port=settings.port,
        dbname=settings.dbname,
        user=settings.user,
        password=settings.password or None,
        autocommit=True,
        connect_timeout=5,
    ) as conn:
        if settings.create_schema:  # a role that only appends may not, even where it exists
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')
        table = conn.execute("SELECT to_regclass(%s)", (f'"{settings.schema}".tongban_events',)).fetchone()[0]
        return table is not None and conn.execute(
            f'SELECT 1 FROM "{settings.schema}".tongban_events LIMIT 1').fetchone() is not None
