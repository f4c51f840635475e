"""Personal data at rest: per-case keys, crypto-shredding, and the mapper that applies both.

Two layers, both applied when an event is stored (the domain keeps plain dicts):

1. The personal fields of an event (``applicant``, ``agent``, ``address`` and the file names of
   ``materials``) are taken out and sealed with AES-256-GCM under the case's own data key, bound
   to the event (aggregate id and version as associated data). The event keeps a ``_personal``
   entry with the sealed blob and the *shape* of what was taken (field names, dict keys, how many
   file names), which is not personal.
2. The whole event state is then encrypted with the node's event key (storage.eventcipher),
   except events known to hold no personal data and no free text (hand-offs, result hashes, seal
   reports): they stay in clear so evidence bundles remain verifiable offline byte for byte.

Case data keys live in a key table beside the events, wrapped by the node's current event key.
It is the one table that is not append-only: a lawful erasure replaces the wrapped key with a
tombstone. Every stored event keeps its bytes, so the hash chain and checkpoints still verify;
reading an erased case substitutes a placeholder for each personal field (exchange.people.ERASED).
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder
from eventsourcing.utils import Environment

from exchange.errors import IllegalTransition
from exchange.people import ERASED
from storage.eventcipher import EventCipher, EventKeyring, EventKeyUnavailable, is_encrypted

PERSONAL_FIELDS = ("applicant", "agent", "address")
SEALED = "_personal"
CASE_KEYS_TABLE = "tongban_case_keys"
# Events that hold no personal data and no free text; everything else is encrypted (fail closed:
# an event type added later is encrypted until someone decides otherwise).
CLEAR_TOPICS = frozenset(f"exchange.case:Case.{name}" for name in (
    "Forwarded", "Accepted", "ResultReceived", "Verified", "Printed", "PrintRefused",
    "ResultIssued", "ResultDelivered", "DeliveredOnline", "Closed",
))


class CaseDataErased(IllegalTransition):
    """The personal data of the case was erased; it cannot take new personal data."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- the key table ---------------------------------------------------------------------------

