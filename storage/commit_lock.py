"""One writer at a time per object name of a local folder store, across threads and processes.

A sealed object and its sidecar belong together: each writer seals the bytes under its own data
key and puts that key's envelope in the sidecar. Two writers of the same bytes racing through
"sidecar, then object" could leave one's sidecar beside the other's object, and then nobody can
open the material (seen: 14 of 20 triple puts of one scan with a slow disk). Retention is a
read-then-write too, and two extensions racing could shorten it.

The lock is striped by the first byte of the SHA-256 (256 stripes): a thread lock per stripe
within the process, and a POSIX record lock on that byte of one lock file across processes
(the node, and a `tongban` command run beside it). Reentrant within a thread, so a commit can
apply the default retention under the same hold.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STRIPES = 256
LOCK_FILE = ".commit.lock"

_registry: dict[str, CommitLock] = {}
_registry_guard = threading.Lock()


class CommitLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._threads = [threading.RLock() for _ in range(STRIPES)]
        self._depth = [0] * STRIPES  # changed only by the thread holding the stripe's RLock

    @contextmanager
    def holding(self, sha256: str) -> Iterator[None]:
        stripe = int(sha256[:2], 16)
        with self._threads[stripe]:
            if self._depth[stripe] == 0:
                fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, stripe)
            self._depth[stripe] += 1
            try:
                yield
            finally:
                self._depth[stripe] -= 1
                if self._depth[stripe] == 0:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, stripe)


def commit_lock(root: Path) -> CommitLock:
    """The lock of the store at `root`, shared by every store object of this process that
    opens the same folder: POSIX record locks belong to the process, so only one shared thread
    lock per stripe keeps two such objects apart. The lock file is opened once per folder and
    stays open for the process's life: closing any descriptor of it would drop the process's
    record locks on it."""
    key = os.path.realpath(root)
    with _registry_guard:
        found = _registry.get(key)
        if found is None:
            fd = os.open(os.path.join(key, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            _registry[key] = found = CommitLock(fd)
        return found
