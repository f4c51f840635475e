"""Mutual-TLS credentials from the federation PKI."""

from __future__ import annotations

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