class CaseKeys:
    """Per-case data keys, wrapped by the node event key; erasure leaves a tombstone.

    Unwrapped keys are kept in memory for at most CACHE_SECONDS (a case is read event by event,
    each a key lookup otherwise). An erasure in this process drops the key at once; one made by
    another process (`tongban erase` beside a running node) is effective in the node within
    CACHE_SECONDS, which the command waits out before it reports success."""

    CACHE_SECONDS = 1.0
    CACHE_SIZE = 4096

    def __init__(self, keyring: EventKeyring) -> None:
        self.keyring = keyring
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    def _cached(self, case: str) -> bytes | None:
        hit = self._cache.get(case)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def _remember(self, case: str, key: bytes) -> bytes:
        self._cache[case] = (key, time.monotonic() + self.CACHE_SECONDS)
        self._cache.move_to_end(case)
        while len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return key

    # storage primitives, one per database
    def _row(self, case: str) -> tuple[str | None, str | None] | None:
        raise NotImplementedError

    def _insert(self, case: str, envelope: str | None, at: str, erased_at: str | None) -> bool:
        """Add the row unless the case has one already; True if this call added it."""
        raise NotImplementedError

    def _tombstone(self, case: str, at: str) -> None:
        raise NotImplementedError

    def _scrub(self) -> None:
        """Make the deleted key unrecoverable from the database files, as far as the database allows."""

    def _envelopes(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def _replace(self, case: str, envelope: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # the key life cycle
    def sealing_key(self, case: str, *, opening: bool = False) -> bytes:
        """The key that seals the case's personal data, made and recorded the first time.
        `opening`: the event is the case's first here, so its key is almost certainly not
        recorded yet: the key is added straight away instead of being looked for first (one
        database statement instead of two; a key or an erasure already recorded, by another
        replica or before the case arrived, still wins, as the insert then adds nothing)."""
        with self._lock:
            if (key := self._cached(case)) is not None:
                return key
            row = None if opening else self._row(case)
            if row is None:
                envelope = self.keyring.wrap(AESGCM.generate_key(bit_length=256))
                # Another replica may have added the case's key meanwhile: then that one counts.
                row = (envelope, None) if self._insert(case, envelope, now_iso(), None) else self._row(case)
                assert row is not None
            envelope, erased_at = row
            if envelope is None:
                raise CaseDataErased(f"the personal data of this case was erased on {erased_at}; "
                                     "it cannot record new personal data")
            return self._remember(case, self.keyring.unwrap(envelope))

    def opening_key(self, case: str) -> bytes | None:
        """The case key, or None if it was erased. A key that is simply missing is an error:
        only a recorded erasure may turn personal data into placeholders."""
        with self._lock:
            if (key := self._cached(case)) is not None:
                return key
            row = self._row(case)
            if row is None:
                raise EventKeyUnavailable(f"the data key of case {case} is missing from {CASE_KEYS_TABLE} and no "
                                          "erasure is recorded; restore the key table from its backup")
            envelope, _ = row
            return None if envelope is None else self._remember(case, self.keyring.unwrap(envelope))

    def erased_at(self, case: str) -> str | None:
        with self._lock:
            row = self._row(case)
        return row[1] if row is not None else None

    def erase(self, case: str, *, at: str | None = None) -> None:
        with self._lock:
            self._cache.pop(case, None)
            at = at or now_iso()
            # A tombstone for a case with no key row yet (erased before it arrived); a key row,
            # however recently another process added it, is tombstoned instead.
            if not self._insert(case, None, at, at):
                self._tombstone(case, at)
            self._scrub()

    def rewrap(self) -> int:
        """Re-wrap every case key under the node's current event key (after rotation)."""
        count = 0
        with self._lock:
            for case, envelope in self._envelopes():
                if self.keyring.key_id_of(envelope) != self.keyring.current_id:
                    self._replace(case, self.keyring.wrap(self.keyring.unwrap(envelope)))
                    count += 1
        return count

    def count_under(self, kid: str) -> int:
        with self._lock:
            return sum(1 for _, e in self._envelopes() if self.keyring.key_id_of(e) == kid)


class SQLiteCaseKeys(CaseKeys):
    def __init__(self, keyring: EventKeyring, *, path: str) -> None:
        super().__init__(keyring)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        # Overwrite deleted content with zeros, so an erased key does not linger in free pages.
        self.conn.execute("PRAGMA secure_delete = ON")
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {CASE_KEYS_TABLE} (case_id TEXT PRIMARY KEY, envelope TEXT, "
            "created_at TEXT NOT NULL, erased_at TEXT)")

    def _row(self, case: str) -> tuple[str | None, str | None] | None:
        r = self.conn.execute(f"SELECT envelope, erased_at FROM {CASE_KEYS_TABLE} WHERE case_id = ?", (case,)).fetchone()
        return (r[0], r[1]) if r else None

    def _insert(self, case: str, envelope: str | None, at: str, erased_at: str | None) -> bool:
        cur = self.conn.execute(f"INSERT OR IGNORE INTO {CASE_KEYS_TABLE} VALUES (?,?,?,?)",
                                (case, envelope, at, erased_at))
        return cur.rowcount == 1

    def _tombstone(self, case: str, at: str) -> None:
        self.conn.execute(f"UPDATE {CASE_KEYS_TABLE} SET envelope = NULL, erased_at = COALESCE(erased_at, ?) "
                          "WHERE case_id = ?", (at, case))

    def _scrub(self) -> None:
        # The old page may still sit in the write-ahead log until it is checkpointed.
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _envelopes(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.conn.execute(
            f"SELECT case_id, envelope FROM {CASE_KEYS_TABLE} WHERE envelope IS NOT NULL").fetchall()]

    def _replace(self, case: str, envelope: str) -> None:
        self.conn.execute(f"UPDATE {CASE_KEYS_TABLE} SET envelope = ? WHERE case_id = ? AND envelope IS NOT NULL",
                          (envelope, case))

    def close(self) -> None:
        self.conn.close()


class PostgresCaseKeys(CaseKeys):
    def __init__(self, keyring: EventKeyring, *, conninfo: Mapping[str, Any], schema: str) -> None:
        super().__init__(keyring)
        self.conninfo = dict(conninfo)
        self.conn: Any = None
        self.table = f'"{schema}"."{CASE_KEYS_TABLE}"'
        # Checked first: a node role granted only rows (grant_case_keys) may not run CREATE at all.
        if self._run("SELECT to_regclass(%s)", (self.table,))[0][0] is None:
            self._run(f"CREATE TABLE IF NOT EXISTS {self.table} (case_id text PRIMARY KEY, envelope text, "
                      "created_at text NOT NULL, erased_at text)")

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement, reconnecting once if the server dropped the connection (a restart)."""
        import psycopg

        for attempt in (1, 2):
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = psycopg.connect(**self.conninfo, autocommit=True, connect_timeout=5)
                cur = self.conn.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
            except psycopg.OperationalError:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _row(self, case: str) -> tuple[str | None, str | None] | None:
        rows = self._run(f"SELECT envelope, erased_at FROM {self.table} WHERE case_id = %s", (case,))
        return (rows[0][0], rows[0][1]) if rows else None

    def _insert(self, case: str, envelope: str | None, at: str, erased_at: str | None) -> bool:
        return bool(self._run(f"INSERT INTO {self.table} VALUES (%s,%s,%s,%s) ON CONFLICT (case_id) DO NOTHING "
                              "RETURNING case_id", (case, envelope, at, erased_at)))

    def _tombstone(self, case: str, at: str) -> None:
        self._run(f"UPDATE {self.table} SET envelope = NULL, erased_at = COALESCE(erased_at, %s) "
                  "WHERE case_id = %s", (at, case))

    def _scrub(self) -> None:
        # The old row version stays in the heap until vacuumed (backups: see docs/personal-data.md).
        self._run(f"VACUUM {self.table}")

    def _envelopes(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._run(
            f"SELECT case_id, envelope FROM {self.table} WHERE envelope IS NOT NULL")]

    def _replace(self, case: str, envelope: str) -> None:
        self._run(f"UPDATE {self.table} SET envelope = %s WHERE case_id = %s AND envelope IS NOT NULL",
                  (envelope, case))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def grant_case_keys(conn: Any, *, schema: str, role: str) -> None:
    """Let a node's database role keep case keys: read, add, re-wrap and tombstone them, never
    delete a row (an erasure stays on record). Run as the table's owner, beside
    storage.chain.grant_append_only. The owner's autovacuum clears dead row versions."""
    from psycopg.sql import SQL, Identifier

    table = SQL("{}.{}").format(Identifier(schema), Identifier(CASE_KEYS_TABLE))
    conn.execute(SQL("CREATE TABLE IF NOT EXISTS {} (case_id text PRIMARY KEY, envelope text, "
                     "created_at text NOT NULL, erased_at text)").format(table))
    conn.execute(SQL("REVOKE ALL ON {} FROM {}").format(table, Identifier(role)))
    conn.execute(SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(table, Identifier(role)))


def open_case_keys(env: Environment, keyring: EventKeyring) -> CaseKeys:
    """The key table in the database the application's events are in."""
    module = env.get("PERSISTENCE_MODULE", "")
    if module == "eventsourcing.sqlite":
        return SQLiteCaseKeys(keyring, path=env.get("SQLITE_DBNAME", ""))
    if module == "eventsourcing.postgres":
        conninfo = {
            "host": env.get("POSTGRES_HOST", "127.0.0.1"), "port": int(env.get("POSTGRES_PORT", "5432")),
            "dbname": env.get("POSTGRES_DBNAME", ""), "user": env.get("POSTGRES_USER", ""),
            "password": env.get("POSTGRES_PASSWORD") or None,
        }
        return PostgresCaseKeys(keyring, conninfo=conninfo, schema=env.get("POSTGRES_SCHEMA", "public"))
    raise EventKeyUnavailable(f"per-case keys need an SQLite or PostgreSQL event store, not {module!r}")


# -- sealing the personal fields of one event -------------------------------------------------

def _aad(originator_id: Any, version: int) -> bytes:
    oid = originator_id.hex if isinstance(originator_id, UUID) else str(originator_id)
    return f"tongban/personal/v1/{oid}/{version}".encode("ascii")


def take_personal(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split an event state into (what stays, the personal values, their shape)."""
    kept, personal, shape = dict(state), {}, {}
    for name in PERSONAL_FIELDS:
        value = kept.get(name)
        if value:
            personal[name] = value
            shape[name] = sorted(value) if isinstance(value, dict) else "text"
            del kept[name]
    materials = kept.get("materials")
    if isinstance(materials, list) and any(isinstance(m, dict) and "file_name" in m for m in materials):
        personal["file_names"] = [m.get("file_name") if isinstance(m, dict) else None for m in materials]
        shape["file_names"] = len(materials)
        kept["materials"] = [{k: v for k, v in m.items() if k != "file_name"} if isinstance(m, dict) else m
                             for m in materials]
    return kept, personal, shape


def put_back(state: dict[str, Any], personal: dict[str, Any]) -> None:
    for name in PERSONAL_FIELDS:
        if name in personal:
            state[name] = personal[name]
    names = personal.get("file_names")
    if names is not None and isinstance(state.get("materials"), list):
        state["materials"] = [
            {**m, "file_name": n} if isinstance(m, dict) and n is not None else m
            for m, n in zip(state["materials"], names)
        ]


def placeholders(shape: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, form in shape.items():
        if name == "file_names":
            out[name] = [ERASED] * int(form)
        elif isinstance(form, list):
            out[name] = {k: ERASED for k in form}
        else:
            out[name] = ERASED
    return out


class PersonalDataMapper(Mapper):
    """The library's mapper with per-case sealing of personal fields and the node cipher applied
    to every event that is not known to be free of personal data."""

    def __init__(self, transcoder: Transcoder, compressor: Compressor | None = None,
                 cipher: Cipher | None = None) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=None)
        if cipher is not None and not isinstance(cipher, EventCipher):
            raise EventKeyUnavailable("the personal-data mapper needs the node event cipher (storage.eventcipher)")
        self.node_cipher = cipher
        self._case_keys: CaseKeys | None = None
        self._keys_lock = threading.Lock()

    @property
    def case_keys(self) -> CaseKeys:
        if self.node_cipher is None:
            raise EventKeyUnavailable("this event store has no node event key, so it keeps no per-case keys")
        with self._keys_lock:
            if self._case_keys is None:
                self._case_keys = open_case_keys(self.node_cipher.env, self.node_cipher.keyring)
            return self._case_keys

    def close(self) -> None:
        if self._case_keys is not None:
            self._case_keys.close()
            self._case_keys = None

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        state = dict(vars(domain_event))
        if self.node_cipher is not None:
            kept, personal, shape = take_personal(state)
            if personal:
                case = _case_of(state["originator_id"])
                nonce = os.urandom(12)
                # A hint only: a wrong guess costs a statement, never a key.
                key = self.case_keys.sealing_key(case, opening=state["originator_version"] == Aggregate.INITIAL_VERSION)
                sealed = AESGCM(key).encrypt(
                    nonce, json.dumps(personal, ensure_ascii=False).encode("utf-8"),
                    _aad(state["originator_id"], state["originator_version"]))
                kept[SEALED] = {"v": 1, "shape": shape, "sealed": base64.b64encode(nonce + sealed).decode("ascii")}
                state = kept
        clone = object.__new__(type(domain_event))
        object.__setattr__(clone, "__dict__", state)
        stored = super().to_stored_event(clone)
        if self.node_cipher is None or stored.topic in CLEAR_TOPICS:
            return stored
        return StoredEvent(originator_id=stored.originator_id, originator_version=stored.originator_version,
                           topic=stored.topic, state=self.node_cipher.encrypt(stored.state))

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        state = stored_event.state
        if is_encrypted(state):
            if self.node_cipher is None:
                raise EventKeyUnavailable("the event store is encrypted but this node was given no event key file")
            state = self.node_cipher.decrypt(state)
            stored_event = StoredEvent(originator_id=stored_event.originator_id,
                                       originator_version=stored_event.originator_version,
                                       topic=stored_event.topic, state=state)
        event = super().to_domain_event(stored_event)
        fields = event.__dict__
        sealed = fields.pop(SEALED, None)
        if sealed is not None:
            put_back(fields, self._open(sealed, event.originator_id, event.originator_version))
        return event

    def _open(self, sealed: dict[str, Any], originator_id: Any, version: int) -> dict[str, Any]:
        if self.node_cipher is None:
            raise EventKeyUnavailable("this event holds sealed personal data but the node was given no event key file")
        key = self.case_keys.opening_key(_case_of(originator_id))
        if key is None:
            return placeholders(sealed["shape"])
        raw = base64.b64decode(sealed["sealed"])
        try:
            text = AESGCM(key).decrypt(raw[:12], raw[12:], _aad(originator_id, version))
        except InvalidTag:
            raise EventKeyUnavailable(
                f"the personal data of event v{version} of case {_case_of(originator_id)} does not open with the "
                "case's key: the key table or the event was altered") from None
        return dict(json.loads(text))


def _case_of(originator_id: Any) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(str(originator_id)).hex
