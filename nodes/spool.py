"""The print spool: a folder a window's printer (or print service) takes jobs from."""

from __future__ import annotations

import os
from pathlib import Path


class FolderSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def submit(self, *, case_number: str, pdf: bytes, copies: int) -> str:
        n = 1
        while (self.directory / f"{case_number}-{n}.pdf").exists():
            n += 1
        final = self.directory / f"{case_number}-{n}.pdf"
        tmp = final.with_suffix(".part")
        tmp.write_bytes(pdf)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(final)  # the printer never sees half a job
        return str(final)
