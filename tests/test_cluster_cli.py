"""`tradebot cluster`: which roles it starts, with which partitions and journals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cluster_cli import roles, split
from tests.support import REPO, free_port, write_config


def test_workers_share_every_partition_once() -> None:
    """Contiguous ranges that cover 0..partitions-1 with no gap and no overlap."""
    for partitions in (1, 2, 7, 16, 100):
        for workers in (1, 2, 3, 5):
            ranges = split(partitions, workers)
            covered = [p for first, last in ranges for p in range(first, last + 1)]
            assert covered == list(range(partitions))
    assert split(16, 2) == [(0, 7), (8, 15)]
    assert split(1, 4) == [(0, 0)]  # never an empty range


def test_each_account_gets_an_order_manager_first() -> None:
    """One order manager per account, started first (each picks its account's own journal,
    see test_cluster_oms), the ingestor last, and the gateway only with both Slack tokens."""
    plan = roles(["MR", "Trend"], ["a", "b"], 16, 2, ("--config", "c.yaml"), ("--speed", "0"), {})
    names = [r.name for r in plan]
    assert names == [
        "oms.a",
        "oms.b",
        "worker.MR.p00-07",
        "worker.MR.p08-15",
        "worker.Trend.p00-07",
        "worker.Trend.p08-15",
        "ingest",
    ]
    assert "TRADEBOT_DB" not in plan[0].env and "TRADEBOT_DB" not in plan[1].env
    assert plan[-1].argv == ("ingest", "--config", "c.yaml", "--speed", "0")
    single = roles(["MR"], ["a"], 4, 2, (), (), {"SLACK_BOT_TOKEN": "x", "SLACK_APP_TOKEN": "y"})
    assert [r.name for r in single][-2:] == ["gateway", "ingest"]


@pytest.mark.parametrize(
    "role",
    [
        ("oms", "--account", "main"),
        ("worker", "--strategy", "MeanReversionV1"),
        ("ingest",),
        ("gateway",),
    ],
)
def test_a_role_that_cannot_reach_nats_says_so_and_exits_2(
    tmp_path: Path, role: tuple[str, ...]
) -> None:
    """No traceback: one line naming the URL, exit 2, for every role."""
    url = f"nats://127.0.0.1:{free_port()}"
    config = write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TRADEBOT_"))}
    env.update(TRADEBOT_NATS_URL=url, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    done = subprocess.run(
        [sys.executable, "-m", "bot", *role, "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot reach NATS at {url}" in done.stderr
    assert "Traceback" not in done.stderr
