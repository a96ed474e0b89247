"""A `set` previewed by what it would have done: the recent sessions backtested with the old
and the new value, equal to `tradebot backtest` over the same bars, honest about short
history, and never touching the service."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from datetime import datetime
from pathlib import Path

import pytest

from bot.venues import build_alpaca
from ops.backtest import history
from ops.backtest.sessions import RecentSessions
from ops.backtest.setup import article_costs, backtest_setup
from ops.config.settings import ConfigError, load_settings
from ops.control.preview import BacktestPreview, PreviewStopped, backtest_pair
from ops.shared.results import ConfirmRequest
from strategy.market_day import NEW_YORK, trading_date
from strategy.types import Bar, TradingState
from tests.fakes.alpaca import AlpacaFake
from tests.preview_support import SYMBOLS, recorded, session_bars, write_csv
from tests.support import Harness, make_harness, write_config
from tests.test_backtest import backtest_cli
from tests.test_venues import KEYS

SYMBOL_CONFIG = {"strategy.symbols": SYMBOLS}


async def preview_of(h: Harness, text: str) -> tuple[ConfirmRequest, BacktestPreview]:
    request = await h.run(text)
    assert isinstance(request, ConfirmRequest)
    ticket = h.core.previews.take(request.nonce)
    assert ticket is not None
    return request, await asyncio.wait_for(ticket.task, 60)


async def test_the_preview_backtests_the_last_sessions_with_each_value(tmp_path: Path) -> None:
    """Seven sessions recorded, five kept: the last five, old beside new, and the service's
    state, parameters and journal untouched by it."""
    recent = recorded(days=7)
    h = make_harness(tmp_path, history=recent, **SYMBOL_CONFIG)
    request, preview = await preview_of(h, "set entry_z 2.6")
    dates = sorted({trading_date(b.ts) for b in session_bars(7)})
    assert preview.dates == tuple(dates[-5:])
    assert preview.old is not None and preview.new is not None
    assert preview.old.round_trips > preview.new.round_trips > 0
    lines = "\n".join(preview.lines)
    assert f"the last 5 sessions ({dates[-5]} .. {dates[-1]}, New York dates)" in lines
    assert "entry_z 2 now" in lines and "entry_z 2.6" in lines
    for row in ("round trips", "P&L after costs", "max drawdown"):
        assert row in lines
    assert h.service.engine.params.entry_z == 2.0
    assert h.service.gate.state is TradingState.ACTIVE
    assert h.service.journal.query("select * from param_changes") == []
    assert h.core.confirmations.take(request.nonce, "U1") is not None  # still confirmable


async def test_short_history_is_said_and_none_is_no_history_yet(tmp_path: Path) -> None:
    """Two sessions: '2 of 5 sessions available'; a session still open is not one; none
    at all: 'no history yet'."""
    h = make_harness(tmp_path, history=recorded(days=2), **SYMBOL_CONFIG)
    _, preview = await preview_of(h, "set entry_z 2.6")
    assert len(preview.dates) == 2
    assert "2 of 5 sessions available" in preview.lines[0]

    morning = RecentSessions(5)
    for bar in session_bars(1)[: 3 * 120]:  # 09:30-11:30: the session is not over
        morning.observe(bar)
    (tmp_path / "b").mkdir()
    h = make_harness(tmp_path / "b", history=morning, **SYMBOL_CONFIG)
    _, preview = await preview_of(h, "set entry_z 2.6")
    assert preview.lines == (
        "backtest preview: no history yet (no complete session in the bars this service has)",
    )


async def test_the_figures_equal_tradebot_backtest_over_the_same_sessions(
    tmp_path: Path,
) -> None:
    """The preview's sessions written to a CSV and run through `tradebot backtest --data`,
    once with each value: the same round trips, P&L after costs and max drawdown."""
    recent = recorded(days=7)
    h = make_harness(tmp_path, history=recent, **SYMBOL_CONFIG)
    _, preview = await preview_of(h, "set entry_z 2.6")
    used = await recent.last(5)
    data = write_csv(tmp_path / "sessions.csv", used.bars)
    for value, figures in ((2.0, preview.old), (2.6, preview.new)):
        folder = tmp_path / f"z{value}"
        folder.mkdir()
        config = write_config(folder, **SYMBOL_CONFIG, **{"strategy.entry_z_threshold": value})
        done = await asyncio.to_thread(
            backtest_cli, "--data", str(data), "--out", str(folder / "out"), config=config
        )
        assert done.returncode == 0, done.stderr
        (report,) = (folder / "out").glob("*/report.json")
        costed = json.loads(report.read_text())["with_costs"]
        assert figures is not None
        assert figures.round_trips == costed["trades"]
        assert figures.pnl == costed["final_equity"] - 100_000.0
        assert figures.max_drawdown == costed["max_drawdown"]


async def test_alpaca_history_is_fetched_once_for_every_preview(tmp_path: Path) -> None:
    """An Alpaca service's previews read Alpaca's bars of the sessions before today (the
    real alpaca-py client on the loopback Alpaca): asked once, then from memory."""
    today = datetime.now(NEW_YORK).date()
    opens = history.sessions_before(today, 6)
    async with AlpacaFake() as alpaca:
        for opened in opens:
            for minute in range(30):
                for i, symbol in enumerate(SYMBOLS):
                    close = 100 + i + (minute % 7) * 0.05
                    await alpaca.push_bar(symbol, opened + 60 * minute, close, live=False)
        config = {
            "broker.name": "alpaca",
            "broker.base_url": alpaca.trading_url,
            "broker.data_url": alpaca.data_url,
            "journal.dir": str(tmp_path / "data"),
            **SYMBOL_CONFIG,
        }
        venue = await build_alpaca(load_settings(write_config(tmp_path, **config)), KEYS)
        source = venue.history
        assert source is not None
        first = await source.last(5)
        asked = [r for r in alpaca.requests if "/bars" in r[1]]
        again = await source.last(5)
        await venue.stop()
    assert len(asked) >= 1
    assert [r for r in alpaca.requests if "/bars" in r[1]] == asked
    assert first == again
    assert first.dates == tuple(trading_date(t) for t in opens[-5:])
    assert len(first.bars) == 5 * 30 * len(SYMBOLS)


def test_the_preview_settings_are_checked_like_every_setting(tmp_path: Path) -> None:
    """confirm.preview_sessions is 0..20 (0 = off), its time-out 1..600 s."""
    for key, value in (("confirm.preview_sessions", 21), ("confirm.preview_timeout_sec", 0)):
        folder = tmp_path / key
        folder.mkdir()
        with pytest.raises(ConfigError, match=f"{key} = .* is out of range"):
            load_settings(write_config(folder, **{key: value}))


async def test_no_preview_when_it_is_off(tmp_path: Path) -> None:
    h = make_harness(
        tmp_path, history=recorded(days=5), **SYMBOL_CONFIG, **{"confirm.preview_sessions": 0}
    )
    request = await h.run("set entry_z 2.6")
    assert isinstance(request, ConfirmRequest)
    assert h.core.previews.take(request.nonce) is None


def test_a_stopped_preview_ends_its_passes_cleanly(tmp_path: Path) -> None:
    """Given up mid-pass (timed out, answered, shut down), the worker's backtest stops at its
    next progress point and leaves no order submit half-made (no 'never awaited' warning)."""
    settings = load_settings(
        write_config(tmp_path, **SYMBOL_CONFIG, **{"strategy.entry_z_threshold": 1.0})
    )
    setup = backtest_setup(settings, article_costs(settings))
    stop = threading.Event()
    stop.set()
    for _ in range(5):
        with pytest.raises(PreviewStopped):
            backtest_pair(session_bars(5), (setup, setup), stop)
    gc.collect()


async def test_reset_is_previewed_too(tmp_path: Path) -> None:
    """`reset` previews the runtime value against the config file's."""
    h = make_harness(tmp_path, history=recorded(days=5), **SYMBOL_CONFIG)
    request, _ = await preview_of(h, "set entry_z 2.6")
    await h.core.confirm(request.nonce, "U1", "C1", "test")
    _, preview = await preview_of(h, "reset entry_z")
    assert (preview.old_value, preview.new_value) == ("2.6", "2")
    assert preview.old is not None and preview.new is not None
    assert preview.old.round_trips < preview.new.round_trips


async def test_the_recorded_sessions_give_the_garbage_collector_nothing_to_scan() -> None:
    """The order manager records every symbol's bars (5,000 symbols: ~2 million a session),
    each a Bar made from its message: kept as Bars, each full collection scanned them all on
    the event loop. Kept, they add no object the collector tracks, and come back the same."""
    rows = [(b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume) for b in session_bars(2)]
    recent = RecentSessions(5)
    gc.collect()
    before = len(gc.get_objects())
    for row in rows:
        recent.observe(Bar(*row))
    gc.collect()
    assert len(gc.get_objects()) - before < len(rows) // 100
    assert (await recent.last(5)).bars == tuple(Bar(*row) for row in rows)
