"""The print spool: a folder a window's printer (or print service) takes `*.pdf` jobs from.

A job is prepared first (`<case>-<n>.part`, which the printer ignores), the print is recorded,
and only then is the job released (renamed to `<case>-<n>.pdf`). So no paper leaves without its
record: a print whose record cannot be saved is discarded, and a job a stopped run prepared is
settled at the next start — released if its print was recorded, dropped if not
(exchange.window.WindowDesk.settle_print_jobs)."""

from __future__ import annotations

import os
from pathlib import Path

from storage.local import fsync_directory

_PREPARED, _RELEASED = ".part", ".pdf"


class FolderSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def prepare(self, *, case_number: str, pdf: bytes, copies: int) -> str:
        n = 1
        while any((self.directory / f"{case_number}-{n}{suffix}").exists() for suffix in (_PREPARED, _RELEASED)):
            n += 1
        job = self.directory / f"{case_number}-{n}{_RELEASED}"
        prepared = job.with_suffix(_PREPARED)
        with prepared.open("wb") as out:
            out.write(pdf)
            out.flush()
            os.fsync(out.fileno())
        fsync_directory(self.directory)  # durable before the print is recorded
        return str(job)

    def release(self, ref: str) -> None:
        job = Path(ref)
        job.with_suffix(_PREPARED).replace(job)  # the printer never sees half a job
        fsync_directory(self.directory)

    def discard(self, ref: str) -> None:
        Path(ref).with_suffix(_PREPARED).unlink(missing_ok=True)

    def prepared(self) -> list[tuple[str, str]]:
        return [(str(p.with_suffix(_RELEASED)), p.stem.rpartition("-")[0])
                for p in sorted(self.directory.glob("*" + _PREPARED))]

