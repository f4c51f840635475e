"""A node's outbox and inbox, kept in its event store beside the events.

Outbox rows are written by the recorder in the same transaction as the events that caused
them (`ledger.save(case, outbox=[...])`), and marked delivered in the same transaction as the
event that records the peer's confirmation (`delivered=[...]`). Inbox rows (`inbox=...`) record
the id of a message from a peer together with the events it caused, so a message delivered twice
is applied once.

The outbox is operational state (attempts, leases, last error, a partner's backoff) and is
updated in place; the event, chain and notes tables stay append-only. A case's messages to a
partner leave in the order they were recorded (a message may go only once the earlier ones of
its case are delivered or refused); the relay sends each partner's messages oldest first; a
partner that could not be reached gets nothing until its backoff ends. A claim is a lease, so
two replicas of one node on the same PostgreSQL never send the same message at once
(`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

import base64
import json
import time
from contextlib import nullcontext
from collections.abc import Callable, Sequence
from typing import Any

from psycopg.sql import SQL, Identifier

from exchange.outbox import OutboxMessage, PeerBacklog
from storage.eventcipher import EventKeyUnavailable
from storage.pgarrays import text_array


def outbox_table(events_table: str) -> str:
    return f"{events_table}_outbox"


def inbox_table(events_table: str) -> str:
    return f"{events_table}_inbox"


def peers_table(events_table: str) -> str:
    """Per partner: how long nothing is sent to it, after it could not be reached."""
    return f"{events_table}_outbox_peers"


def sqlite_outbox_ddl(events_table: str) -> list[str]:
    out, inbox, peers = outbox_table(events_table), inbox_table(events_table), peers_table(events_table)
    return [
        f"CREATE TABLE IF NOT EXISTS {peers} (peer TEXT PRIMARY KEY, failures INTEGER NOT NULL, "
        "retry_at REAL NOT NULL, last_error TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {out} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "message_id TEXT NOT NULL UNIQUE, peer TEXT NOT NULL, kind TEXT NOT NULL, case_number TEXT NOT NULL, "
        "payload TEXT NOT NULL, created_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
        "next_attempt_at REAL NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', "
        "lease_owner TEXT NOT NULL DEFAULT '', lease_until REAL NOT NULL DEFAULT 0, "
        "delivered_at REAL, refused_at REAL)",
        f"CREATE INDEX IF NOT EXISTS {out}_pending ON {out} (peer, id) "
        "WHERE delivered_at IS NULL AND refused_at IS NULL",
        f"CREATE TABLE IF NOT EXISTS {inbox} (message_id TEXT PRIMARY KEY, case_number TEXT NOT NULL, "
        "recorded_at REAL NOT NULL)",
    ]


def postgres_outbox_ddl(schema: str, events_table: str) -> list[Any]:
    ids = dict(schema=Identifier(schema), out=Identifier(outbox_table(events_table)),
               inbox=Identifier(inbox_table(events_table)),
               pending=Identifier(f"{outbox_table(events_table)}_pending"),
               peers=Identifier(peers_table(events_table)))
    return [
        SQL("CREATE TABLE IF NOT EXISTS {schema}.{peers} (peer text PRIMARY KEY, failures integer NOT NULL, "
            "retry_at double precision NOT NULL, last_error text NOT NULL)").format(**ids),
        SQL("CREATE TABLE IF NOT EXISTS {schema}.{out} (id bigserial PRIMARY KEY, "
            "message_id text NOT NULL UNIQUE, peer text NOT NULL, kind text NOT NULL, case_number text NOT NULL, "
            "payload text NOT NULL, created_at text NOT NULL, attempts integer NOT NULL DEFAULT 0, "
            "next_attempt_at double precision NOT NULL DEFAULT 0, last_error text NOT NULL DEFAULT '', "
            "lease_owner text NOT NULL DEFAULT '', lease_until double precision NOT NULL DEFAULT 0, "
            "delivered_at double precision, refused_at double precision)").format(**ids),
        SQL("CREATE INDEX IF NOT EXISTS {pending} ON {schema}.{out} (peer, id) "
            "WHERE delivered_at IS NULL AND refused_at IS NULL").format(**ids),
        SQL("CREATE TABLE IF NOT EXISTS {schema}.{inbox} (message_id text PRIMARY KEY, "
            "case_number text NOT NULL, recorded_at double precision NOT NULL)").format(**ids),
    ]


_COLUMNS = "id, message_id, peer, kind, case_number, payload, created_at, attempts, last_error"
_PENDING = "delivered_at IS NULL AND refused_at IS NULL"
SEALED_PREFIX = "sealed:"  # a payload encrypted with the node event cipher; plain JSON opens with "{"


class SqlOutbox:
    """exchange.outbox.Outbox over the node's event store. `clock` is wall-clock seconds: the
    outbox's own timing (backoff, leases), independent of the domain's clock."""

    def __init__(self, *, datastore: Any, events_table: str, postgres: bool,
                 clock: Callable[[], float] = time.time, cipher: Any = None) -> None:
        self.datastore = datastore
        # A message may carry what its event carried (file names, reasons): with a node event
        # cipher the payload is kept encrypted like the events it came from.
        self.cipher = cipher
        self.postgres = postgres
        self.clock = clock
        prefix = f'"{datastore.schema}".' if postgres else ""
        self.out = f'{prefix}"{outbox_table(events_table)}"'
        self.inbox = f'{prefix}"{inbox_table(events_table)}"'
        self.peers = f'{prefix}"{peers_table(events_table)}"'
        self.p = "%s" if postgres else "?"

    # -- inside the recorder's transaction ---------------------------------------------------

    def write_in_transaction(self, cursor: Any, *, outbox: Sequence[OutboxMessage] = (),
                             delivered: Sequence[str] = (), inbox: tuple[str, str] | None = None) -> None:
        p, now = self.p, self.clock()
        for m in outbox:
            cursor.execute(
                f"INSERT INTO {self.out} (message_id, peer, kind, case_number, payload, created_at) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
                (m.message_id, m.peer, m.kind, m.case_number, self._seal(m.payload), m.created_at),
            )
        for message_id in delivered:
            cursor.execute(f"UPDATE {self.out} SET delivered_at = {p}, lease_owner = '', lease_until = 0 "
                           f"WHERE message_id = {p}", (now, message_id))
        if inbox is not None:
            message_id, case_number = inbox
            cursor.execute(f"INSERT INTO {self.inbox} (message_id, case_number, recorded_at) VALUES ({p}, {p}, {p})",
                           (message_id, case_number, now))

    def append_arguments(self, *, outbox: Sequence[OutboxMessage] = (), delivered: Sequence[str] = (),
                         inbox: tuple[str, str] | None = None) -> tuple[Any, ...]:
        """What write_in_transaction writes, as the arguments of the PostgreSQL append function
        (storage.chain.postgres_append_ddl), which writes it with the events in one statement."""
        message_id, case_number = inbox if inbox is not None else (None, None)
        return (text_array(m.message_id for m in outbox), text_array(m.peer for m in outbox),
                text_array(m.kind for m in outbox), text_array(m.case_number for m in outbox),
                text_array(self._seal(m.payload) for m in outbox), text_array(m.created_at for m in outbox),
                text_array(delivered), message_id, case_number, self.clock())

    # -- the relay's side ------------------------------------------------------------------

    def _eligible(self, alias: str) -> str:
        """SQL: message `alias` may go now: pending, due, not leased, the oldest pending message
        of its case to that partner (a case's messages keep their order), and its partner not
        in backoff. Takes the current time twice, then once more, as parameters."""
        h, p = alias, self.p
        return (
            f"{h}.delivered_at IS NULL AND {h}.refused_at IS NULL AND {h}.next_attempt_at <= {p} "
            f"AND {h}.lease_until < {p} AND NOT EXISTS (SELECT 1 FROM {self.out} e WHERE e.peer = {h}.peer "
            f"AND e.case_number = {h}.case_number AND e.id < {h}.id AND e.delivered_at IS NULL "
            f"AND e.refused_at IS NULL) AND NOT EXISTS (SELECT 1 FROM {self.peers} b WHERE b.peer = {h}.peer "
            f"AND b.retry_at > {p})"
        )

    def claim(self, *, owner: str, lease_seconds: float, message_id: str | None = None,
              limit: int = 32) -> list[OutboxMessage]:
        """Lease messages that may go now, oldest first (or only `message_id`, if it may); the
        caller sends each partner's in this order."""
        p, now = self.p, self.clock()
        only = f" AND h.message_id = {p}" if message_id else ""
        lock = " FOR UPDATE SKIP LOCKED" if self.postgres else ""
        params: list[Any] = [owner, now + lease_seconds, now, now, now]
        if message_id:
            params.append(message_id)
        rows = self._run(
            f"UPDATE {self.out} SET lease_owner = {p}, lease_until = {p} WHERE id IN ("
            f"SELECT h.id FROM {self.out} h WHERE {self._eligible('h')}{only} ORDER BY h.id LIMIT {int(limit)}{lock}) "
            f"RETURNING {_COLUMNS}",
            params, fetch=True,
        )
        return sorted((self._message(r) for r in rows), key=lambda m: m.seq)

    def release(self, message_ids: Sequence[str]) -> None:
        """Give back leased messages unsent (their partner just turned out to be down)."""
        for message_id in message_ids:
            self._run(f"UPDATE {self.out} SET lease_owner = '', lease_until = 0 WHERE message_id = {self.p}",
                      (message_id,))

    def renew(self, message_ids: Sequence[str], *, owner: str, lease_seconds: float) -> list[str]:
        """Extend the leases `owner` still holds on messages it is sending; returns their ids.
        A lease already taken over (this sender stalled past it) is not taken back."""
        if not message_ids:
            return []
        p = self.p
        marks = ", ".join([p] * len(message_ids))
        rows = self._run(
            f"UPDATE {self.out} SET lease_until = {p} WHERE lease_owner = {p} AND delivered_at IS NULL "
            f"AND refused_at IS NULL AND message_id IN ({marks}) RETURNING message_id",
            [self.clock() + lease_seconds, owner, *message_ids], fetch=True,
        )
        return [str(r[0]) for r in rows]

    def peer_unreachable(self, peer: str, *, error: str, retry_in: Callable[[int], float]) -> float:
        """Nothing goes to `peer` for a while; `retry_in(failures)` says how long. Returns it."""
        p, now = self.p, self.clock()
        rows = self._run(f"SELECT failures FROM {self.peers} WHERE peer = {p}", (peer,), fetch=True)
        failures = (int(rows[0][0]) if rows else 0) + 1
        wait = retry_in(failures)
        self._run(f"INSERT INTO {self.peers} (peer, failures, retry_at, last_error) VALUES ({p}, {p}, {p}, {p}) "
                  "ON CONFLICT (peer) DO UPDATE SET failures = excluded.failures, retry_at = excluded.retry_at, "
                  "last_error = excluded.last_error", (peer, failures, now + wait, error[:500]))
        return wait

    def peer_reachable(self, peer: str) -> None:
        self._run(f"DELETE FROM {self.peers} WHERE peer = {self.p}", (peer,))

    def release_own_leases(self) -> None:
        """On start: with SQLite this process is the node's only writer, so any lease left is
        from a run that died and its messages can go at once. On PostgreSQL another replica may
        be sending them; their leases expire on their own."""
        if not self.postgres:
            self._run(f"UPDATE {self.out} SET lease_owner = '', lease_until = 0 WHERE lease_owner != ''")

    def delivered(self, message_id: str) -> None:
        self._run(f"UPDATE {self.out} SET delivered_at = {self.p}, lease_owner = '', lease_until = 0 "
                  f"WHERE message_id = {self.p} AND delivered_at IS NULL", (self.clock(), message_id))

    def failed(self, message_id: str, *, error: str, retry_in: float) -> None:
        now = self.clock()
        self._run(f"UPDATE {self.out} SET attempts = attempts + 1, last_error = {self.p}, "
                  f"next_attempt_at = {self.p}, lease_owner = '', lease_until = 0 WHERE message_id = {self.p}",
                  (error[:500], now + retry_in, message_id))

    def refused(self, message_id: str, *, reason: str) -> None:
        self._run(f"UPDATE {self.out} SET attempts = attempts + 1, last_error = {self.p}, refused_at = {self.p}, "
                  f"lease_owner = '', lease_until = 0 WHERE message_id = {self.p}",
                  (reason[:500], self.clock(), message_id))

    def attempts_of(self, message_id: str) -> int:
        rows = self._run(f"SELECT attempts FROM {self.out} WHERE message_id = {self.p}", (message_id,), fetch=True)
        return int(rows[0][0]) if rows else 0

    def next_due_in(self) -> float | None:
        """Seconds until the earliest pending message is due (None: nothing pending)."""
        later = "CASE WHEN {a} > {b} THEN {a} ELSE {b} END"
        backoff = f"COALESCE((SELECT b.retry_at FROM {self.peers} b WHERE b.peer = h.peer), 0)"
        due = later.format(a=later.format(a="h.lease_until", b="h.next_attempt_at"), b=backoff)
        rows = self._run(
            f"SELECT MIN({due}) FROM {self.out} h WHERE h.{_PENDING.replace(' AND ', ' AND h.')} AND NOT EXISTS ("
            f"SELECT 1 FROM {self.out} e WHERE e.peer = h.peer AND e.case_number = h.case_number AND e.id < h.id "
            f"AND e.{_PENDING.replace(' AND ', ' AND e.')})", fetch=True)
        if not rows or rows[0][0] is None:
            return None
        return max(0.0, float(rows[0][0]) - self.clock())

    # -- the receiver's side -----------------------------------------------------------------

    def inbox_has(self, message_id: str) -> bool:
        return self.inbox_case(message_id) is not None

    def inbox_case(self, message_id: str) -> str | None:
        rows = self._run(f"SELECT case_number FROM {self.inbox} WHERE message_id = {self.p}", (message_id,), fetch=True)
        return str(rows[0][0]) if rows else None

    def bar_message(self, message_id: str, *, case_number: str) -> bool:
        # The inbox's primary key decides between this and the message's own save, whichever
        # commits first, on every replica at once.
        p = self.p
        rows = self._run(f"INSERT INTO {self.inbox} (message_id, case_number, recorded_at) VALUES ({p}, {p}, {p}) "
                         "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
                         (message_id, case_number, self.clock()), fetch=True)
        return bool(rows)

    # -- status -------------------------------------------------------------------------------

    def backlog(self) -> list[PeerBacklog]:
        now = self.clock()
        rows = self._run(
            f"SELECT peer, COUNT(*) FILTER (WHERE {_PENDING}), COUNT(*) FILTER (WHERE refused_at IS NOT NULL), "
            f"MIN(id) FILTER (WHERE {_PENDING}) FROM {self.out} "
            f"WHERE delivered_at IS NULL GROUP BY peer ORDER BY peer", fetch=True)
        result = []
        for peer, pending, refused, head_id in rows:
            head: tuple[Any, ...] | None = None
            if head_id is not None:
                found = self._run(
                    f"SELECT created_at, attempts, last_error, next_attempt_at, case_number, kind FROM {self.out} "
                    f"WHERE id = {self.p}", (head_id,), fetch=True)
                head = tuple(found[0]) if found else None
            backoff = self._run(f"SELECT retry_at FROM {self.peers} WHERE peer = {self.p}", (peer,), fetch=True)
            peer_retry_at = float(backoff[0][0]) if backoff else 0.0
            last_refusal = self._run(
                f"SELECT last_error, case_number FROM {self.out} WHERE peer = {self.p} AND refused_at IS NOT NULL "
                "ORDER BY id DESC LIMIT 1", (peer,), fetch=True)
            result.append(PeerBacklog(
                peer=str(peer), pending=int(pending), refused=int(refused),
                oldest_created_at=str(head[0]) if head else "",
                oldest_case_number=str(head[4]) if head else "",
                oldest_kind=str(head[5]) if head else "",
                attempts=int(head[1]) if head else 0,
                last_error=str(head[2]) if head and head[2] else (str(last_refusal[0][0]) if last_refusal else ""),
                retry_in_seconds=max(0.0, max(float(head[3]), peer_retry_at) - now) if head else 0.0,
                last_refused_case=str(last_refusal[0][1]) if last_refusal else "",
            ))
        return result

    def pending(self) -> list[OutboxMessage]:
        rows = self._run(f"SELECT {_COLUMNS} FROM {self.out} WHERE {_PENDING} ORDER BY id", fetch=True)
        return [self._message(r) for r in rows]

    def refusals(self) -> list[tuple[OutboxMessage, str]]:
        rows = self._run(f"SELECT {_COLUMNS} FROM {self.out} WHERE refused_at IS NOT NULL ORDER BY id", fetch=True)
        return [(self._message(r), str(r[8])) for r in rows]

    def _seal(self, payload: Any) -> str:
        text = json.dumps(payload, ensure_ascii=False)
        if self.cipher is None:
            return text
        return SEALED_PREFIX + base64.b64encode(self.cipher.encrypt(text.encode("utf-8"))).decode("ascii")

    def _message(self, row: Sequence[Any]) -> OutboxMessage:
        seq, message_id, peer, kind, case_number, payload, created_at, attempts, _ = row
        text = str(payload)
        if text.startswith(SEALED_PREFIX):
            if self.cipher is None:
                raise EventKeyUnavailable("the outbox holds encrypted messages but this node was given no event key file")
            text = self.cipher.decrypt(base64.b64decode(text[len(SEALED_PREFIX):])).decode("utf-8")
        return OutboxMessage(message_id=str(message_id), peer=str(peer), kind=str(kind), case_number=str(case_number),
                             payload=json.loads(text), created_at=str(created_at), seq=int(seq), attempts=int(attempts))

    def _run(self, sql: str, params: Sequence[Any] = (), *, fetch: bool = False) -> list[tuple[Any, ...]]:
        if self.postgres:
            from psycopg.rows import tuple_row

            with self.datastore.get_connection() as conn:
                # One statement commits on its own on the library's autocommit connections: a
                # BEGIN and a COMMIT around it were two more round trips to the server.
                with (nullcontext() if conn.autocommit else conn.transaction()), \
                        conn.cursor(row_factory=tuple_row) as cur:
                    cur.execute(sql, tuple(params))
                    return list(cur.fetchall()) if fetch else []
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(sql, tuple(params))
            return [tuple(r) for r in cur.fetchall()] if fetch else []


def outbox_of(recorder: Any) -> SqlOutbox:
    """The outbox beside a ledger's recorder (one of storage.chain's chained recorders)."""
    from eventsourcing.postgres import PostgresApplicationRecorder

    postgres = isinstance(recorder, PostgresApplicationRecorder)
    return SqlOutbox(datastore=recorder.datastore, events_table=recorder.events_table_name, postgres=postgres,
                     cipher=getattr(recorder, "payload_cipher", None))
