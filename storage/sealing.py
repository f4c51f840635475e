"""Confidentiality at rest: materials are encrypted before they reach any object store.

Scheme (one object):
  * a fresh random 256-bit data key per object, used for nothing else;
  * the plaintext is cut into 1 MiB segments, each sealed with AES-256-GCM under the data key.
    The 12-byte nonce is 7 zero bytes, the segment index (4 bytes, big-endian) and a final flag
    (1 for the last segment, else 0). Reordered segments fail (wrong index), a truncated object
    fails (its new last segment was sealed with flag 0), an extended one fails (data after the
    flagged segment). The data key is unique, so nonces never repeat under one key;
  * the data key is wrapped (AES-256-GCM, random nonce, the key id as associated data) by the
    node key and stored beside the object as its "envelope": `v1:<key id>:<base64 wrapped>`;
  * the user metadata (file name, case number, kind) is sealed with the data key too, under one
    fixed nonce: each data key seals one metadata plaintext only (a partial upload's commit may
    repeat it, always with the same fields);
  * a partial upload's declaration (storage.transfers) is sealed under a key derived from the
    data key for that use alone, with a random nonce kept in front of it. Sealing it under the
    data key would put a second plaintext under the metadata nonce once the upload is committed.

Rotation makes a new node key current and re-wraps every envelope: the object bytes are never
read or uploaded again. Old keys stay in the keyring until `retire` removes them (after a
re-wrap, nothing needs them).

What a store operator without the node key still sees, by design: the SHA-256 of the plaintext
(it is the object key, so content addressing and dedupe keep working; it lets someone who
already holds a file confirm that the store holds it too), the plaintext size to within
16 bytes per MiB, the media type, the time of upload and which node key wraps the data key.
File names, case numbers and content are not readable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exchange.errors import InvalidRequest, MaterialIntegrityError, TongbanError
from storage.streams import take_front

SEGMENT = 1 << 20  # plaintext bytes per sealed segment
TAG = 16
SEALED_SEGMENT = SEGMENT + TAG
_ENVELOPE_VERSION = "v1"
SEGMENT_AAD = b"tongban/segment/v1"
_METADATA_NONCE = b"\xff" * 11 + b"\x02"  # never a segment nonce (their last byte is 0 or 1)
_METADATA_AAD = b"tongban/metadata/v1"
# What the declaration key is derived for: no other key is derived from a data key with it.
_DECLARATION_KEY_INFO = b"tongban/partial-upload-declaration/v1"
_DECLARATION_AAD = b"tongban/declaration/v1"
_NONCE = 12


class NodeKeyUnavailable(TongbanError):
    """An object was sealed under a node key this node does not hold."""


def segment_nonce(index: int, *, final: bool) -> bytes:
    return b"\x00" * 7 + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


class NodeKeyring:
    """The node keys that wrap data keys, kept in one JSON file readable by the node only.

    File format: {"current": "<key id>", "keys": {"<key id>": "<base64 32 bytes>"}}.
    """

    def __init__(self, path: Path, keys: dict[str, bytes], current: str) -> None:
        self._path = Path(path)
        self._keys = dict(keys)
        self._current = current
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> NodeKeyring:
        path = Path(path)
        if not path.exists():
            if not create:
                raise NodeKeyUnavailable(f"no node key file at {path}; restore it from the key backup")
            kid = secrets.token_hex(4)
            ring = cls(path, {kid: AESGCM.generate_key(bit_length=256)}, kid)
            ring._save()
            return ring
        try:
            raw = json.loads(path.read_text(encoding="ascii"))
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in raw["keys"].items()}
            current = str(raw["current"])
        except (ValueError, KeyError, TypeError) as exc:
            raise NodeKeyUnavailable(f"the node key file {path} is unreadable ({exc}); restore it from the key backup") from exc
        if current not in keys or any(len(k) != 32 for k in keys.values()):
            raise NodeKeyUnavailable(f"the node key file {path} is inconsistent; restore it from the key backup")
        return cls(path, keys, current)

    @property
    def current_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def rotate(self) -> str:
        """Make a new key current (persisted before it is used); return its id."""
        with self._lock:
            kid = secrets.token_hex(4)
            self._keys[kid] = AESGCM.generate_key(bit_length=256)
            self._current = kid
            self._save()
            return kid

    def retire(self, kid: str) -> None:
        with self._lock:
            if kid == self._current:
                raise InvalidRequest("key_id", "the current node key cannot be retired; rotate first")
            self._keys.pop(kid, None)
            self._save()

    def wrap(self, data_key: bytes) -> str:
        kid = self._current
        nonce = os.urandom(12)
        wrapped = AESGCM(self._keys[kid]).encrypt(nonce, data_key, _wrap_aad(kid))
        return f"{_ENVELOPE_VERSION}:{kid}:{base64.b64encode(nonce + wrapped).decode('ascii')}"

    def unwrap(self, envelope: str) -> bytes:
        try:
            version, kid, blob = envelope.split(":", 2)
            raw = base64.b64decode(blob, validate=True)
        except (ValueError, AttributeError) as exc:
            raise MaterialIntegrityError(f"the key envelope {envelope!r} is malformed; the object is unusable") from exc
        if version != _ENVELOPE_VERSION:
            raise MaterialIntegrityError(f"unknown key envelope version {version!r}")
        key = self._keys.get(kid)
        if key is None:
            raise NodeKeyUnavailable(
                f"the object is sealed under node key {kid}, which this node does not hold "
                f"(it holds {', '.join(self.key_ids)}); restore the key file from its backup"
            )
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], _wrap_aad(kid))
        except InvalidTag:
            raise MaterialIntegrityError("the wrapped data key does not open with the node key; the envelope was altered") from None

    def key_id_of(self, envelope: str) -> str:
        return envelope.split(":", 2)[1]

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {"current": self._current, "keys": {k: base64.b64encode(v).decode() for k, v in self._keys.items()}},
            indent=1,
        ).encode("ascii")
        fd, temp = tempfile.mkstemp(dir=self._path.parent, prefix=".keys-", suffix=".part")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self._path)
        finally:
            Path(temp).unlink(missing_ok=True)


def _wrap_aad(kid: str) -> bytes:
    return b"tongban/data-key/v1/" + kid.encode("ascii")


def _metadata_text(metadata: dict[str, str]) -> bytes:
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class Sealer:
    """Seals objects for a store and opens them again; the store keeps the envelope beside
    each object as an opaque string."""

    def __init__(self, keyring: NodeKeyring) -> None:
        self.keyring = keyring

    def begin(self) -> tuple[SegmentSealer, str]:
        data_key = AESGCM.generate_key(bit_length=256)
        return SegmentSealer(data_key), self.keyring.wrap(data_key)

    def open_stream(self, envelope: str, sealed: Iterable[bytes], *, where: str) -> Iterator[bytes]:
        return open_segments(self.keyring.unwrap(envelope), sealed, where=where)

    def seal_metadata(self, envelope: str, metadata: dict[str, str]) -> str:
        """The object's user metadata, sealed under its data key with the fixed metadata nonce
        (the format every stored object's sidecar or S3 header already has)."""
        if not metadata:
            return ""
        sealed = AESGCM(self.keyring.unwrap(envelope)).encrypt(_METADATA_NONCE, _metadata_text(metadata), _METADATA_AAD)
        return base64.b64encode(sealed).decode("ascii")

    def open_metadata(self, envelope: str, sealed: str) -> dict[str, str]:
        if not sealed:
            return {}
        try:
            text = AESGCM(self.keyring.unwrap(envelope)).decrypt(
                _METADATA_NONCE, base64.b64decode(sealed, validate=True), _METADATA_AAD
            )
        except (InvalidTag, ValueError):
            raise MaterialIntegrityError("the sealed metadata does not open with its data key; it was altered") from None
        return {str(k): str(v) for k, v in json.loads(text).items()}

    def seal_declaration(self, envelope: str, declared: dict[str, str]) -> str:
        """What a sender declared for a partial upload, for its header: `base64(nonce + sealed)`.

        Not under the data key itself: when the upload is committed, its user metadata is
        sealed under that key with the fixed metadata nonce, and two plaintexts under one key
        and nonce give away their XOR and the key's GHASH subkey. The derived key seals
        nothing else, and the random nonce keeps even a re-sealed declaration safe."""
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._declaration_key(envelope)).encrypt(nonce, _metadata_text(declared), _DECLARATION_AAD)
        return base64.b64encode(nonce + sealed).decode("ascii")

    def open_declaration(self, envelope: str, sealed: str) -> dict[str, str]:
        try:
            raw = base64.b64decode(sealed, validate=True)
            text = AESGCM(self._declaration_key(envelope)).decrypt(raw[:_NONCE], raw[_NONCE:], _DECLARATION_AAD)
        except (InvalidTag, ValueError):
            raise MaterialIntegrityError("the sealed declaration does not open with its data key; it was altered") from None
        return {str(k): str(v) for k, v in json.loads(text).items()}

    def _declaration_key(self, envelope: str) -> bytes:
        data_key = self.keyring.unwrap(envelope)
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DECLARATION_KEY_INFO).derive(data_key)

    def rewrap(self, envelope: str) -> str | None:
        """The envelope re-wrapped under the current node key, or None if it already is."""
        if self.keyring.key_id_of(envelope) == self.keyring.current_id:
            return None
        return self.keyring.wrap(self.keyring.unwrap(envelope))

    def sealed_size(self, plain_size: int) -> int:
        segments = max(1, -(-plain_size // SEGMENT))
        return plain_size + segments * TAG


class SegmentSealer:
    """Incremental encryption: feed plaintext of any chunk size, get sealed segments back.
    Holds at most one segment plus one input chunk in memory. A whole segment that arrives as
    (part of) a `bytes` chunk is sealed from that chunk, uncopied: on a node every uploaded
    megabyte passed through two extra copies here (docs/performance-history.md)."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(data_key)
        # A whole segment, sealed only once more data is known to follow (the last one gets
        # the final flag): a view into an immutable chunk, or a filled buffer.
        self._held: memoryview | bytearray | None = None
        self._buffer = bytearray()  # a segment being put together from pieces
        self._index = 0

    def update(self, chunk: bytes) -> bytes:
        out = []
        view = memoryview(chunk)
        if not isinstance(chunk, bytes):  # a view may only be kept into bytes: a caller may reuse a buffer
            view = memoryview(bytes(view))
        at = 0
        while at < len(view):
            if self._held is not None:
                out.append(self._seal(self._held, final=False))
                self._held = None
            if not self._buffer and len(view) - at >= SEGMENT:
                self._held = view[at:at + SEGMENT]
                at += SEGMENT
                continue
            take = min(SEGMENT - len(self._buffer), len(view) - at)
            self._buffer += view[at:at + take]
            at += take
            if len(self._buffer) == SEGMENT:
                self._held, self._buffer = self._buffer, bytearray()
        return b"".join(out)  # one segment is returned as it is, uncopied

    def finish(self) -> bytes:
        last, self._held = (self._held if self._held is not None else self._buffer), None
        sealed = self._seal(last, final=True)
        self._buffer = bytearray()
        return sealed

    def stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            sealed = self.update(chunk)
            if sealed:
                yield sealed
        yield self.finish()

    def _seal(self, plain: bytes | bytearray | memoryview, *, final: bool) -> bytes:
        sealed = self._aead.encrypt(segment_nonce(self._index, final=final), plain, SEGMENT_AAD)
        self._index += 1
        return sealed


def open_segments(data_key: bytes, sealed: Iterable[bytes], *, where: str) -> Iterator[bytes]:
    """Decrypt a sealed stream, refusing any altered, reordered, truncated or extended one."""
    aead = AESGCM(data_key)
    buffer = bytearray()
    index = 0

    def open_one(record: bytes, final: bool) -> bytes:
        try:
            return aead.decrypt(segment_nonce(index, final=final), record, SEGMENT_AAD)
        except InvalidTag:
            raise MaterialIntegrityError(
                f"sealed segment {index} of a stored material in {where} does not authenticate: "
                "the copy is corrupt, truncated or reordered — restore it from a replica or ask "
                "the sender to resend"
            ) from None

    def whole_records() -> Iterator[bytes]:
        """Whole sealed records, uncopied when the chunks already are records; a short
        remainder (the last record) stays in `buffer`."""
        for chunk in sealed:
            if not buffer and len(chunk) == SEALED_SEGMENT:
                yield chunk
                continue
            buffer.extend(chunk)
            while len(buffer) >= SEALED_SEGMENT:
                yield take_front(buffer, SEALED_SEGMENT)

    held: bytes | None = None  # a whole record: opened once it is known not to be the last
    for record in whole_records():
        if held is not None:
            yield open_one(held, False)
            index += 1
        held = record
    if buffer and held is not None:
        yield open_one(held, False)
        index += 1
        held = None
    last = bytes(buffer) if buffer else (held or b"")
    if len(last) < TAG:
        raise MaterialIntegrityError(f"a stored material in {where} is truncated: it is corrupt")
    plain = open_one(last, True)
    if plain:
        yield plain


def rechunk(chunks: Iterable[bytes], chunk_size: int) -> Iterator[bytes]:
    """Cut chunks to at most chunk_size bytes (decrypted segments are 1 MiB)."""
    for chunk in chunks:
        if len(chunk) <= chunk_size:
            yield chunk
            continue
        view = memoryview(chunk)
        for start in range(0, len(chunk), chunk_size):
            yield bytes(view[start:start + chunk_size])
