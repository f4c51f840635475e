"""Asking how much of a material a node holds never changes what it holds, even while a
stream is writing it."""

from __future__ import annotations

import os
from pathlib import Path

from storage.local import LocalFolderStore
from storage.sealing import SEALED_SEGMENT, SEGMENT, NodeKeyring, Sealer
from storage.transfers import PartialUploads

SHA = "ab" * 32


def test_the_confirmed_offset_counts_whole_segments_and_leaves_a_half_written_one_alone(tmp_path: Path) -> None:
    sealer = Sealer(NodeKeyring.open(tmp_path / "keys.json"))
    uploads = PartialUploads(tmp_path / "transfers", store=LocalFolderStore(tmp_path / "objects"), sealer=sealer)
    upload = uploads.open(case_number="340000-20260101-A1", sha256=SHA,
                          declared={"size": 4 * SEGMENT, "media_type": "application/pdf"})
    upload.append(b"%PDF-" + os.urandom(2 * SEGMENT - 5))
    upload._out.write(os.urandom(1000))  # the stream is halfway through writing its third segment
    upload._out.flush()
    data = upload.data_path

    assert uploads.confirmed_offset(case_number="340000-20260101-A1", sha256=SHA) == 2 * SEGMENT
    assert data.stat().st_size == 2 * SEALED_SEGMENT + 1000, "a reader must not cut the writer's file"

    upload.close()
    resumed = uploads.open(case_number="340000-20260101-A1", sha256=SHA,
                           declared={"size": 4 * SEGMENT, "media_type": "application/pdf"})
    assert resumed.confirmed == 2 * SEGMENT and data.stat().st_size == 2 * SEALED_SEGMENT  # the holder repairs
    resumed.close()
