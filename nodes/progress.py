"""A one-line progress bar with rate and ETA for the command line (stderr, redrawn in place)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class ProgressBar:
    """Call update(done, total) as bytes go; finish() prints the final line. Redraws at most
    ten times a second so that a fast transfer is not slowed by the terminal."""

    def __init__(self, label: str, *, out: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.out = out or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.first_done: int | None = None  # a resumed transfer's rate counts only new bytes
        self._drawn_at = 0.0
        self._last = (0, 0)

    def update(self, done: int, total: int) -> None:
        if self.first_done is None:
            self.first_done = done
        self._last = (done, total)
        now = time.monotonic()
        if now - self._drawn_at >= 0.1 or done >= total:
            self._drawn_at = now
            self.out.write("\r" + self.line(done, total, now))
            self.out.flush()

    def line(self, done: int, total: int, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        rate = (done - (self.first_done or 0)) / elapsed
        fraction = done / total if total else 1.0
        filled = int(self.width * fraction)
        eta = (total - done) / rate if rate > 0 else float("inf")
        # Rounded: cut to whole seconds, 9 999 s read 2:46:38 when now - started fell a hair short.
        eta_text = "--:--" if eta == float("inf") else _clock(round(eta))
        bar = "#" * filled + "-" * (self.width - filled)
        return (
            f"{self.label} [{bar}] {fraction * 100:5.1f}% {human_bytes(done)}/{human_bytes(total)} "
            f"{human_bytes(rate)}/s ETA {eta_text}"
        )

    def finish(self) -> None:
        done, total = self._last
        self.out.write("\r" + self.line(done, total, time.monotonic()) + "\n")
        self.out.flush()


def _clock(seconds: int) -> str:
    """mm:ss, or h:mm:ss from an hour on (a 2 GB drawing over a slow link)."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
