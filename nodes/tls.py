"""Mutual-TLS credentials from the federation PKI."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import grpc

from signing.pki import Federation

MAX_MESSAGE = 16 << 20


def node_hostname(province: str) -> str:
    """The name every node certificate carries for its province; clients insist on it, so a
    node cannot answer in another province's place."""
    return f"{province}.node.tongban.internal"


def server_credentials(federation: Federation, province: str) -> grpc.ServerCredentials:
    cert, key = federation.node_tls(province)
    chain = cert + federation.province_ca_pem(province)
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=federation.root_pem(), require_client_auth=True
    )


def channel_credentials(
    federation: Federation, *, cert_pem: bytes, key_pem: bytes, province_of_cert: str
) -> grpc.ChannelCredentials:
    chain = cert_pem + federation.province_ca_pem(province_of_cert)
    return grpc.ssl_channel_credentials(
        root_certificates=federation.root_pem(), private_key=key_pem, certificate_chain=chain
    )


def secure_channel(
    address: str, credentials: grpc.ChannelCredentials, *, province: str
) -> grpc.Channel:
    return grpc.secure_channel(
        address,
        credentials,
        options=[
            ("grpc.ssl_target_name_override", node_hostname(province)),
            # A target naming several replicas of a node (a DNS name with several addresses, or
            # "ipv4:a:port,b:port") spreads calls over all of them instead of using the first.
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            # A partner back after an outage is reached within seconds, not gRPC's default
            # two minutes of reconnect backoff: the outbox's own backoff paces the retries.
            ("grpc.initial_reconnect_backoff_ms", 500),
            ("grpc.min_reconnect_backoff_ms", 500),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ],
    )


Stub = TypeVar("Stub")


class PartnerStubs(Generic[Stub]):
    """One lazily opened mutual-TLS channel and stub per partner province, for a gateway to one
    service; `missing(province)` is the error for a province with no configured address."""

    def __init__(
        self, *, peers: Mapping[str, str], credentials: grpc.ChannelCredentials, stub_class: Callable[[Any], Stub],
        missing: Callable[[str], Exception],
    ) -> None:
        self.peers = dict(peers)
        self._credentials = credentials
        self._stub_class = stub_class
        self._missing = missing
        self._stubs: dict[str, Stub] = {}
        self._channels: list[grpc.Channel] = []
        self._lock = threading.Lock()

    def get(self, province: str) -> Stub:
        with self._lock:
            if province not in self._stubs:
                address = self.peers.get(province)
                if address is None:
                    raise self._missing(province)
                channel = secure_channel(address, self._credentials, province=province)
                self._channels.append(channel)
                self._stubs[province] = self._stub_class(channel)
            return self._stubs[province]

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
