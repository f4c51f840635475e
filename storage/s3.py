"""Object store on any S3-compatible server (MinIO, Ceph RGW, cloud S3) via the MinIO SDK.

A put streams into a temporary object `incoming/<uuid4>` while hashing, then, once the hash is
known and checked, server-side copies it to `sha256/<ab>/<hex>` with its metadata and removes
the temporary object. The copy is atomic on the server, so the final key is either absent or
complete with metadata; a crash can only leave a temporary object under `incoming/`, which the
lifecycle rule set on bucket creation expires after a day.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, REPLACE, ComposeSource, CopySource, Filter
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
    decode_user_metadata,
    encode_user_metadata,
)
from storage.streams import HashingReader, VerifiedChunks, check_chunk_size

log = logging.getLogger(__name__)

INCOMING_PREFIX = "incoming/"
PART_SIZE = 16 * 1024 * 1024  # multipart part size; up to 10,000 parts = 160 GiB per object
_MAX_SINGLE_COPY = 5 * 1024**3  # CopyObject limit; larger objects are composed part by part

_SHA256_HEADER = "x-amz-meta-sha256"
_MEDIA_TYPE_HEADER = "x-amz-meta-media-type"
_USER_METADATA_HEADER = "x-amz-meta-tongban-metadata"  # percent-encoded JSON, see metadata.py

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
    ) -> None:
        """`endpoint` is host:port without scheme; `secure` selects https. Pass `http_client`
        to set timeouts, retries or a private CA bundle."""
        self._bucket = bucket
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
        reader = HashingReader(chunks)
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
            sha256 = reader.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise MaterialIntegrityError(
                    f"received {reader.size} bytes hashing to {sha256}, but the sender declared "
                    f"{expected_sha256}; nothing was stored — ask the sender to resend"
                )
            if self.stat(sha256) is None:
                self._commit(temp, sha256, reader.size, media_type, user_metadata)
            # else: already stored (first metadata wins); the temporary object is dropped below.
        finally:
            self._remove_temporary(temp)

        stored = self.stat(sha256)
        if stored is None:
            raise ObjectStoreUnavailable(
                f"{self._where}: {object_key(sha256)} is missing right after it was copied; "
                "check for a lifecycle rule or another process deleting objects under sha256/"
            )
        return stored

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
        try:
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
            size=int(info.size or 0),
            media_type=media_type,
            metadata=user_metadata,
        )

    def iter_chunks(self, sha256: str, *, chunk_size: int = 1 << 20) -> VerifiedChunks:
        check_chunk_size(chunk_size)
        key = object_key(sha256)
        try:
            response = self._client.get_object(self._bucket, key)
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

        def body() -> Iterator[bytes]:
            try:
                yield from response.stream(chunk_size)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise self._unavailable(exc, f"reading {key}") from exc

        return VerifiedChunks(body(), sha256=sha256, where=self._where, release=release)

    def read_bytes(self, sha256: str) -> bytes:
        with self.iter_chunks(sha256) as chunks:
            return b"".join(chunks)

    def _commit(
        self, temp: str, sha256: str, size: int, media_type: str, user_metadata: dict[str, str]
    ) -> None:
        key = object_key(sha256)
        headers: DictType = {
            "Content-Type": media_type,
            _SHA256_HEADER: sha256,
            _MEDIA_TYPE_HEADER: media_type,
        }
        if user_metadata:
            headers[_USER_METADATA_HEADER] = encode_user_metadata(user_metadata)
        try:
            if size > _MAX_SINGLE_COPY:
                self._client.compose_object(
                    self._bucket,
                    key,
                    [ComposeSource(self._bucket, temp)],
                    metadata=headers,
                )
            else:
                self._client.copy_object(
                    self._bucket,
                    key,
                    CopySource(self._bucket, temp),
                    metadata=headers,
                    metadata_directive=REPLACE,
                )
        except _STORE_ERRORS as exc:
            raise self._unavailable(exc, f"copying {temp} to {key}") from exc

    def _remove_temporary(self, temp: str) -> None:
        try:
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
                self._client.make_bucket(self._bucket, location=region)
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
