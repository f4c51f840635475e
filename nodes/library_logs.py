"""What the libraries a node uses may log, set alike in the node's process and in its workers."""

from __future__ import annotations

import logging


def quiet_pyhanko_logs() -> None:
    """pyHanko logs a traceback for every document it refuses and warns at every B-LT seal that
    revocation data is never fetched online (by design); the verification report says what
    matters. Called by the command line and by each worker, which is spawned with logging
    unconfigured: its warnings went to stderr through logging's last resort, a line in the
    node's log per seal."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.ERROR)
