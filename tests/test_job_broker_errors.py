"""A scheduled job that meets a broker that does not answer: one line, no incident of its own,
and the next run tries again (the broker check owns the `broker` incident)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.account import watched_parts
from ops.shared.results import Level
from ops.watch.monitor import Monitor
from ops.watch.scheduler import guarded
from tests.test_alpaca import start_live, stop_live


@pytest.mark.parametrize("status", [429, 500])
async def test_a_broker_error_in_the_market_clock_job_is_one_line_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    """GET /v2/clock answered 429 or 500 through the real alpaca-py client: the every-minute
    market-clock job logs one line without a traceback and opens no `error:` incident; its
    next run reads the clock."""
    caplog.set_level(logging.INFO)
    live = await start_live(tmp_path)
    try:
        job = guarded(
            live.service.report_error,
            "market-clock",
            Monitor(watched_parts(live.service)).market_clock,
        )
        live.alpaca.fail_next("GET", "/v2/clock", status)
        await job()
        assert [k for k in live.service.open_alerts if k.startswith("error:")] == []
        said = [r for r in caplog.records if "market-clock" in r.getMessage()]
        assert len(said) == 1 and str(status) in said[0].getMessage()
        assert not any(record.exc_info for record in caplog.records)
        assert "clock-skew" not in live.service.checks
        await job()
        assert live.service.checks["clock-skew"].level is Level.OK
    finally:
        await stop_live(live)
