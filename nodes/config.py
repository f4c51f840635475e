"""A node's configuration: a TOML file, with TONGBAN_* environment variables on top
(the way docker-compose passes production settings)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.errors import TongbanError
from nodes.cpu_policy import check_cpu_policy
from storage.eventstore import EventStoreSettings
from storage.factory import ObjectStoreSettings


@dataclass(frozen=True)
class OutboxSettings:
    """How the relay retries messages to partners: exponential backoff from `retry_base_seconds`
    up to `retry_cap_seconds`, with jitter; a claim its sender stopped renewing (it renews every
    quarter of `lease_seconds` while sending) is taken over after `lease_seconds`; the relay
    looks for due messages at least every `poll_seconds`; a broken material stream is resumed
    within one attempt for `resume_patience_seconds`, after which the relay's backoff takes over."""

    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 300.0
    lease_seconds: float = 120.0
    poll_seconds: float = 5.0
    resume_patience_seconds: float = 10.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> OutboxSettings:
        names = ("retry_base_seconds", "retry_cap_seconds", "lease_seconds", "poll_seconds", "resume_patience_seconds")
        return cls(**{name: float(raw[name]) for name in names if name in raw})


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not all the machine has."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    return 2 * usable_cores() + 2


@dataclass(frozen=True)
class NodeConfig:
    province: str
    listen: str
    data_dir: Path
    pki_dir: Path
    peers: Mapping[str, str] = field(default_factory=dict)
    event_store: EventStoreSettings = field(default_factory=EventStoreSettings)
    object_store: ObjectStoreSettings = field(
        default_factory=lambda: ObjectStoreSettings(kind="local")
    )
    # Calls from clerks, officers and auditors served at once; up to `queued_calls` more wait
    # for a turn, beyond that RESOURCE_EXHAUSTED. Partner nodes' calls never wait and have
    # threads of their own, so two busy nodes never wait on each other (nodes/server.py).
    # Two per core and two more keep the cores busy while calls wait on the disk, PostgreSQL
    # or a partner; more only hand the interpreter lock around (docs/performance-history.md).
    workers: int = field(default_factory=default_workers)
    queued_calls: int = 64
    # Streams open at once: clerks' uploads and auditors' log reads. Each holds a thread, but a
    # turn only while it works on a message (a slow link must not hold one), so they are
    # counted apart from the turns.
    uploads: int = 32
    # Calls from one partner node served at once (twice this from all partners); more are
    # RESOURCE_EXHAUSTED and the partner's courier tries again.
    partner_workers: int = 16
    # Worker processes that seal and verify (nodes/pools.py); 0 seals in the gRPC threads, a
    # negative number means one per core. Production nodes use a pool; tests start dozens of
    # small nodes and skip its start-up cost.
    signing_processes: int = 0
    # "batch": the node's threads do not preempt on each wake-up (its signing workers run under
    # the default); "normal": Linux's default for all. nodes/cpu_policy.py says why.
    cpu_policy: str = "batch"
    max_material_bytes: int = 2 << 30  # a material larger than this is refused (INVALID_ARGUMENT)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    # Calls per second each caller (a partner node, an operator) may make, and the burst it may
    # make at once; beyond that RESOURCE_EXHAUSTED with a retry-after hint. 0 turns it off.
    rate_limit_per_second: float = 1000.0
    rate_limit_burst: int = 2000
    max_concurrent_calls: int = 256  # beyond this the server answers RESOURCE_EXHAUSTED at once

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @classmethod
    def load(cls, path: Path, env: Mapping[str, str] | None = None) -> NodeConfig:
        """The node's TOML file; a file that cannot be read or used is a TongbanError naming it."""
        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
        except OSError as exc:
            raise TongbanError(f"cannot read the node configuration {path} ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise TongbanError(f"{path} is not valid TOML: {exc}") from None
        try:
            return cls.from_mapping(raw, base=path.parent, env=os.environ if env is None else env)
        except KeyError as exc:
            raise TongbanError(f"{path}: the setting {exc.args[0]!r} is missing") from None
        except (ValueError, TypeError, AttributeError) as exc:
            raise TongbanError(f"{path}: a setting has the wrong type or value ({exc}); "
                               "compare it with the node configuration in the README") from None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, base: Path, env: Mapping[str, str]) -> NodeConfig:
        def path(value: str) -> Path:
            p = Path(value)
            return p if p.is_absolute() else (base / p).resolve()

        data_dir = path(env.get("TONGBAN_DATA_DIR", raw.get("data_dir", "data")))
        es = dict(raw.get("event_store", {}))
        es.update(_section_env(env, "TONGBAN_EVENT_STORE_"))
        os_ = dict(raw.get("object_store", {}))
        os_.update(_section_env(env, "TONGBAN_OBJECT_STORE_"))
        province = str(env.get("TONGBAN_PROVINCE", raw["province"]))
        es_kind = es.get("kind", "sqlite")
        os_kind = os_.get("kind", "local")
        event_store = EventStoreSettings(
            kind=es_kind,
            sqlite_path=(path(es["sqlite_path"]) if "sqlite_path" in es else data_dir / "events.sqlite")
            if es_kind == "sqlite" else None,
            host=es.get("host", "127.0.0.1"),
            port=int(es.get("port", 5432)),
            dbname=es.get("dbname", "tongban"),
            user=es.get("user", "postgres"),
            password=es.get("password", ""),
            schema=es.get("schema", f"tongban_{province}"),
            key_file=_event_key_file(es, data_dir, path),
            # false where the node's role only reads and appends (storage.chain.grant_append_only)
            create_schema=_flag(es, "create_schema", default=True),
        )
        object_store = ObjectStoreSettings(
            kind=os_kind,
            local_root=(path(os_["local_root"]) if "local_root" in os_ else data_dir / "objects")
            if os_kind == "local" else None,
            endpoint=os_.get("endpoint"),
            access_key=os_.get("access_key"),
            secret_key=os_.get("secret_key"),
            bucket=os_.get("bucket"),
            secure=_flag(os_, "secure", default=False),
            region=os_.get("region"),
            key_file=_key_file(os_, data_dir, path),
            object_lock=_flag(os_, "object_lock", default=False),
            retention_days=int(os_.get("retention_days", 0)),
            retention_mode=str(os_.get("retention_mode", "GOVERNANCE")),
        )
        outbox = dict(raw.get("outbox", {}))
        outbox.update(_section_env(env, "TONGBAN_OUTBOX_"))
        peers = {str(k): str(v) for k, v in raw.get("peers", {}).items()}
        for key, value in env.items():
            if key.startswith("TONGBAN_PEER_"):
                peers[key.removeprefix("TONGBAN_PEER_")] = value
        return cls(
            province=province,
            listen=env.get("TONGBAN_LISTEN", raw.get("listen", "127.0.0.1:50051")),
            data_dir=data_dir,
            pki_dir=path(env.get("TONGBAN_PKI_DIR", raw.get("pki_dir", "pki"))),
            peers=peers,
            event_store=event_store,
            object_store=object_store,
            workers=int(env.get("TONGBAN_WORKERS", raw.get("workers", default_workers()))),
            queued_calls=int(env.get("TONGBAN_QUEUED_CALLS", raw.get("queued_calls", 64))),
            uploads=int(env.get("TONGBAN_UPLOADS", raw.get("uploads", 32))),
            partner_workers=int(env.get("TONGBAN_PARTNER_WORKERS", raw.get("partner_workers", 16))),
            signing_processes=int(env.get("TONGBAN_SIGNING_PROCESSES", raw.get("signing_processes", 0))),
            cpu_policy=check_cpu_policy(env.get("TONGBAN_CPU_POLICY", raw.get("cpu_policy", "batch")),
                                         setting="cpu_policy (or TONGBAN_CPU_POLICY)"),
            max_material_bytes=int(env.get("TONGBAN_MAX_MATERIAL_BYTES", raw.get("max_material_bytes", 2 << 30))),
            outbox=OutboxSettings.from_mapping(outbox),
            rate_limit_per_second=float(env.get("TONGBAN_RATE_LIMIT_PER_SECOND",
                                                raw.get("rate_limit_per_second", 1000.0))),
            rate_limit_burst=int(env.get("TONGBAN_RATE_LIMIT_BURST", raw.get("rate_limit_burst", 2000))),
            max_concurrent_calls=int(env.get("TONGBAN_MAX_CONCURRENT_CALLS", raw.get("max_concurrent_calls", 256))),
        )


