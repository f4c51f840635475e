"""Keeping materials out of the page cache.

A material is written once, read back once or twice (the forward to the competent node, an
officer's look) and then kept for years. Left in the page cache after its fsync, every
material a node receives grows the cache until memory is full: on a virtual machine whose
memory the host backs only at first touch, each such page costs a host fault, about 7 ms of
kernel time per 3 MB material instead of under 1 ms for a page the cache gave back a moment
ago (docs/performance.md); on any machine it pushes the node's own working set and
PostgreSQL's out. Object servers do the same for large objects (MinIO writes them with
O_DIRECT).
"""

from __future__ import annotations

import os

_DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", None)


def forget_cached(fd: int) -> None:
    """Drop the file's clean pages from the page cache; call it after an fsync (dirty pages
    stay until written back) or once the file has been read. A hint: where the platform has
    no posix_fadvise, or the file cannot take it, nothing happens."""
    if _DONTNEED is None:
        return
    try:
        os.posix_fadvise(fd, 0, 0, _DONTNEED)
    except OSError:
        pass
