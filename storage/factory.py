"""Choose and open the configured object store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from exchange.errors import InvalidRequest
from exchange.ports import ObjectStore
from storage.retention import RetentionPolicy


@dataclass(frozen=True)
class ObjectStoreSettings:
    """`kind="local"` needs local_root; `kind="s3"` needs endpoint (host:port), access_key,
    secret_key and bucket."""

    kind: Literal["local", "s3"]
    local_root: Path | None = None
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)  # keep it out of logs
    bucket: str | None = None
    secure: bool = False
    region: str | None = None
    # Confidentiality at rest: with a key file every object is sealed (storage.sealing) with
    # a data key wrapped by the node key kept there; the file is created on first use.
    key_file: Path | None = None
    # S3 only: create the bucket with object lock so that `retain` can make materials write-once.
    object_lock: bool = False
    # Every stored material is retained (write-once, deletion refused) for this many days from
    # when it is stored, in this mode (GOVERNANCE or COMPLIANCE); 0 keeps nothing retained.
    retention_days: int = 0
    retention_mode: str = "GOVERNANCE"


def open_object_store(settings: ObjectStoreSettings) -> ObjectStore:
    sealer = None
    if settings.key_file is not None:
        from storage.sealing import NodeKeyring, Sealer

        sealer = Sealer(NodeKeyring.open(Path(settings.key_file)))

    if settings.kind == "local":
        if settings.local_root is None:
            raise InvalidRequest(
                "local_root", "the local object store needs a folder; set local_root"
            )
        from storage.local import LocalFolderStore

        return LocalFolderStore(Path(settings.local_root), sealer=sealer, retention=_retention_policy(settings),
                                retention_mode=settings.retention_mode)

    if settings.kind == "s3":
        required = {
            "endpoint": settings.endpoint,
            "access_key": settings.access_key,
            "secret_key": settings.secret_key,
            "bucket": settings.bucket,
        }
        missing = [name for name, value in required.items() if not value]
        if missing:
            raise InvalidRequest(
                missing[0],
                f"the S3 object store needs {', '.join(missing)}; "
                "set endpoint (host:port), access_key, secret_key and bucket",
            )
        from storage.s3 import S3Store  # imported lazily: the local default needs no minio

        return S3Store(
            endpoint=str(settings.endpoint),
            access_key=str(settings.access_key),
            secret_key=str(settings.secret_key),
            bucket=str(settings.bucket),
            secure=settings.secure,
            region=settings.region,
            sealer=sealer,
            object_lock=settings.object_lock,
            retention=_retention_policy(settings),
            retention_mode=settings.retention_mode,
        )

    raise InvalidRequest("kind", f"expected 'local' or 's3', got {settings.kind!r}")


def _retention_policy(settings: ObjectStoreSettings) -> RetentionPolicy | None:
    if settings.retention_days <= 0:
        return None
    if settings.kind == "s3" and not settings.object_lock:
        raise InvalidRequest(
            "retention_days", "retention on S3 needs object_lock = true (on a bucket created with it)"
        )
    return RetentionPolicy(mode=settings.retention_mode.upper(), days=settings.retention_days)  # type: ignore[arg-type]
