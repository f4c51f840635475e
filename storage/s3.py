"""Object store on any S3-compatible server (MinIO, Ceph RGW, cloud S3) via the MinIO SDK.

A put streams into a temporary object `incoming/<uuid4>` while hashing, then, once the hash is
known and checked, server-side copies it to `sha256/<ab>/<hex>` with its metadata and removes
the temporary object. The copy is atomic on the server, so the final key is either absent or
complete with metadata; a crash can only leave a temporary object under `incoming/`, which the
lifecycle rule set on bucket creation expires after a day.

With a Sealer (storage.sealing) the object holds the sealed segments; the key envelope, the
sealed user metadata and the plaintext size travel as x-amz-meta headers. With `object_lock`
the bucket is created with S3 object lock (so versioned): `retain` sets a GOVERNANCE or
COMPLIANCE retention on the committed object and `delete` refuses while it holds — the server
itself refuses to delete a retained version, whatever client asks.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, ENABLED, GOVERNANCE, REPLACE, ComposeSource, CopySource, Filter
from minio.retention import Retention as S3Retention
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import DictType
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, Expiration, LifecycleConfig, Rule

from exchange.errors import InvalidRequest, MaterialIntegrityError, MaterialNotFound
from exchange.ports import StoredObject
from storage.errors import ObjectStoreUnavailable
from storage.keys import check_sha256, object_key
from storage.metadata import (
    check_media_type,
    check_metadata,
    check_sealed_metadata,
    decode_user_metadata,
    encode_user_metadata,
)
from storage.retention import Retention, RetentionPolicy, check_deletable, check_mode, extend_retention, utc_now
from storage.sealing import NodeKeyUnavailable, Sealer, rechunk
from storage.streams import HashingReader, TalliedChunks, VerifiedChunks, check_chunk_size

log = logging.getLogger(__name__)

INCOMING_PREFIX = "incoming/"
PART_SIZE = 16 * 1024 * 1024  # multipart part size; up to 10,000 parts = 160 GiB per object
_MAX_SINGLE_COPY = 5 * 1024**3  # CopyObject limit; larger objects are composed part by part

_SHA256_HEADER = "x-amz-meta-sha256"
_MEDIA_TYPE_HEADER = "x-amz-meta-media-type"
_USER_METADATA_HEADER = "x-amz-meta-tongban-metadata"  # percent-encoded JSON, see metadata.py
_ENVELOPE_HEADER = "x-amz-meta-tongban-envelope"
_SEALED_METADATA_HEADER = "x-amz-meta-tongban-sealed-metadata"
_PLAIN_SIZE_HEADER = "x-amz-meta-tongban-size"

# What the SDK raises when the store (not the caller) is at fault.
_STORE_ERRORS = (S3Error, ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError)
_ABSENT_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound"})
_CREDENTIAL_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)


class S3Store:
    """ObjectStore over one S3 bucket. Thread-safe (the MinIO client is)."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        create_bucket: bool = True,
        http_client: urllib3.PoolManager | None = None,
        sealer: Sealer | None = None,
        object_lock: bool = False,
        retention: RetentionPolicy | None = None,
        retention_mode: str = "GOVERNANCE",
    ) -> None:
        """`endpoint` is host:port without scheme; `secure` selects https. Pass `http_client`
        to set timeouts, retries or a private CA bundle. `retention` retains every material
        from upload on; `retention_mode` is the mode of the retention a material gets for its
        matter (retain_until)."""
        self._bucket = bucket
        self._sealer = sealer
        self._object_lock = object_lock
        self._retention = retention
        self._said_cannot_retain = False
        self._retention_mode = check_mode(retention.mode if retention is not None else retention_mode)
        self._where = f"S3 endpoint {'https' if secure else 'http'}://{endpoint} bucket {bucket!r}"
        try:
            self._client = Minio(
                endpoint,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure,
                region=region,
                http_client=http_client,
            )
        except ValueError as exc:
            raise InvalidRequest(
                "endpoint",
                f"{endpoint!r} is not usable as an S3 endpoint ({exc}); give host:port "
                "without http:// or https:// and set `secure` for TLS",
            ) from exc
        if create_bucket:
            self._ensure_bucket(region)

    def __repr__(self) -> str:
        return f"S3Store({self._where})"

    @property
    def bucket(self) -> str:
        return self._bucket

    def put_stream(
        self,
        chunks: Iterable[bytes],
        *,
        media_type: str,
        metadata: Mapping[str, str] | None = None,
        expected_sha256: str | None = None,
    ) -> StoredObject:
        media_type = check_media_type(media_type)
        user_metadata = check_metadata(metadata)
        if expected_sha256 is not None:
            check_sha256(expected_sha256, field="expected_sha256")

        temp = f"{INCOMING_PREFIX}{uuid.uuid4()}"
        plain = TalliedChunks(chunks)
        sealed: dict[str, str] = {}
        if self._sealer is None:
            reader = HashingReader(plain)
        else:
            segments, envelope = self._sealer.begin()
            sealed = {
                _ENVELOPE_HEADER: envelope,
                _SEALED_METADATA_HEADER: check_sealed_metadata(self._sealer.seal_metadata(envelope, user_metadata)),
            }
            reader = HashingReader(segments.stream(plain))
        try:
            self._client.put_object(
                self._bucket,
                temp,
                reader,  # type: ignore[arg-type]  # file-like: read() is all minio uses
                length=-1,
                part_size=PART_SIZE,
            )
        except _STORE_ERRORS as exc:
            if reader.failure is exc:
                raise  # the caller's stream broke; minio has already aborted the upload
            raise self._unavailable(exc, f"uploading {temp}") from exc

        try:
            sha256 = plain.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise MaterialIntegrityError(
                    f"received {plain.size} bytes hashing to {sha256}, but the sender declared "
                    f"{expected_sha256}; nothing was stored — ask the sender to resend"
                )
            if self.stat(sha256) is None:
                headers = self._headers(sha256, plain.size, media_type, user_metadata, sealed)
                self._copy(temp, object_key(sha256), reader.size, headers)
            # else: already stored (first metadata wins); the temporary object is dropped below.
        finally:
            self._remove_temporary(temp)

        return self._settled(sha256)

    def _settled(self, sha256: str) -> StoredObject:
        """The object just copied into place, under the store's default retention."""
        if self._retention is not None:
            self._retention.apply_to(self, sha256)
        stored = self.stat(sha256)
        if stored is None:
            raise ObjectStoreUnavailable(
                f"{self._where}: {object_key(sha256)} is missing right after it was copied; "
                "check for a lifecycle rule or another process deleting objects under sha256/"
            )
        return stored

    def put_prepared(
        self,
        stored_chunks: Iterable[bytes],
        *,
        sha256: str,
        size: int,
        media_type: str,
        metadata: Mapping[str, str] | None,
        envelope: str | None,
        stored_file: object = None,  # only the local folder can move a file in
    ) -> StoredObject:
        """As LocalFolderStore.put_prepared: upload bytes already sealed under `envelope` (or
        plain when this store does not seal) for a plaintext the caller hashed to `sha256`."""
        media_type = check_media_type(media_type)
        user_metadata = check_metadata(metadata)
        check_sha256(sha256)
        if (envelope is None) != (self._sealer is None):
            raise InvalidRequest("envelope", "prepared bytes must be sealed exactly when this store seals")
        existing = self.stat(sha256)
        if existing is not None:
            return existing
        sealed: dict[str, str] = {}
        if envelope is not None and self._sealer is not None:
            sealed = {
                _ENVELOPE_HEADER: envelope,
                _SEALED_METADATA_HEADER: check_sealed_metadata(self._sealer.seal_metadata(envelope, user_metadata)),
            }
        temp = f"{INCOMING_PREFIX}{uuid.uuid4()}"
        reader = HashingReader(stored_chunks)
        try:
            try:
                self._client.put_object(self._bucket, temp, reader, length=-1, part_size=PART_SIZE)  # type: ignore[arg-type]
            except _STORE_ERRORS as exc:
                if reader.failure is exc:
                    raise
                raise self._unavailable(exc, f"uploading {temp}") from exc
            expected = self._sealer.sealed_size(size) if sealed and self._sealer else size
            if reader.size != expected:
                raise MaterialIntegrityError(f"prepared material {sha256} has {reader.size} stored bytes, not {expected}")
            if self.stat(sha256) is None:
                self._copy(temp, object_key(sha256), reader.size,
                           self._headers(sha256, size, media_type, user_metadata, sealed))
        finally:
            self._remove_temporary(temp)
        return self._settled(sha256)

    def put_bytes(
        self, data: bytes, *, media_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject:
        return self.put_stream([data], media_type=media_type, metadata=metadata)

    def stat(self, sha256: str) -> StoredObject | None:
        key = object_key(sha256)
        try:
            info = self._client.stat_object(self._bucket, key)
        except S3Error as exc:
            if exc.code in _ABSENT_CODES:
                return None
            raise self._unavailable(exc, f"reading the metadata of {key}") from exc
        except _STORE_ERRORS as exc:
            raise self._unavailable(exc, f"reading the metadata of {key}") from exc

        headers = info.metadata or {}  # case-insensitive HTTP headers
        recorded = headers.get(_SHA256_HEADER)
        media_type = headers.get(_MEDIA_TYPE_HEADER)
        envelope = headers.get(_ENVELOPE_HEADER)
        size = int(info.size or 0)
        try:
            if envelope:
                user_metadata = self._require_sealer(key).open_metadata(
                    envelope, headers.get(_SEALED_METADATA_HEADER) or ""
                )
                size = int(headers.get(_PLAIN_SIZE_HEADER, ""))
            else:
                user_metadata = decode_user_metadata(headers.get(_USER_METADATA_HEADER))
        except ValueError:
            recorded = None
        if recorded != sha256 or media_type is None:
            raise MaterialIntegrityError(
                f"{self._where}: {key} lacks valid tongban metadata (recorded sha256 "
                f"{recorded!r}); it was written by something else — remove it and store the "
                "material again"
            )
        return StoredObject(
            key=key,
            sha256=sha256,
            size=size,
            media_type=media_type,
            metadata=user_metadata,
        )

    def iter_chunks(self, sha256: str, *, chunk_size: int = 1 << 20, verify: bool = True) -> VerifiedChunks:
        check_chunk_size(chunk_size)
        key = object_key(sha256)
        try:
            response = self._client.get_object(self._bucket, key)
            envelope = response.headers.get(_ENVELOPE_HEADER)
        except S3Error as exc:
            if exc.code in _ABSENT_CODES:
                raise MaterialNotFound(
                    f"no material with SHA-256 {sha256} in {self._where}"
                ) from exc
            raise self._unavailable(exc, f"reading {key}") from exc
        except _STORE_ERRORS as exc:
            raise self._unavailable(exc, f"reading {key}") from exc

        def release() -> None:
            response.close()
            response.release_conn()

        def body(size: int) -> Iterator[bytes]:
            try:
                yield from response.stream(size)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise self._unavailable(exc, f"reading {key}") from exc

        source: Iterator[bytes]
        if envelope:
            try:
                opened = self._require_sealer(key).open_stream(envelope, body(1 << 20), where=self._where)
            except BaseException:
                release()
                raise
            source = rechunk(opened, chunk_size)
        else:
            source = body(chunk_size)
        return VerifiedChunks(source, sha256=sha256, where=self._where, release=release, verify=verify)

    def read_bytes(self, sha256: str, *, verify: bool = True) -> bytes:
        with self.iter_chunks(sha256, verify=verify) as chunks:
            return b"".join(chunks)

    def _headers(
        self, sha256: str, size: int, media_type: str, user_metadata: dict[str, str], sealed: dict[str, str]
    ) -> DictType:
        headers: DictType = {
            "Content-Type": media_type,
            _SHA256_HEADER: sha256,
            _MEDIA_TYPE_HEADER: media_type,
        }
        if sealed:
            headers.update(sealed)
            headers[_PLAIN_SIZE_HEADER] = str(size)
        elif user_metadata:
            headers[_USER_METADATA_HEADER] = encode_user_metadata(user_metadata)
        return headers

    def _copy(self, source: str, key: str, stored_size: int, headers: DictType) -> None:
        try:
            if stored_size > _MAX_SINGLE_COPY:
                self._client.compose_object(
                    self._bucket,
                    key,
                    [ComposeSource(self._bucket, source)],
                    metadata=headers,
                )
            else:
                self._client.copy_object(
                    self._bucket,
                    key,
                    CopySource(self._bucket, source),
                    metadata=headers,
                    metadata_directive=REPLACE,
                )
        except _STORE_ERRORS as exc:
            raise self._unavailable(exc, f"copying {source} to {key}") from exc

    # -- key rotation ---------------------------------------------------------------------

    def rewrap_keys(self) -> int:
        """Re-wrap every data key under the current node key by rewriting only the metadata
        (a server-side copy onto itself); no object bytes leave or re-enter the server.
        Returns how many envelopes changed."""
        sealer = self._require_sealer("(all)")
        changed = 0
        with self._translated("re-wrapping data keys"):
            for item in self._client.list_objects(self._bucket, prefix="sha256/", recursive=True):
                key = str(item.object_name)
                info = self._client.stat_object(self._bucket, key)
                headers = {k.lower(): v for k, v in (info.metadata or {}).items() if k.lower().startswith("x-amz-meta-")}
                envelope = headers.get(_ENVELOPE_HEADER)
                if not envelope:
                    continue
                rewrapped = sealer.rewrap(envelope)
                if rewrapped is None:
                    continue
                headers[_ENVELOPE_HEADER] = rewrapped
                headers["Content-Type"] = info.content_type or "application/octet-stream"
                retention = self.retention(key.rsplit("/", 1)[1]) if self._object_lock else None
                self._copy(key, key, int(info.size or 0), headers)
                if retention is not None:  # a copy is a new version: keep it retained as well
                    self._set_retention(key, retention)
                changed += 1
        return changed

    # -- retention ------------------------------------------------------------------------

    def retain(self, sha256: str, retention: Retention) -> None:
        if not self._object_lock:
            raise InvalidRequest(
                "object_lock",
                f"{self._where} was opened without object lock; enable object_lock in the "
                "object store settings (on a new bucket) to retain materials",
            )
        if self.stat(sha256) is None:
            raise MaterialNotFound(f"no material with SHA-256 {sha256} in {self._where}")
        current = self.retention(sha256)
        if current is not None and not retention.extends(current):
            raise current.refusal(sha256, action="shorten the retention of")
        self._set_retention(object_key(sha256), retention)

    def retain_until(self, sha256: str, *, until: datetime) -> bool:
        """Keep the material until `until` (its matter's retention) with S3 object lock, in
        this store's mode. A bucket without object lock cannot: said in the log, once."""
        if not self._object_lock:
            if not self._said_cannot_retain:
                self._said_cannot_retain = True
                log.warning("%s has no object lock: materials are not retained for their matter's period; "
                            "use a bucket created with object_lock = true", self._where)
            return False
        extend_retention(self, sha256, until=until, mode=self._retention_mode)
        return True

    def retention(self, sha256: str) -> Retention | None:
        """Read from the object's headers (x-amz-object-lock-*), which every S3 server that
        supports object lock returns on HEAD."""
        if not self._object_lock:
            return None
        key = object_key(sha256)
        try:
            headers = self._client.stat_object(self._bucket, key).metadata or {}
        except S3Error as exc:
            if exc.code in _ABSENT_CODES:
                return None
            raise self._unavailable(exc, f"reading the retention of {key}") from exc
        except _STORE_ERRORS as exc:
            raise self._unavailable(exc, f"reading the retention of {key}") from exc
        mode, until = headers.get("x-amz-object-lock-mode"), headers.get("x-amz-object-lock-retain-until-date")
        if not mode or not until:
            return None
        return Retention(mode=mode.upper(), until=datetime.fromisoformat(until.replace("Z", "+00:00")))

    def delete(self, sha256: str, *, bypass_governance: bool = False, now: datetime | None = None) -> None:
        """Delete every version of a material; refused while a retention holds it."""
        key = object_key(sha256)
        check_deletable(self.retention(sha256), sha256, now=now or utc_now(), bypass_governance=bypass_governance)
        with self._translated(f"deleting {key}"):
            if self._object_lock:
                for version in self._client.list_objects(self._bucket, prefix=key, include_version=True):
                    if version.object_name == key:
                        self._client.remove_object(self._bucket, key, version_id=version.version_id)
            else:
                self._client.remove_object(self._bucket, key)

    def _set_retention(self, key: str, retention: Retention) -> None:
        mode = COMPLIANCE if retention.mode == "COMPLIANCE" else GOVERNANCE
        with self._translated(f"setting the retention of {key}"):
            self._client.set_object_retention(self._bucket, key, S3Retention(mode, retention.until))

    def _require_sealer(self, key: str) -> Sealer:
        if self._sealer is None:
            raise NodeKeyUnavailable(
                f"{key} in {self._where} is sealed, but this store was opened without a node "
                "key; configure the node's key file"
            )
        return self._sealer

    def _remove_temporary(self, temp: str) -> None:
        try:
            if self._object_lock:  # versioned: a plain delete would only hide the bytes
                for version in self._client.list_objects(self._bucket, prefix=temp, include_version=True):
                    self._client.remove_object(self._bucket, temp, version_id=version.version_id)
                return
            self._client.remove_object(self._bucket, temp)
        except Exception:  # never mask the outcome of the put; the lifecycle rule cleans up
            log.warning(
                "could not remove temporary object %s from %s", temp, self._where, exc_info=True
            )

    def _ensure_bucket(self, region: str | None) -> None:
        with self._translated("checking or creating the bucket"):
            if self._client.bucket_exists(self._bucket):
                return
            try:
                self._client.make_bucket(self._bucket, location=region, object_lock=self._object_lock)
            except S3Error as exc:
                if exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    return  # created concurrently by another node or process
                raise
        self._expire_abandoned_uploads()

    def _expire_abandoned_uploads(self) -> None:
        """Expire temporary objects and unfinished multipart uploads left by crashed puts."""
        rule = Rule(
            ENABLED,
            rule_filter=Filter(prefix=INCOMING_PREFIX),
            rule_id="tongban-expire-incoming",
            expiration=Expiration(days=1),
            abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(
                days_after_initiation=1
            ),
        )
        try:
            self._client.set_bucket_lifecycle(self._bucket, LifecycleConfig([rule]))
        except Exception:
            log.warning(
                "could not set a lifecycle rule on %s; clean %s by hand after crashes",
                self._where,
                INCOMING_PREFIX,
                exc_info=True,
            )

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except _STORE_ERRORS as exc:
            raise self._unavailable(exc, action) from exc

    def _unavailable(self, exc: Exception, action: str) -> ObjectStoreUnavailable:
        """Say which store failed doing what, and what to check."""
        if isinstance(exc, S3Error):
            if exc.code == "NoSuchBucket":
                hint = (
                    "the bucket does not exist; create it or open the store with create_bucket=True"
                )
            elif exc.code in _CREDENTIAL_CODES:
                hint = (
                    "the server refused the credentials; "
                    "check the access key, secret key, region and bucket policy"
                )
            else:
                hint = "see the server's message"
            detail = f"{exc.code}: {exc.message}"
        elif isinstance(exc, ServerError):
            hint = "check the server's health and logs"
            detail = f"HTTP {exc.status_code}: {exc}"
        elif isinstance(exc, InvalidResponseError):
            hint = (
                "check that the endpoint is the S3 API port (not a web console) "
                "and that `secure` matches"
            )
            detail = str(exc)
        else:
            hint = (
                "check the host and port, the `secure` (TLS) flag and certificates, "
                "and that the server is running"
            )
            detail = f"{type(exc).__name__}: {exc}"
        return ObjectStoreUnavailable(f"{self._where}: {action} failed ({detail}); {hint}")
