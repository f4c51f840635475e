"""The command-line progress bar says how far, how fast and how long still to go."""

from __future__ import annotations

import io

from nodes.progress import ProgressBar


def test_the_bar_shows_the_share_done_the_rate_and_the_time_left() -> None:
    bar = ProgressBar("transfer 图纸.pdf to 330000", out=io.StringIO(), width=10)
    bar.started = 100.0
    bar.first_done = 0

    line = bar.line(250_000_000, 1_000_000_000, now=110.0)

    assert line.startswith("transfer 图纸.pdf to 330000 [##--------]  25.0% 250.0 MB/1.0 GB")
    assert "25.0 MB/s" in line and line.endswith("ETA 00:30")


def test_a_resumed_transfer_counts_only_the_bytes_sent_since_it_resumed() -> None:
    out = io.StringIO()
    bar = ProgressBar("transfer", out=out, width=10)
    bar.update(600_000_000, 1_000_000_000)  # the receiver already held 600 MB
    bar.started -= 10

    line = bar.line(800_000_000, 1_000_000_000, now=bar.started + 10)

    assert "20.0 MB/s" in line and line.endswith("ETA 00:10")
    assert bar.first_done == 600_000_000 and out.getvalue().startswith("\r")


def test_a_transfer_with_nothing_sent_yet_has_no_eta() -> None:
    bar = ProgressBar("upload", out=io.StringIO())
    bar.first_done = 0
    assert bar.line(0, 10, now=bar.started + 1).endswith("ETA --:--")


def test_an_eta_of_more_than_an_hour_shows_hours() -> None:
    bar = ProgressBar("transfer", out=io.StringIO())
    bar.first_done = 0
    bar.started = 8191.668943333  # a monotonic clock reading for which (started + 1) - started < 1 (seen in CI)
    assert bar.line(1_000_000, 10_000_000_000, now=bar.started + 1).endswith("ETA 2:46:39")
