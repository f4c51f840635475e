"""Mutual-TLS credentials from the federation PKI."""

from __future__ import annotations

import logging
import secrets
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing.errors import SigningError
from signing.pki import Federation

log = logging.getLogger("tongban.tls")

MAX_MESSAGE = 16 << 20
_KNOWN_SERVERS = 256  # server certificates whose names are kept parsed


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
) -> FederationCredentials:
    chain = cert_pem + federation.province_ca_pem(province_of_cert)
    return FederationCredentials(federation, chain_pem=chain, key_pem=key_pem)


class FederationCredentials(grpc.ChannelCredentials):
    """Client credentials of the federation: usable as plain grpc.ChannelCredentials (the
    server must chain to the root and carry the node name), and, through `secure_channel`, for
    a channel that also checks the server is that province's node (see VerifiedChannel)."""

    def __init__(self, federation: Federation, *, chain_pem: bytes, key_pem: bytes) -> None:
        base = grpc.ssl_channel_credentials(
            root_certificates=federation.root_pem(), private_key=key_pem, certificate_chain=chain_pem)
        super().__init__(base._credentials)
        self.federation = federation
        self._chain_pem, self._key_pem = chain_pem, key_pem
        from nodes.interceptors import ClientCertificates  # nodes.interceptors does not import this module

        self.certificates = ClientCertificates(federation)
        self._dns_names: dict[bytes, frozenset[str]] = {}  # server certificate -> its DNS names
        self._probe_context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def pinned(self, servers: Sequence[bytes]) -> grpc.ChannelCredentials:
        """Credentials that accept only these exact server certificates (gRPC's TLS stack takes
        a trust anchor that is not self-signed, so each one anchors only itself)."""
        return grpc.ssl_channel_credentials(
            root_certificates=b"".join(servers), private_key=self._key_pem, certificate_chain=self._chain_pem)

    def probe_context(self) -> ssl.SSLContext:
        """A TLS client context with this node's certificate, to see which certificate a server
        presents. It verifies nothing itself: check_server does, more strictly than a chain to
        the root would."""
        with self._lock:
            if self._probe_context is None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.set_alpn_protocols(["h2"])
                # The ssl module reads keys only from files: the key goes there encrypted with a
                # one-time password, in a private folder removed at once.
                password = secrets.token_bytes(32)
                key = serialization.load_pem_private_key(self._key_pem, password=None)
                with tempfile.TemporaryDirectory(prefix="tongban-probe-") as folder:
                    cert_path, key_path = Path(folder) / "chain.pem", Path(folder) / "key.pem"
                    cert_path.write_bytes(self._chain_pem)
                    key_path.write_bytes(key.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.BestAvailableEncryption(password)))
                    context.load_cert_chain(cert_path, key_path, password=password)
                self._probe_context = context
            return self._probe_context

    def check_server(self, cert_pem: bytes, *, province: str) -> None:
        """The same checks a node makes of its callers (ClientCertificates.identify: signed by the
        CA of the province it names, within its validity, neither it nor that CA revoked), and
        that it is `province`'s node. A SigningError says why not."""
        identity = self.certificates.identify(cert_pem)
        if identity.province_code != province or identity.role != "node":
            raise SigningError(
                f"it presents certificate {identity.common_name!r} of role {identity.role!r} for province "
                f"{identity.province_code}, not the node certificate of province {province}")
        if node_hostname(province) not in self._names_of(cert_pem):
            raise SigningError(f"its certificate {identity.common_name!r} does not carry the name "
                               f"{node_hostname(province)}")

    def _names_of(self, cert_pem: bytes) -> frozenset[str]:
        """Parsed once per certificate: check_server runs before every call to a partner, and
        what can change between calls (validity, revocation) is checked by identify()."""
        names = self._dns_names.get(cert_pem)
        if names is None:
            cert = x509.load_pem_x509_certificate(cert_pem)
            try:
                names = frozenset(cert.extensions.get_extension_for_class(
                    x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
            except x509.ExtensionNotFound:
                names = frozenset()
            with self._lock:
                if len(self._dns_names) >= _KNOWN_SERVERS:
                    self._dns_names.clear()
                self._dns_names[cert_pem] = names
        return names


def secure_channel(
    address: str, credentials: grpc.ChannelCredentials, *, province: str
) -> grpc.Channel:
    """A channel to `province`'s node. With credentials from channel_credentials (all of
    nodes/ uses those), the server must prove it is that province's node (VerifiedChannel);
    other credentials get only what they check themselves (the chain and the node name)."""
    options = _channel_options(province)
    if isinstance(credentials, FederationCredentials):
        return VerifiedChannel(address, credentials, province=province, options=options)
    log.warning("a channel to the node of %s with credentials not from channel_credentials: the server's "
                "issuing CA and revocation are not checked", province)
    return grpc.secure_channel(address, credentials, options=options)


def _channel_options(province: str) -> list[tuple[str, Any]]:
    return [
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
    ]


# How long a look at a server's certificate may take when the call itself sets no deadline.
PROBE_TIMEOUT = 10.0


class VerifiedChannel(grpc.Channel):
    """A channel that sends nothing to a server before it has checked, as a node checks its
    callers, that the server's certificate is the node certificate of `province`, issued by that
    province's CA, valid, and neither it nor the CA revoked.

    How, and why this way: grpc-python (1.85) gives a client no access to the certificate a
    connection presented (no auth context on client calls) and no verification callback or
    CRL option for its TLS; its only lever is the set of trust anchors. So, per channel and
    again after the channel could not reach the server:
      1. a separate TLS handshake to each address of the target shows the certificate each
         server presents; each must pass check_server, or the call is refused UNAUTHENTICATED
         (a refusal the courier does not retry: an impostor is not a partner that is down);
      2. the gRPC channel is then built with those exact certificates as its only trust anchors
         (not the federation root), so every connection it makes, reconnects included, is
         accepted by gRPC's own TLS only if the server presents one of them and proves it holds
         its key. The certificate checked is the one the connection uses: a server that shows
         another certificate to the look than to gRPC gets a failed handshake (UNAVAILABLE),
         never a request;
      3. before each call the pinned certificates are checked again (validity, CRLs re-read
         at most once a second), so a partner certificate revoked or expired while the channel
         is open stops the calls (UNAUTHENTICATED) and the next call looks again.
    A server at an address that could not be reached during the look, or that later presents
    a new certificate, is not used until a call fails UNAVAILABLE and the next call looks again."""

    def __init__(self, target: str, credentials: FederationCredentials, *, province: str,
                 options: Sequence[tuple[str, Any]]) -> None:
        self.target, self.province = target, province
        self._credentials = credentials
        self._options = list(options)
        self._lock = threading.Lock()
        self._pins: tuple[bytes, ...] = ()
        self._channel: grpc.Channel | None = None
        self._retired: list[grpc.Channel] = []
        self._look_again = True
        self._closed = False

    def channel_for_call(self, timeout: float | None) -> grpc.Channel:
        """The gRPC channel to send a call on, once its servers are checked; PartnerRefusal if not."""
        with self._lock:
            if self._closed:
                raise ValueError("Cannot invoke RPC on closed channel!")
            if not self._look_again and self._channel is not None:
                try:
                    for pin in self._pins:
                        self._credentials.check_server(pin, province=self.province)
                    return self._channel
                except SigningError as exc:
                    self._look_again = True
                    raise self._refusal(f"the node of {self.province} at {self.target} is no longer trusted: {exc}")
            pins = self._look(PROBE_TIMEOUT if timeout is None else max(0.1, min(timeout, PROBE_TIMEOUT)))
            if self._channel is None or pins != self._pins:
                if self._channel is not None:
                    self._retired.append(self._channel)  # calls still running on it finish there
                self._channel = grpc.secure_channel(self.target, self._credentials.pinned(pins), options=self._options)
                self._pins = pins
            self._look_again = False
            return self._channel

    def _look(self, timeout: float) -> tuple[bytes, ...]:
        seen: list[bytes] = []
        unreachable: list[str] = []
        for where, connect in _addresses(self.target):
            try:
                pem = _presented_certificate(connect, self._credentials.probe_context(), self.province, timeout)
            except (OSError, ValueError) as exc:
                unreachable.append(f"{where}: {exc}")
                continue
            try:
                self._credentials.check_server(pem, province=self.province)
            except SigningError as exc:
                log.warning("refused to call %s for the node of %s: %s", where, self.province, exc)
                raise self._refusal(f"the server at {where} is not the node of {self.province}: {exc}") from None
            if pem not in seen:
                seen.append(pem)
        if not seen:
            raise PartnerRefusal(grpc.StatusCode.UNAVAILABLE,
                                 f"could not reach the node of {self.province} at {self.target} to check its "
                                 f"certificate ({'; '.join(unreachable)[:400] or 'no address'})")
        return tuple(sorted(seen))

    @staticmethod
    def _refusal(details: str) -> PartnerRefusal:
        return PartnerRefusal(grpc.StatusCode.UNAUTHENTICATED, details)

    def connection_failed(self) -> None:
        """A call could not reach the server: look at its certificates again before the next one."""
        self._look_again = True

    # -- grpc.Channel --------------------------------------------------------------------
    def unary_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                    _registered_method: bool = False) -> Any:
        return _Verified(self, "unary_unary", method, request_serializer, response_deserializer, _registered_method)

    def unary_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     _registered_method: bool = False) -> Any:
        return _Verified(self, "unary_stream", method, request_serializer, response_deserializer, _registered_method)

    def stream_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     _registered_method: bool = False) -> Any:
        return _Verified(self, "stream_unary", method, request_serializer, response_deserializer, _registered_method)

    def stream_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                      _registered_method: bool = False) -> Any:
        return _Verified(self, "stream_stream", method, request_serializer, response_deserializer, _registered_method)

    def subscribe(self, callback: Callable[[grpc.ChannelConnectivity], None], try_to_connect: bool = False) -> None:
        self.channel_for_call(None).subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Callable[[grpc.ChannelConnectivity], None]) -> None:
        with self._lock:
            channels = [c for c in (self._channel, *self._retired) if c is not None]
        for channel in channels:
            channel.unsubscribe(callback)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channels = [c for c in (self._channel, *self._retired) if c is not None]
            self._channel, self._retired = None, []
        for channel in channels:
            channel.close()

    def __enter__(self) -> VerifiedChannel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Verified:
    """A multi-callable of a VerifiedChannel: each call first gets the checked gRPC channel."""

    def __init__(self, channel: VerifiedChannel, kind: str, method: str, serializer: Any, deserializer: Any,
                 registered: bool) -> None:
        self._channel, self._kind, self._method = channel, kind, method
        self._serializer, self._deserializer, self._registered = serializer, deserializer, registered
        self._made: tuple[grpc.Channel, Any] | None = None
        self._streams_out = kind.endswith("_stream")

    def _callable(self, timeout: float | None) -> Any:
        channel = self._channel.channel_for_call(timeout)
        made = self._made
        if made is None or made[0] is not channel:
            made = (channel, getattr(channel, self._kind)(
                self._method, request_serializer=self._serializer, response_deserializer=self._deserializer,
                _registered_method=self._registered))
            self._made = made
        return made[1]

    def _watch(self, call: Any) -> Any:
        def ended() -> None:
            if call.code() == grpc.StatusCode.UNAVAILABLE:
                self._channel.connection_failed()
        if not call.add_callback(ended):  # it has ended already
            ended()
        return call

    def __call__(self, request: Any, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        try:
            target = self._callable(timeout)
        except PartnerRefusal as refusal:
            if self._streams_out:
                return refusal  # as gRPC does: the error comes out of the reply stream
            raise refusal from None
        if self._streams_out:
            return self._watch(target(request, timeout, *args, **kwargs))
        return self._noting_lost_connection(target, request, timeout, *args, **kwargs)

    def with_call(self, request: Any, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        try:
            target = self._callable(timeout)
        except PartnerRefusal as refusal:
            raise refusal from None
        return self._noting_lost_connection(target.with_call, request, timeout, *args, **kwargs)

    def _noting_lost_connection(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
                self._channel.connection_failed()  # the next call looks at who answers again
            raise

    def future(self, request: Any, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        try:
            target = self._callable(timeout)
        except PartnerRefusal as refusal:
            return refusal
        return self._watch(target.future(request, timeout, *args, **kwargs))


class PartnerRefusal(grpc.RpcError, grpc.Call, grpc.Future):  # type: ignore[misc]
    """A call a VerifiedChannel did not send: it behaves as gRPC's own failed calls do (an
    RpcError with a code and details; as a future, done; as a reply stream, raising)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def debug_error_string(self) -> str:
        return f"{self._code.name}: {self._details}"

    def initial_metadata(self) -> tuple[()]:
        return ()

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> Any:
        raise self

    def exception(self, timeout: float | None = None) -> BaseException:
        return self

    def traceback(self, timeout: float | None = None) -> Any:
        return self.__traceback__

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        fn(self)

    def __iter__(self) -> PartnerRefusal:
        return self

    def __next__(self) -> Any:
        raise self

    def __str__(self) -> str:
        return f"<PartnerRefusal {self._code.name}: {self._details}>"


def _addresses(target: str) -> list[tuple[str, Callable[[float], socket.socket]]]:
    """Each address a gRPC target names (as its resolver would find them), with a way to open
    a connection to it."""
    if target.startswith(("unix:", "unix-abstract:")):
        scheme, _, path = target.partition(":")
        path = path[2:] if path.startswith("//") else path
        if scheme == "unix-abstract":
            path = "\0" + path

        def to_socket(timeout: float, path: str = path) -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            return sock
        return [(target, to_socket)]
    if target.startswith(("ipv4:", "ipv6:")):
        hosts = [_host_port(a) for a in target.split(":", 1)[1].split(",") if a]
    else:
        name = target
        for prefix in ("dns:///", "dns:"):
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        hosts = [_host_port(name)]
    found: list[tuple[str, Callable[[float], socket.socket]]] = []
    for host, port in hosts:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            def unresolved(timeout: float, exc: OSError = exc) -> socket.socket:
                raise exc
            found.append((f"{host}:{port}", unresolved))
            continue
        for family, _, _, _, sockaddr in dict.fromkeys(infos):
            def to_socket(timeout: float, sockaddr: Any = sockaddr) -> socket.socket:
                return socket.create_connection(sockaddr[:2], timeout=timeout)
            where = f"[{sockaddr[0]}]:{sockaddr[1]}" if family == socket.AF_INET6 else f"{sockaddr[0]}:{sockaddr[1]}"
            found.append((where, to_socket))
    return found


def _host_port(address: str) -> tuple[str, int]:
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 443
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        return address, 443
    return host, int(port)


def _presented_certificate(connect: Callable[[float], socket.socket], context: ssl.SSLContext, province: str,
                           timeout: float) -> bytes:
    """The certificate a server presents in a TLS handshake (PEM); OSError if there is none."""
    with connect(timeout) as raw, context.wrap_socket(raw, server_hostname=node_hostname(province)) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError("the server presented no certificate")
    return ssl.DER_cert_to_PEM_cert(der).encode("ascii")


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