def _key_file(section: Mapping[str, Any], data_dir: Path, path: Any) -> Path | None:
    """Materials are sealed at rest unless `encrypt = false`; the node key lives under the
    data dir unless `key_file` says where."""
    if str(section.get("encrypt", "true")).lower() in {"0", "false", "no"}:
        return None
    return path(section["key_file"]) if section.get("key_file") else data_dir / "keys" / "node-keys.json"


def _event_key_file(section: Mapping[str, Any], data_dir: Path, path: Any) -> Path | None:
    """Events holding personal data are encrypted unless `encrypt = false` (see
    docs/personal-data.md); the event key sits beside the node's material key."""
    if str(section.get("encrypt", "true")).lower() in {"0", "false", "no"}:
        return None
    return path(section["key_file"]) if section.get("key_file") else data_dir / "keys" / "event-keys.json"


def _section_env(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}


def _flag(section: Mapping[str, Any], key: str, *, default: bool) -> bool:
    """A yes/no setting, from TOML (a boolean or a string) or from the environment (a string)."""
    return str(section.get(key, default)).lower() in {"1", "true", "yes"}


def to_toml(config: NodeConfig) -> str:
    """Write a config the loader reads back (the demo and tests make configs with it)."""
    es, os_ = config.event_store, config.object_store
    lines = [
        f'province = "{config.province}"',
        f'listen = "{config.listen}"',
        f'data_dir = "{config.data_dir}"',
        f'pki_dir = "{config.pki_dir}"',
        f"workers = {config.workers}",
        f"queued_calls = {config.queued_calls}",
        f"uploads = {config.uploads}",
        f"partner_workers = {config.partner_workers}",
        f"signing_processes = {config.signing_processes}",
        f'cpu_policy = "{config.cpu_policy}"',
        f"max_material_bytes = {config.max_material_bytes}",
        f"rate_limit_per_second = {config.rate_limit_per_second}",
        f"rate_limit_burst = {config.rate_limit_burst}",
        f"max_concurrent_calls = {config.max_concurrent_calls}",
        "",
        "[peers]",
        *(f'"{code}" = "{addr}"' for code, addr in sorted(config.peers.items())),
        "",
        "[event_store]",
        f'kind = "{es.kind}"',
    ]
    lines.append(f'key_file = "{es.key_file}"' if es.key_file else 'encrypt = "false"')
    if es.kind == "sqlite":
        lines.append(f'sqlite_path = "{es.sqlite_path}"')
    else:
        lines += [
            f'host = "{es.host}"', f"port = {es.port}", f'dbname = "{es.dbname}"',
            f'user = "{es.user}"', f'password = "{es.password}"', f'schema = "{es.schema}"',
            f'create_schema = "{str(es.create_schema).lower()}"',
        ]
    lines += ["", "[object_store]", f'kind = "{os_.kind}"']
    lines.append(f'key_file = "{os_.key_file}"' if os_.key_file else 'encrypt = "false"')
    if os_.object_lock:
        lines.append('object_lock = "true"')
    if os_.retention_days:
        lines += [f"retention_days = {os_.retention_days}", f'retention_mode = "{os_.retention_mode}"']
    if os_.kind == "local":
        lines.append(f'local_root = "{os_.local_root}"')
    else:
        lines += [
            f'endpoint = "{os_.endpoint}"', f'bucket = "{os_.bucket}"',
            f'access_key = "{os_.access_key}"', f'secret_key = "{os_.secret_key}"',
            f'secure = "{str(os_.secure).lower()}"',
        ]
        if os_.region:
            lines.append(f'region = "{os_.region}"')
    ob = config.outbox
    lines += [
        "", "[outbox]", f"retry_base_seconds = {ob.retry_base_seconds}", f"retry_cap_seconds = {ob.retry_cap_seconds}",
        f"lease_seconds = {ob.lease_seconds}", f"poll_seconds = {ob.poll_seconds}",
        f"resume_patience_seconds = {ob.resume_patience_seconds}",
    ]
    return "\n".join(lines) + "\n"
