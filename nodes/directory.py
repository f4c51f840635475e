"""The federation directory: nodes hand each other CRLs and public trust material, so every
window verifies offline with fresh revocation data. Received CRLs are installed only after
their signature is checked against the CA in our own federation files (Federation.install_crl)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from exchange.errors import PeerRefused, PeerUnavailable
from nodes.tls import secure_channel
from signing.errors import SigningError
from signing.pki import Federation
from storage.eventstore import EventStoreSettings
from storage.singleton import singleton_job
from tongban_pb import directory_pb2, directory_pb2_grpc

log = logging.getLogger("tongban.directory")
ROOT_ISSUER = "root"
REFRESH_SECONDS = 600.0


def _rfc3339(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


class DirectoryServicer(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(self, *, federation: Federation, province: str) -> None:
        self.federation = federation
        self.province = province

    def GetRevocationLists(self, request, context):  # type: ignore[no-untyped-def]
        known = [ROOT_ISSUER, *sorted(self.federation.provinces)]
        wanted = list(request.issuers) or known
        unknown = [i for i in wanted if i not in known]
        if unknown:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"issuers: {', '.join(unknown)} unknown; use province codes or {ROOT_ISSUER!r}")
        answer = directory_pb2.RevocationLists(from_province=self.province)
        for issuer in wanted:
            pem = self.federation.crl_pem(None if issuer == ROOT_ISSUER else issuer)
            crl = x509.load_pem_x509_crl(pem)
            answer.crls.append(directory_pb2.RevocationList(
                issuer=issuer, crl_der=crl.public_bytes(serialization.Encoding.DER),
                crl_number=crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number,
                this_update=_rfc3339(crl.last_update_utc), next_update=_rfc3339(crl.next_update_utc)))
        return answer

    def GetTrustMaterial(self, request, context):  # type: ignore[no-untyped-def]
        tsa_cert, _ = self.federation.tsa_paths(self.province)
        node_cert, _ = self.federation.node_tls(self.province)
        return directory_pb2.TrustMaterial(
            province=self.province, root_der=_der(self.federation.root_pem()),
            province_ca_der=_der(self.federation.province_ca_pem(self.province)),
            tsa_der=_der(tsa_cert.read_bytes()), node_der=_der(node_cert))


@dataclass(frozen=True)
class RefreshOutcome:
    peer: str
    installed: tuple[str, ...] = ()  # issuers whose CRL was newer and replaced ours
    unchanged: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # issuer: why (bad signature, unknown CA)
    error: str | None = None


class RevocationExchange:
    """Fetches CRLs from partner nodes and installs the newer ones in our federation files."""

    def __init__(self, *, federation: Federation, peers: Mapping[str, str], credentials: grpc.ChannelCredentials,
                 timeout: float = 10.0) -> None:
        self.federation = federation
        self.peers = dict(peers)
        self.credentials = credentials
        self.timeout = timeout

    def fetch(self, province: str) -> directory_pb2.RevocationLists:
        address = self.peers.get(province)
        if address is None:
            raise PeerRefused(f"no peer address for province {province}; add it to [peers] in the node config")
        with secure_channel(address, self.credentials, province=province) as channel:
            stub = directory_pb2_grpc.DirectoryServiceStub(channel)
            try:
                return stub.GetRevocationLists(directory_pb2.RevocationListsRequest(), timeout=self.timeout)
            except grpc.RpcError as exc:
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise PeerUnavailable(f"directory of {province} unreachable ({exc.details()}); "
                                          "the CRLs we hold stay in use until their next update") from None
                raise PeerRefused(f"directory of {province} refused: {exc.code().name}: {exc.details()}") from None

    def refresh_from(self, province: str) -> RefreshOutcome:
        try:
            lists = self.fetch(province)
        except (PeerUnavailable, PeerRefused) as exc:
            return RefreshOutcome(peer=province, error=str(exc))
        installed, unchanged, refused = [], [], []
        for item in lists.crls:
            try:
                (installed if self.federation.install_crl(item.crl_der) else unchanged).append(item.issuer)
            except SigningError as exc:
                refused.append(f"{item.issuer}: {exc}")
        if refused:
            log.warning("refused CRLs from %s: %s", province, "; ".join(refused))
        return RefreshOutcome(peer=province, installed=tuple(installed), unchanged=tuple(unchanged),
                              refused=tuple(refused))

    def refresh_all(self) -> list[RefreshOutcome]:
        return [self.refresh_from(p) for p in sorted(self.peers)]


class RevocationRefresher:
    """Background duty of a node: publish its own province's CRL before it goes stale (when the
    node holds the CA key) and pull partners' CRLs, every `interval` seconds."""

    def __init__(self, *, exchange: RevocationExchange, province: str, interval: float = REFRESH_SECONDS,
                 event_store: EventStoreSettings | None = None) -> None:
        self.exchange = exchange
        self.province = province
        self.interval = interval
        # Replicas of one node share its event store: one of them publishes the CRL per round.
        self.event_store = event_store or EventStoreSettings(kind="sqlite")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"crl-refresh-{province}", daemon=True)

    def run_once(self) -> list[RefreshOutcome]:
        try:
            with singleton_job(self.event_store, "crl-publish", wait=False) as ours:
                if ours and self.exchange.federation.publish_crl_if_due(self.province):
                    log.info("published a fresh CRL for %s", self.province)
        except SigningError as exc:
            log.warning("could not publish the CRL of %s: %s", self.province, exc)
        return self.exchange.refresh_all()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a refresher must survive a bad round; the next one retries
                log.exception("CRL refresh round failed")

    def start(self) -> RevocationRefresher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
