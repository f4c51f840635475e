"""One contract for every ObjectStore backend: the local folder and S3 (a real moto server),
each plain and sealed at rest (storage.sealing), plus retention on both."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exchange.errors import InvalidRequest, MaterialIntegrityError, MaterialNotFound
from exchange.ports import ObjectStore
from storage.errors import ObjectStoreUnavailable
from storage.factory import ObjectStoreSettings, open_object_store
from storage.keys import object_key
from storage.local import LocalFolderStore
from storage.retention import Retention, RetentionActive
from storage.sealing import NodeKeyring, NodeKeyUnavailable, Sealer
from tests.fixtures.s3 import S3Server

MiB = 1 << 20
PDF = "application/pdf"


@dataclass
class Backend:
    """A store plus the backend-specific ways a test looks behind its back."""

    store: ObjectStore
    committed_keys: Callable[[], list[str]]  # final objects, without sidecars
    leftovers: Callable[[], list[str]]  # temporary files or objects
    corrupt: Callable[[str], None]  # change the stored bytes of a sha256 in place
    raw: Callable[[str], bytes]  # what the store operator sees: object bytes and its metadata
    reopen: Callable[[Sealer | None], ObjectStore]  # the same bytes, opened with other keys


def local_backend(root: Path, sealer: Sealer | None = None) -> Backend:
    store = LocalFolderStore(root, sealer=sealer)

    def committed_keys() -> list[str]:
        return (
            sorted(
                str(p.relative_to(root))
                for p in (root / "sha256").rglob("*")
                if p.is_file() and not p.name.endswith(".meta.json")
            )
            if (root / "sha256").exists()
            else []
        )

    def leftovers() -> list[str]:
        temps = [str(p) for p in (root / ".incoming").iterdir()]
        return temps + [str(p) for p in root.rglob("*.part")]

    def corrupt(sha256: str) -> None:
        path = root / object_key(sha256)
        data = bytearray(path.read_bytes())
        data[0] ^= 0xFF
        path.write_bytes(bytes(data))

    def raw(sha256: str) -> bytes:
        path = root / object_key(sha256)
        sidecar = path.with_name(path.name + ".meta.json")  # where the filesystem keeps no attributes
        attributes = b"".join(os.getxattr(path, name) for name in os.listxattr(path)) if hasattr(os, "listxattr") else b""
        return path.read_bytes() + attributes + (sidecar.read_bytes() if sidecar.exists() else b"")

    return Backend(
        store, committed_keys, leftovers, corrupt, raw,
        lambda other: LocalFolderStore(root, sealer=other),
    )


def s3_backend(server: S3Server, bucket: str, sealer: Sealer | None = None, object_lock: bool = False) -> Backend:
    import io

    from minio import Minio
    from minio.helpers import DictType

    from storage.s3 import S3Store

    def opened(with_sealer: Sealer | None) -> S3Store:
        return S3Store(
            endpoint=server.endpoint,
            access_key=server.access_key,
            secret_key=server.secret_key,
            bucket=bucket,
            region=server.region,
            sealer=with_sealer,
            object_lock=object_lock,
        )

    store = opened(sealer)
    client = Minio(
        server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
        region=server.region,
    )

    def names(prefix: str) -> list[str]:
        return sorted(
            str(o.object_name) for o in client.list_objects(bucket, prefix, recursive=True)
        )

    def corrupt(sha256: str) -> None:
        key = object_key(sha256)
        info = client.stat_object(bucket, key)
        original = client.get_object(bucket, key)
        try:
            data = bytearray(original.read())
        finally:
            original.close()
            original.release_conn()
        data[0] ^= 0xFF
        kept: DictType = {
            k: v for k, v in (info.metadata or {}).items() if k.lower().startswith("x-amz-meta-")
        }
        client.put_object(bucket, key, io.BytesIO(bytes(data)), len(data), metadata=kept)

    def raw(sha256: str) -> bytes:
        key = object_key(sha256)
        response = client.get_object(bucket, key)
        try:
            body = response.read()
        finally:
            response.close()
            response.release_conn()
        return body + repr(client.stat_object(bucket, key).metadata).encode()

    return Backend(store, lambda: names("sha256/"), lambda: names("incoming/"), corrupt, raw, opened)


def make_backend(request: pytest.FixtureRequest, tmp_path: Path, kind: str, *, sealed: bool,
                 object_lock: bool = False) -> Backend:
    sealer = Sealer(NodeKeyring.open(tmp_path / "keys" / "node-keys.json")) if sealed else None
    if kind == "local":
        return local_backend(tmp_path / "objects", sealer)
    # Looked up lazily so that local-only runs never start the S3 server.
    return s3_backend(request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket"),
                      sealer, object_lock)


BACKENDS = ["local", pytest.param("s3", marks=pytest.mark.s3)]


@pytest.fixture(params=[
    "local", "local-sealed",
    pytest.param("s3", marks=pytest.mark.s3), pytest.param("s3-sealed", marks=pytest.mark.s3),
])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    kind, _, sealed = request.param.partition("-")
    return make_backend(request, tmp_path, kind, sealed=bool(sealed))


@pytest.fixture(params=BACKENDS)
def sealed_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request, tmp_path, request.param, sealed=True)


@pytest.fixture(params=BACKENDS)
def retaining_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return make_backend(request, tmp_path, "local", sealed=True)
    # Not the s3_bucket fixture: its cleanup cannot delete retained objects, and nobody should.
    # moto keeps the bucket in memory until the session's server stops.
    server = request.getfixturevalue("s3_server")
    sealer = Sealer(NodeKeyring.open(tmp_path / "keys" / "node-keys.json"))
    return s3_backend(server, f"tongban-locked-{uuid.uuid4().hex[:12]}", sealer, object_lock=True)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def generated_chunks(total: int, *, seed: int, chunk: int = MiB) -> Iterator[bytes]:
    """Deterministic pseudo-random bytes, produced one chunk at a time."""
    rng = random.Random(seed)
    remaining = total
    while remaining > 0:
        size = min(chunk, remaining)
        yield rng.randbytes(size)
        remaining -= size


def hash_of_generated(total: int, *, seed: int) -> str:
    digest = hashlib.sha256()
    for part in generated_chunks(total, seed=seed):
        digest.update(part)
    return digest.hexdigest()


# --- the contract -------------------------------------------------------------------------


def test_bytes_that_are_put_are_read_back_unchanged(backend: Backend) -> None:
    data = b"%PDF-1.7 certificate of residence\n" * 1000
    stored = backend.store.put_bytes(data, media_type=PDF)

    assert backend.store.read_bytes(stored.sha256) == data
    chunks = list(backend.store.iter_chunks(stored.sha256, chunk_size=4096))
    assert b"".join(chunks) == data
    assert all(len(c) <= 4096 for c in chunks)
    assert backend.store.stat(stored.sha256) == stored
    assert (stored.size, stored.media_type) == (len(data), PDF)


def test_the_key_is_derived_from_the_sha256_of_the_bytes(backend: Backend) -> None:
    data = b"household register extract"
    digest = sha256_of(data)

    stored = backend.store.put_stream([data[:9], data[9:]], media_type="text/plain")

    assert stored.sha256 == digest
    assert stored.key == f"sha256/{digest[:2]}/{digest}" == object_key(digest)
    assert backend.committed_keys() == [stored.key]


def test_storing_the_same_bytes_twice_keeps_one_object_and_returns_the_same_record(
    backend: Backend,
) -> None:
    data = b"the same scanned ID card"
    first = backend.store.put_bytes(data, media_type="image/png", metadata={"file_name": "a.png"})
    second = backend.store.put_stream(
        iter([data]),
        media_type="image/png",
        metadata={"file_name": "a.png"},
        expected_sha256=sha256_of(data),
    )

    assert second == first
    assert backend.committed_keys() == [first.key]
    assert backend.leftovers() == []


def test_bytes_that_do_not_match_the_declared_sha256_are_refused_and_leave_nothing_behind(
    backend: Backend,
) -> None:
    sent = b"tampered in transit"
    declared = sha256_of(b"what the sender signed")

    with pytest.raises(MaterialIntegrityError, match=declared):
        backend.store.put_stream([sent], media_type=PDF, expected_sha256=declared)

    assert backend.store.stat(declared) is None
    assert backend.store.stat(sha256_of(sent)) is None
    assert backend.committed_keys() == []
    assert backend.leftovers() == []


def test_metadata_with_a_chinese_file_name_round_trips(backend: Backend) -> None:
    metadata = {
        "file_name": "居民身份证（正反面）.pdf",
        "fileName": "Mixed Case 100%",
        "材料": "户口簿",
    }
    stored = backend.store.put_bytes(b"scan", media_type=PDF, metadata=metadata)

    assert dict(stored.metadata) == metadata
    again = backend.store.stat(stored.sha256)
    assert again is not None and dict(again.metadata) == metadata


def test_a_missing_object_is_absent_and_reading_it_raises_material_not_found(
    backend: Backend,
) -> None:
    missing = sha256_of(b"never stored")

    assert backend.store.stat(missing) is None
    with pytest.raises(MaterialNotFound, match=missing):
        backend.store.iter_chunks(missing)
    with pytest.raises(MaterialNotFound):
        backend.store.read_bytes(missing)


def test_a_50_mb_stream_round_trips_chunk_by_chunk_with_the_right_hash(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    total = 50 * 1000 * 1000 + 123  # not a multiple of the chunk or part size
    expected = hash_of_generated(total, seed=7)

    started = time.perf_counter()
    stored = backend.store.put_stream(
        generated_chunks(total, seed=7), media_type="application/zip", expected_sha256=expected
    )
    put_seconds = time.perf_counter() - started

    digest, size = hashlib.sha256(), 0
    started = time.perf_counter()
    for chunk in backend.store.iter_chunks(expected):
        digest.update(chunk)
        size += len(chunk)
    read_seconds = time.perf_counter() - started

    assert (stored.sha256, stored.size) == (expected, total)
    assert (digest.hexdigest(), size) == (expected, total)
    assert backend.leftovers() == []
    put_rate, read_rate = total / 1e6 / put_seconds, total / 1e6 / read_seconds
    request.node.user_properties += [("put_MB_per_s", put_rate), ("read_MB_per_s", read_rate)]
    print(f"\n50 MB: put {put_rate:.0f} MB/s, read {read_rate:.0f} MB/s")


def test_an_empty_stream_is_stored_like_any_other(backend: Backend) -> None:
    empty = sha256_of(b"")

    stored = backend.store.put_stream(iter(()), media_type="text/plain")

    assert (stored.sha256, stored.size) == (empty, 0)
    assert backend.store.read_bytes(empty) == b""
    assert list(backend.store.iter_chunks(empty)) == []
    assert backend.store.put_bytes(b"", media_type="text/plain") == stored


def test_a_stream_that_breaks_midway_stores_nothing_and_surfaces_the_callers_error(
    backend: Backend,
) -> None:
    class UploadInterrupted(Exception):
        pass

    def broken() -> Iterator[bytes]:
        yield b"x" * MiB
        raise UploadInterrupted("client went away")

    with pytest.raises(UploadInterrupted):
        backend.store.put_stream(broken(), media_type=PDF)

    assert backend.committed_keys() == []
    assert backend.leftovers() == []


def test_bytes_corrupted_at_rest_are_detected_when_read(backend: Backend) -> None:
    stored = backend.store.put_bytes(b"original certificate bytes", media_type=PDF)
    backend.corrupt(stored.sha256)

    with pytest.raises(MaterialIntegrityError, match="corrupt"):
        backend.store.read_bytes(stored.sha256)
    # Unchecked, for a sender whose receiver hashes what it takes: plain bytes are served as
    # they now are (never as the original); sealed ones still fail to authenticate.
    try:
        unchecked: bytes | None = backend.store.read_bytes(stored.sha256, verify=False)
    except MaterialIntegrityError:
        unchecked = None
    assert unchecked != b"original certificate bytes"


def test_oversized_metadata_is_refused_by_every_backend(backend: Backend) -> None:
    with pytest.raises(InvalidRequest, match="metadata"):
        backend.store.put_bytes(b"x", media_type=PDF, metadata={"note": "很长" * 400})
    assert backend.committed_keys() == []


def test_a_malformed_sha256_is_an_invalid_request(backend: Backend) -> None:
    with pytest.raises(InvalidRequest, match="sha256"):
        backend.store.stat("ABC")
    with pytest.raises(InvalidRequest, match="expected_sha256"):
        backend.store.put_stream([b"x"], media_type=PDF, expected_sha256="A" * 64)


# --- confidentiality at rest ----------------------------------------------------------------


def test_a_store_operator_without_the_node_key_reads_neither_content_nor_names(sealed_backend: Backend) -> None:
    secret = b"%PDF-1.7 \xe5\xb1\x85\xe6\xb0\x91 ID 340102199001010011 " * 2000
    stored = sealed_backend.store.put_bytes(
        secret, media_type=PDF, metadata={"file_name": "张三身份证.pdf", "case": "340000-20260101-ABCD"}
    )

    seen = sealed_backend.raw(stored.sha256)
    assert b"340102199001010011" not in seen and b"PDF-1.7" not in seen
    for leaked in ("张三身份证", "340000-20260101-ABCD"):
        assert leaked.encode() not in seen and leaked.encode("unicode_escape") not in seen
        assert quote_all(leaked).encode() not in seen
    with pytest.raises(NodeKeyUnavailable, match="without a node key"):
        sealed_backend.reopen(None).read_bytes(stored.sha256)
    with pytest.raises(NodeKeyUnavailable, match="does not hold"):
        sealed_backend.reopen(Sealer(NodeKeyring.open(Path(tempfile.mkdtemp()) / "other.json"))).read_bytes(stored.sha256)
    assert sealed_backend.store.read_bytes(stored.sha256) == secret
    assert dict(sealed_backend.store.stat(stored.sha256).metadata)["file_name"] == "张三身份证.pdf"  # type: ignore[union-attr]


def quote_all(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_the_same_bytes_sealed_twice_are_stored_once_under_their_plaintext_hash(sealed_backend: Backend) -> None:
    data = b"one scanned contract" * 100
    first = sealed_backend.store.put_bytes(data, media_type=PDF)
    second = sealed_backend.store.put_stream([data[:7], data[7:]], media_type=PDF, expected_sha256=sha256_of(data))

    assert first == second and first.key == object_key(sha256_of(data)) and first.size == len(data)
    assert sealed_backend.committed_keys() == [first.key]


def test_rotating_the_node_key_rewraps_data_keys_without_rewriting_the_objects(
    sealed_backend: Backend, tmp_path: Path
) -> None:
    store = sealed_backend.store
    materials = [store.put_bytes(f"material {i}".encode() * 3000, media_type=PDF, metadata={"n": str(i)})
                 for i in range(3)]
    before = {m.sha256: sealed_backend.raw(m.sha256) for m in materials}
    keyring = store._sealer.keyring  # type: ignore[attr-defined]
    old = keyring.current_id

    new = keyring.rotate()
    assert store.rewrap_keys() == 3  # type: ignore[attr-defined]
    assert store.rewrap_keys() == 0  # type: ignore[attr-defined]
    keyring.retire(old)

    reopened = sealed_backend.reopen(Sealer(NodeKeyring.open(tmp_path / "keys" / "node-keys.json")))
    for m in materials:
        after = sealed_backend.raw(m.sha256)
        body = before[m.sha256][: m.size + 16]
        assert after.startswith(body), "the sealed bytes themselves must not change"
        assert reopened.read_bytes(m.sha256) == f"material {m.metadata['n']}".encode() * 3000
        assert new.encode() in after and old.encode() not in after


def test_sealed_metadata_that_would_not_fit_in_s3_headers_is_refused(sealed_backend: Backend) -> None:
    with pytest.raises(InvalidRequest, match="metadata"):
        sealed_backend.store.put_bytes(b"x", media_type=PDF, metadata={"note": "a" * 1500})
    assert sealed_backend.committed_keys() == [] and sealed_backend.leftovers() == []


# --- retention ---------------------------------------------------------------------------------


def test_a_retained_material_cannot_be_deleted_until_its_retention_expires(retaining_backend: Backend) -> None:
    store = retaining_backend.store
    stored = store.put_bytes(b"%PDF- retained decision", media_type=PDF)
    until = datetime.now(timezone.utc) + timedelta(days=365 * 30)
    store.retain(stored.sha256, Retention(mode="COMPLIANCE", until=until))  # type: ignore[attr-defined]

    with pytest.raises(RetentionActive, match="retained \\(COMPLIANCE\\)"):
        store.delete(stored.sha256, bypass_governance=True)  # type: ignore[attr-defined]
    with pytest.raises(RetentionActive, match="shorten"):
        store.retain(stored.sha256, Retention(mode="GOVERNANCE", until=until))  # type: ignore[attr-defined]
    assert store.read_bytes(stored.sha256) == b"%PDF- retained decision"
    later = until + timedelta(days=1)
    assert store.retention(stored.sha256).holds(later) is False  # type: ignore[attr-defined]


def test_governance_retention_yields_only_to_an_explicit_bypass(retaining_backend: Backend) -> None:
    store = retaining_backend.store
    stored = store.put_bytes(b"%PDF- governance", media_type=PDF)
    store.retain(stored.sha256, Retention(mode="GOVERNANCE", until=datetime.now(timezone.utc) + timedelta(days=1)))  # type: ignore[attr-defined]

    with pytest.raises(RetentionActive):
        store.delete(stored.sha256)  # type: ignore[attr-defined]
    assert store.stat(stored.sha256) is not None


def test_a_material_kept_for_its_matter_cannot_be_deleted_before_the_period_ends(retaining_backend: Backend) -> None:
    store = retaining_backend.store
    stored = store.put_bytes(b"%PDF- marriage registration form", media_type=PDF)
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=365 * 100)

    assert store.retain_until(stored.sha256, until=until) is True  # type: ignore[attr-defined]

    kept = store.retention(stored.sha256)  # type: ignore[attr-defined]
    assert kept.until == until and kept.mode == "GOVERNANCE"  # the store's mode: none configured
    with pytest.raises(RetentionActive, match="as its matter requires"):
        store.delete(stored.sha256)  # type: ignore[attr-defined]
    with pytest.raises(RetentionActive):
        store.delete(stored.sha256, now=until - timedelta(days=1))  # type: ignore[attr-defined]
    assert store.read_bytes(stored.sha256) == b"%PDF- marriage registration form"


def test_the_same_bytes_in_a_matter_kept_for_less_time_keep_the_longer_period(retaining_backend: Backend) -> None:
    store = retaining_backend.store
    stored = store.put_bytes(b"%PDF- id card scan", media_type=PDF)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    longer, shorter = now + timedelta(days=365 * 30), now + timedelta(days=365 * 10)

    store.retain_until(stored.sha256, until=longer)  # type: ignore[attr-defined]
    store.retain_until(stored.sha256, until=shorter)  # type: ignore[attr-defined]

    assert store.retention(stored.sha256).until == longer  # type: ignore[attr-defined]


def test_a_local_material_can_be_deleted_once_its_matters_period_is_over(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "objects")
    stored = store.put_bytes(b"%PDF- query printout", media_type=PDF)
    until = datetime.now(timezone.utc) + timedelta(days=365 * 10)
    store.retain_until(stored.sha256, until=until)

    store.delete(stored.sha256, now=until + timedelta(seconds=1))

    assert store.stat(stored.sha256) is None


@pytest.mark.s3
def test_an_s3_bucket_without_object_lock_says_it_cannot_retain(s3_server: S3Server) -> None:  # noqa: F811
    backend = s3_backend(s3_server, f"tongban-unlocked-{uuid.uuid4().hex[:12]}")
    stored = backend.store.put_bytes(b"%PDF- unlocked", media_type=PDF)

    assert backend.store.retain_until(stored.sha256, until=datetime.now(timezone.utc) + timedelta(days=1)) is False  # type: ignore[attr-defined]


@pytest.mark.s3
def test_the_s3_server_itself_refuses_to_delete_a_retained_version(
    s3_server: S3Server, tmp_path: Path  # noqa: F811
) -> None:
    from minio import Minio
    from minio.error import S3Error

    bucket = f"tongban-locked-{uuid.uuid4().hex[:12]}"
    backend = s3_backend(s3_server, bucket, object_lock=True)
    stored = backend.store.put_bytes(b"%PDF- sealed result", media_type=PDF)
    backend.store.retain(stored.sha256, Retention(mode="GOVERNANCE", until=datetime.now(timezone.utc) + timedelta(days=1)))  # type: ignore[attr-defined]
    client = Minio(s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key,
                   secure=False, region=s3_server.region)

    versions = [v for v in client.list_objects(bucket, prefix=stored.key, include_version=True)]
    assert len(versions) == 1
    with pytest.raises(S3Error) as refused:
        client.remove_object(bucket, stored.key, version_id=versions[0].version_id)
    assert refused.value.code == "AccessDenied"
    assert backend.store.read_bytes(stored.sha256) == b"%PDF- sealed result"


def test_a_material_without_retention_can_be_deleted(retaining_backend: Backend) -> None:
    store = retaining_backend.store
    stored = store.put_bytes(b"%PDF- scratch", media_type=PDF)
    store.delete(stored.sha256)  # type: ignore[attr-defined]
    assert store.stat(stored.sha256) is None


# --- keys, settings and failure messages -----------------------------------------------------


def test_object_keys_fan_out_by_the_first_two_hex_characters() -> None:
    digest = "ab" + "0" * 62
    assert object_key(digest) == f"sha256/ab/{digest}"
    for bad in ["", "ab", "AB" + "0" * 62, "g" * 64, "0" * 65, "../" + "0" * 61]:
        with pytest.raises(InvalidRequest) as caught:
            object_key(bad)
        assert caught.value.field == "sha256"


def test_settings_that_lack_what_a_backend_needs_are_named() -> None:
    with pytest.raises(InvalidRequest) as caught:
        open_object_store(ObjectStoreSettings(kind="local"))
    assert caught.value.field == "local_root"

    with pytest.raises(InvalidRequest, match="secret_key, bucket") as caught:
        open_object_store(ObjectStoreSettings(kind="s3", endpoint="s3:9000", access_key="k"))
    assert caught.value.field == "secret_key"

    assert "hunter2" not in repr(ObjectStoreSettings(kind="s3", secret_key="hunter2"))


def test_the_factory_opens_a_local_store(tmp_path: Path) -> None:
    store = open_object_store(ObjectStoreSettings(kind="local", local_root=tmp_path))
    assert isinstance(store, LocalFolderStore)
    assert store.read_bytes(store.put_bytes(b"ok", media_type="text/plain").sha256) == b"ok"


@pytest.mark.s3
def test_the_factory_opens_an_s3_store(s3_server: S3Server, s3_bucket: str) -> None:  # noqa: F811
    store = open_object_store(
        ObjectStoreSettings(
            kind="s3",
            endpoint=s3_server.endpoint,
            access_key=s3_server.access_key,
            secret_key=s3_server.secret_key,
            bucket=s3_bucket,
            region=s3_server.region,
        )
    )
    assert store.read_bytes(store.put_bytes(b"ok", media_type="text/plain").sha256) == b"ok"


@pytest.mark.s3
def test_an_unreachable_s3_endpoint_is_reported_with_what_to_check() -> None:
    import urllib3

    from storage.s3 import S3Store

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(ObjectStoreUnavailable) as caught:
        S3Store(
            endpoint=f"127.0.0.1:{port}",
            access_key="k",
            secret_key="s",
            bucket="materials",
            region="us-east-1",
            http_client=urllib3.PoolManager(retries=urllib3.Retry(total=0), timeout=2),
        )
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}" in message and "'materials'" in message
    assert "host and port" in message


@pytest.mark.s3
def test_a_missing_bucket_is_reported_when_not_asked_to_create_it(
    s3_server: S3Server,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> None:
    from storage.s3 import S3Store

    store = S3Store(
        endpoint=s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        bucket=s3_bucket,
        region=s3_server.region,
        create_bucket=False,
    )
    with pytest.raises(ObjectStoreUnavailable, match="create_bucket=True") as caught:
        store.put_bytes(b"x", media_type=PDF)
    assert s3_bucket in str(caught.value)


def test_an_endpoint_with_a_scheme_is_an_invalid_request() -> None:
    from storage.s3 import S3Store

    with pytest.raises(InvalidRequest) as caught:
        S3Store(endpoint="http://minio:9000", access_key="k", secret_key="s", bucket="b")
    assert caught.value.field == "endpoint"


def test_bytes_prepared_in_the_stores_sealed_form_are_committed_without_resealing(sealed_backend: Backend) -> None:
    store = sealed_backend.store
    sealer = store._sealer  # type: ignore[attr-defined]
    data = b"%PDF- a drawing received in a resumable transfer " * 50_000
    segments, envelope = sealer.begin()
    prepared = b"".join(segments.stream([data]))

    stored = store.put_prepared(  # type: ignore[attr-defined]
        [prepared[:1000], prepared[1000:]], sha256=sha256_of(data), size=len(data), media_type=PDF,
        metadata={"file_name": "图纸.pdf"}, envelope=envelope,
    )

    assert (stored.sha256, stored.size, dict(stored.metadata)) == (sha256_of(data), len(data), {"file_name": "图纸.pdf"})
    assert store.read_bytes(stored.sha256) == data
    assert sealed_backend.leftovers() == []
    with pytest.raises(MaterialIntegrityError):
        store.put_prepared([prepared[:-1]], sha256=sha256_of(data + b"x"), size=len(data), media_type=PDF,  # type: ignore[attr-defined]
                           metadata={}, envelope=envelope)
    assert sealed_backend.committed_keys() == [stored.key] and sealed_backend.leftovers() == []


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_store_configured_with_retention_makes_every_material_write_once(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if kind == "local":
        settings = ObjectStoreSettings(kind="local", local_root=tmp_path / "objects", retention_days=3650,
                                       retention_mode="COMPLIANCE", key_file=tmp_path / "keys.json")
    else:
        server = request.getfixturevalue("s3_server")
        settings = ObjectStoreSettings(kind="s3", endpoint=server.endpoint, access_key=server.access_key,
                                       secret_key=server.secret_key, region=server.region,
                                       bucket=f"tongban-locked-{uuid.uuid4().hex[:12]}", object_lock=True,
                                       retention_days=3650, retention_mode="COMPLIANCE", key_file=tmp_path / "keys.json")
    store = open_object_store(settings)
    stored = store.put_bytes(b"%PDF- application form", media_type=PDF)

    retention = store.retention(stored.sha256)  # type: ignore[attr-defined]
    assert retention.mode == "COMPLIANCE" and retention.until > datetime.now(timezone.utc) + timedelta(days=3600)
    with pytest.raises(RetentionActive):
        store.delete(stored.sha256)  # type: ignore[attr-defined]
    assert store.read_bytes(stored.sha256) == b"%PDF- application form"


def test_retention_on_s3_without_object_lock_is_a_named_misconfiguration() -> None:
    with pytest.raises(InvalidRequest) as caught:
        open_object_store(ObjectStoreSettings(kind="s3", endpoint="s3:9000", access_key="k", secret_key="s",
                                              bucket="b", retention_days=30))
    assert caught.value.field == "retention_days"


def test_a_store_retains_for_the_matter_in_the_mode_it_was_configured_with(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "objects", retention_mode="compliance")
    stored = store.put_bytes(b"%PDF- household register", media_type=PDF)
    until = datetime.now(timezone.utc) + timedelta(days=365 * 100)
    store.retain_until(stored.sha256, until=until)

    with pytest.raises(RetentionActive, match="COMPLIANCE"):
        store.delete(stored.sha256, bypass_governance=True)


def test_an_unknown_retention_mode_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="retention_mode"):
        LocalFolderStore(tmp_path / "objects", retention_mode="forever")
