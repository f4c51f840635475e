"""The node's event cipher: AES-256-GCM (the `cryptography` package) behind eventsourcing's
`Cipher` interface, with a keyring so the key can be rotated.

Stored format of an encrypted event state::

    b"\\x00tbe1" | key id (8 ASCII hex) | nonce (12) | ciphertext and GCM tag

The header is the associated data, so a key id cannot be swapped. A JSON state starts with
"{", never with a zero byte, which is how the mapper tells an encrypted state from a clear one.

Rotation makes a new key current for new events. Old events stay encrypted under the key they
were written with: the hash chain covers the stored bytes, so they are never re-encrypted, and
old keys stay in the keyring for reading (see docs/personal-data.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

from storage.sealing import NodeKeyring, NodeKeyUnavailable

MAGIC = b"\x00tbe1"
_KID_LEN = 8
_HEADER = len(MAGIC) + _KID_LEN
KEY_FILE_ENV = "TONGBAN_EVENT_KEY_FILE"


class EventKeyUnavailable(NodeKeyUnavailable):
    """The node's event key file is missing or does not hold the key an event was written with."""


class EventDecryptionFailed(EventKeyUnavailable):
    """An encrypted event does not open with the key its header names: wrong key file or damage."""


class EventKeyring(NodeKeyring):
    """The node keys that encrypt events (and wrap per-case keys): same file format as the
    material keyring, a separate file, since events can never be re-encrypted."""

    def key(self, kid: str) -> bytes:
        found = self._keys.get(kid) or self._reloaded_key(kid)
        if found is None:
            raise EventKeyUnavailable(
                f"an event is encrypted under node event key {kid}, which {self._path} does not hold "
                f"(it holds {', '.join(self.key_ids)}); restore the key file from its backup"
            )
        return found

    def unwrap(self, envelope: str) -> bytes:
        self._reloaded_key(self.key_id_of(envelope))
        return super().unwrap(envelope)

    def _reloaded_key(self, kid: str) -> bytes | None:
        """A key id this process has not seen: `tongban event-keys rotate` ran beside the running
        node and re-wrapped case keys under a new key. Read the file again, once per unknown id."""
        if kid in self._keys:
            return self._keys[kid]
        try:
            fresh = NodeKeyring.open(self._path, create=False)
        except NodeKeyUnavailable:
            return None
        with self._lock:
            self._keys.update(fresh._keys)
            self._current = fresh._current
        return self._keys.get(kid)

    @property
    def path(self) -> Path:
        return self._path

    def current_key(self) -> tuple[str, bytes]:
        kid = self.current_id
        return kid, self._keys[kid]


def open_event_keyring(path: Path | str) -> EventKeyring:
    path = Path(path)
    if not path.exists():
        raise EventKeyUnavailable(
            f"no node event key file at {path}; the event store is encrypted with it. Restore it from the "
            "key backup (a new key cannot read what the old one wrote)"
        )
    ring = EventKeyring.open(path, create=False)
    assert isinstance(ring, EventKeyring)
    return ring


def is_encrypted(state: bytes) -> bool:
    return state[: len(MAGIC)] == MAGIC


class EventCipher(Cipher):
    """eventsourcing's cipher interface over the node's event keyring (TONGBAN_EVENT_KEY_FILE)."""

    def __init__(self, environment: Environment) -> None:
        path = environment.get(KEY_FILE_ENV)
        if not path:
            raise EventKeyUnavailable(f"{KEY_FILE_ENV} is not set; say where the node's event key file is")
        self.env = environment
        self.keyring = open_event_keyring(path)

    def encrypt(self, plaintext: bytes) -> bytes:
        kid, key = self.keyring.current_key()
        header = MAGIC + kid.encode("ascii")
        nonce = os.urandom(12)
        return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if not is_encrypted(ciphertext) or len(ciphertext) < _HEADER + 12 + 16:
            raise EventDecryptionFailed("a stored event is not in the node's encrypted format; the log was altered")
        header = ciphertext[:_HEADER]
        kid = header[len(MAGIC):].decode("ascii", errors="replace")
        nonce, body = ciphertext[_HEADER:_HEADER + 12], ciphertext[_HEADER + 12:]
        try:
            return AESGCM(self.keyring.key(kid)).decrypt(nonce, body, header)
        except InvalidTag:
            raise EventDecryptionFailed(
                f"a stored event does not open with node event key {kid} from {self.keyring.path}: the key "
                "file is not the one this store was written with, or the event was altered"
            ) from None
