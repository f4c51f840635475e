"""Signed-in clerks: one gRPC channel per sign-in, made with that clerk's certificate."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import grpc

from nodes.clients import WindowClient
from nodes.console.ukey import Clerk
from nodes.tls import channel_credentials, secure_channel
from signing.pki import Federation

IDLE_SECONDS = 30 * 60  # a counter PC left alone signs its clerk out
MAX_SECONDS = 10 * 60 * 60  # one working day at most
DOCUMENTS_KEPT = 4  # verified certificates kept per session for the viewer and print
SESSIONS_PER_CLERK = 3  # signing in on a fourth PC signs the clerk out of the oldest


@dataclass
class Session:
    token: str
    clerk: Clerk
    channel: grpc.Channel
    window: WindowClient
    csrf: str
    started: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)
    documents: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    flash: object = None  # a problem to show on the next page (after a redirect)
    notice: str = ""  # a success to show on the next page

    def keep_document(self, case_number: str, pdf: bytes) -> None:
        self.documents[case_number] = pdf
        self.documents.move_to_end(case_number)
        while len(self.documents) > DOCUMENTS_KEPT:
            self.documents.popitem(last=False)

    def expired(self, now: float) -> bool:
        return now - self.seen > IDLE_SECONDS or now - self.started > MAX_SECONDS


class Sessions:
    def __init__(self, *, federation: Federation, province: str, node_address: str) -> None:
        self.federation = federation
        self.province = province
        self.node_address = node_address
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, clerk: Clerk) -> Session:
        creds = channel_credentials(self.federation, cert_pem=clerk.cert_pem, key_pem=clerk.key_pem,
                                    province_of_cert=clerk.identity.province_code)
        channel = secure_channel(self.node_address, creds, province=self.province)
        session = Session(token=secrets.token_urlsafe(32), clerk=clerk, channel=channel,
                          window=WindowClient(channel, timeout=60.0), csrf=secrets.token_urlsafe(24))
        now = time.monotonic()
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.expired(now)]:
                self._sessions.pop(token).channel.close()
            self._sessions[session.token] = session
        return session

    def keep_latest(self, session: Session) -> None:
        """Once the node has let the clerk in: sign the clerk out of the oldest PCs beyond
        SESSIONS_PER_CLERK (a sign-in the node refused signs no one out)."""
        with self._lock:
            mine = [t for t, s in self._sessions.items() if s.clerk.operator_id == session.clerk.operator_id]
            # dicts keep insertion order: the clerk's oldest sessions come first
            retired = [self._sessions.pop(t) for t in mine[:max(0, len(mine) - SESSIONS_PER_CLERK)]
                       if t != session.token]
        for old in retired:
            old.channel.close()

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expired(now):
                del self._sessions[token]
                session.channel.close()
                return None
            session.seen = now
            return session

    def close(self, token: str | None) -> None:
        with self._lock:
            session = self._sessions.pop(token or "", None)
        if session is not None:
            session.channel.close()

    def close_all(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.channel.close()
