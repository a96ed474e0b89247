"""`tradebot cluster`: which roles it starts, with which partitions and journals."""

from __future__ import annotations

from bot.cluster_cli import roles, split


def test_workers_share_every_partition_once() -> None:
    """Contiguous ranges that cover 0..partitions-1 with no gap and no overlap."""
    for partitions in (1, 2, 7, 16, 100):
        for workers in (1, 2, 3, 5):
            ranges = split(partitions, workers)
            covered = [p for first, last in ranges for p in range(first, last + 1)]
            assert covered == list(range(partitions))
    assert split(16, 2) == [(0, 7), (8, 15)]
    assert split(1, 4) == [(0, 0)]  # never an empty range


def test_each_account_gets_an_order_manager_and_its_own_journal() -> None:
    """With several accounts no two order managers share a journal; order managers start
    first, the ingestor last, and the gateway only with both Slack tokens."""
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
    assert plan[0].env["TRADEBOT_DB"] == "data/tradebot-a.db"
    assert plan[1].env["TRADEBOT_DB"] == "data/tradebot-b.db"
    assert plan[-1].argv == ("ingest", "--config", "c.yaml", "--speed", "0")
    single = roles(["MR"], ["a"], 4, 2, (), (), {"SLACK_BOT_TOKEN": "x", "SLACK_APP_TOKEN": "y"})
    assert "TRADEBOT_DB" not in single[0].env
    assert [r.name for r in single][-2:] == ["gateway", "ingest"]
