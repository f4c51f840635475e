"""Rate limits: token buckets per caller, and where a node's limits are configured."""

from __future__ import annotations

from pathlib import Path

from nodes.config import NodeConfig, to_toml
from nodes.interceptors import TokenBuckets


def test_a_caller_gets_its_burst_then_one_call_per_token_as_they_refill() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    clerk = ("340000", "window", "clerk-1")
    assert [buckets.take(clerk)[0] for _ in range(3)] == [0.0, 0.0, 0.0]
    wait, first = buckets.take(clerk)
    assert wait == 0.5 and first
    assert buckets.take(clerk) == (0.5, False)  # still refused, no longer the first of its run
    now[0] = 0.5
    assert buckets.take(clerk) == (0.0, False)


def test_callers_do_not_share_a_bucket() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=lambda: 0.0)
    assert buckets.take(("330000", "node", "n"))[0] == 0.0
    assert buckets.take(("320000", "node", "n"))[0] == 0.0
    assert buckets.take(("330000", "node", "n"))[0] > 0.0


def test_limits_come_from_the_config_file_and_the_environment(tmp_path: Path) -> None:
    raw = {"province": "340000", "rate_limit_per_second": 5, "rate_limit_burst": 7, "max_concurrent_calls": 9}
    config = NodeConfig.from_mapping(raw, base=tmp_path, env={})
    assert (config.rate_limit_per_second, config.rate_limit_burst, config.max_concurrent_calls) == (5.0, 7, 9)
    config = NodeConfig.from_mapping(raw, base=tmp_path, env={"TONGBAN_RATE_LIMIT_PER_SECOND": "0"})
    assert config.rate_limit_per_second == 0.0  # off
    path = tmp_path / "node.toml"
    path.write_text(to_toml(NodeConfig.from_mapping(raw, base=tmp_path, env={})), encoding="utf-8")
    assert NodeConfig.load(path, env={}).rate_limit_burst == 7
    assert NodeConfig.from_mapping({"province": "340000"}, base=tmp_path, env={}).rate_limit_per_second == 1000.0
