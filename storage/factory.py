"""Choose and open the configured object store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from exchange.errors import InvalidRequest
from exchange.ports import ObjectStore


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


def open_object_store(settings: ObjectStoreSettings) -> ObjectStore:
    if settings.kind == "local":
        if settings.local_root is None:
            raise InvalidRequest(
                "local_root", "the local object store needs a folder; set local_root"
            )
        from storage.local import LocalFolderStore

        return LocalFolderStore(Path(settings.local_root))

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
        )

    raise InvalidRequest("kind", f"expected 'local' or 's3', got {settings.kind!r}")
