"""The sender's replayable source: resume later by skipping, earlier by re-sending kept bytes."""

from __future__ import annotations

import pytest

from exchange.errors import PeerUnavailable
from nodes.peers import ReplayableSource

MiB = 1 << 20


def chunks(n: int) -> list[bytes]:
    return [bytes([i]) * MiB for i in range(n)]


def test_a_resume_past_what_was_read_skips_to_the_confirmed_offset() -> None:
    source = ReplayableSource(chunks(6))
    source.seek(3 * MiB)
    got = list(source.chunks())
    assert [offset for offset, _ in got] == [3 * MiB, 4 * MiB, 5 * MiB]
    assert got[0][1] == bytes([3]) * MiB


def test_bytes_in_flight_when_a_stream_broke_are_sent_again_from_what_was_kept() -> None:
    source = ReplayableSource(chunks(8), keep=4 * MiB)
    stream = source.chunks()
    for _ in range(5):
        next(stream)  # five sent, then the stream breaks
    source.seek(3 * MiB)  # the receiver confirmed three
    got = list(source.chunks())
    assert [offset // MiB for offset, _ in got] == [3, 4, 5, 6, 7]
    assert [data[0] for _, data in got] == [3, 4, 5, 6, 7]


def test_a_resume_older_than_what_was_kept_asks_for_a_fresh_start() -> None:
    source = ReplayableSource(chunks(10), keep=2 * MiB)
    stream = source.chunks()
    for _ in range(8):
        next(stream)
    with pytest.raises(PeerUnavailable, match="restart"):
        source.seek(MiB)


def test_partial_uploads_abandoned_for_a_week_are_swept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timedelta, timezone

    from storage.local import LocalFolderStore
    from storage.transfers import PartialUploads

    uploads = PartialUploads(tmp_path / "transfers", store=LocalFolderStore(tmp_path / "objects"))
    upload = uploads.open(case_number="340000-20260101-AAAA", sha256="a" * 64,
                          declared={"size": 3 * MiB, "media_type": "application/pdf"})
    upload.append(b"%PDF-" + bytes(MiB))
    upload.close()
    assert uploads.confirmed_offset(case_number="340000-20260101-AAAA", sha256="a" * 64) == MiB

    assert uploads.sweep(older_than=timedelta(days=7)) == 0
    assert uploads.sweep(older_than=timedelta(days=7), now=datetime.now(timezone.utc) + timedelta(days=8)) == 1
    assert list((tmp_path / "transfers").glob("340000-20260101-AAAA.*")) == []
