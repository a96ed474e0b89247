"""A replay ends: `run --data` says "replay finished" and exits with its summary (or, at a
terminal's console, waits for `quit`) with no stale alerts; nights and weekends are crossed at
once whatever --speed is; symbols the file has beside strategy.symbols are named as in
`backtest --data`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.account import watched_parts
from bot.replay_end import CONSOLE, end_of_replay
from ops.shared.results import Level
from ops.watch.monitor import Monitor
from strategy.clock import ManualClock
from strategy.types import Bar
from strategy.venues.bars import synthetic_bars
from strategy.venues.sim_feed import SimFeed
from tests.support import bar, eventually, make_harness, settle, write_config
from tests.test_cli import tradebot
from tests.test_monitor import RecordingSink
from tests.test_replay import OLD_OPEN, SYMBOLS, write_bars

FRIDAY_OPEN = 1_709_908_200.0  # 2024-03-08 09:30 New York
MONDAY_OPEN = 1_710_163_800.0  # 2024-03-11 09:30 New York (daylight saving time began)


def two_sessions(symbols: list[str], minutes: int) -> list[Bar]:
    """`minutes` bars a symbol at Friday's open and again at Monday's: a weekend between."""
    friday = synthetic_bars(symbols, 3, FRIDAY_OPEN, count=minutes)
    monday = synthetic_bars(symbols, 4, MONDAY_OPEN, count=minutes)
    return [*friday, *monday]


class FakeTime:
    """monotonic() and sleep() for the feed's pacing: a sleep moves the time it reads."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_a_weekend_between_two_sessions_takes_no_time_at_any_speed() -> None:
    """At speed 600, 5 minutes a session take 0.5 s each; the 65 hours between Friday's close
    and Monday's open (6.5 min at that speed) are crossed at once."""
    time = FakeTime()
    bars = two_sessions(["SPY"], 5)
    feed = SimFeed(
        bars, ManualClock(start=FRIDAY_OPEN), speed=600, sleep=time.sleep, monotonic=time.monotonic
    )
    seen = [b.ts async for b in feed.bars()]
    assert seen == [b.ts for b in bars]
    assert max(time.sleeps) <= 60 / 600 + 1e-9  # never longer than one bar's minute
    assert time.now <= 2 * 4 * 60 / 600 + 1e-9  # each session's four steps, paced


def test_a_replay_ends_by_itself_with_its_summary(tmp_path: Path) -> None:
    """No --duration: a two-session file at speed 600 (its weekend crossed at once) ends with
    "replay finished" and the run summary, exit 0, and no stale-feed alert on the way."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    data = write_bars(tmp_path / "bars.csv", two_sessions(SYMBOLS, 5))
    done = tradebot("run", "--config", str(config), "--data", str(data), "--speed", "600")
    assert done.returncode == 0, done.stderr
    assert "replay finished: 30 bars, P&L " in done.stderr
    assert "stopping" in done.stderr.split("replay finished")[1]
    assert "stopped after" in done.stdout and "bars 30 " in done.stdout
    assert "ALERT" not in done.stderr and "stale" not in done.stderr


def test_run_names_the_symbols_a_file_has_beside_strategy_symbols(tmp_path: Path) -> None:
    """A symbol not in strategy.symbols is named (never traded), as `backtest --data` names
    it, and the run goes on with the others (a warning, as in backtest)."""
    config = write_config(tmp_path, **{"strategy.symbols": ["SPY", "QQQ"]})
    bars = synthetic_bars(["SPY", "XYZ"], 3, OLD_OPEN, count=30)
    data = write_bars(tmp_path / "bars.csv", bars)
    named = "2 symbol(s) (SPY, XYZ); not in strategy.symbols, never traded: XYZ; no bars for QQQ"
    ran = tradebot(
        "run", "--config", str(config), "--data", str(data), "--speed", "0", "--duration", "20"
    )
    assert ran.returncode == 0, ran.stderr
    assert named in ran.stderr
    assert "replay finished: 30 bars" in ran.stderr  # XYZ's 30 rows were not traded
    tested = tradebot("backtest", "--config", str(config), "--data", str(data))
    assert tested.returncode == 0, tested.stderr
    assert named in tested.stdout


async def test_health_checks_after_the_last_bar_raise_no_stale_alert(tmp_path: Path) -> None:
    """A replay that ran out is finished, not stale: the heartbeats stay OK while the console
    waits for `quit`, however long after the last bar (in market time) it is asked."""
    h = make_harness(tmp_path)
    h.service.feed = SimFeed([bar("SPY", 0, 100.0)], h.clock, observers=[h.broker.on_bar])
    await h.service.start()
    await eventually(lambda: h.service.feed_ended)
    h.clock.advance(3600)
    results = {r.key: r for r in await Monitor(watched_parts(h.service)).run()}
    assert results["feed-stale"].level is Level.OK, results["feed-stale"].message
    assert results["engine-stale"].level is Level.OK
    assert not [key for key in h.service.open_alerts if key.endswith("-stale")]
    await h.service.stop()


async def test_with_a_console_open_the_end_is_said_and_the_run_waits_for_it(
    tmp_path: Path,
) -> None:
    """A console still reading (a terminal, or a script's pipe) is left to its `quit` or the
    end of its input: the run stops only then."""
    h = make_harness(tmp_path)
    sink = RecordingSink()
    h.service.add_alert_sink(sink)
    h.service.feed = SimFeed([bar("SPY", 0, 100.0)], h.clock, observers=[h.broker.on_bar])
    quit_typed, stop = asyncio.Event(), asyncio.Event()
    h.service.spawn(CONSOLE, quit_typed.wait())
    await h.service.start()
    ending = asyncio.create_task(end_of_replay(watched_parts(h.service), 100_000.0, stop))
    await eventually(lambda: sink.events)
    assert sink.events == [
        ("notice", "replay finished: 1 bars, P&L +$0.00; the console stays open until `quit`")
    ]
    await settle()
    assert not stop.is_set()
    quit_typed.set()
    await ending
    assert stop.is_set()
    await h.service.stop()


async def test_without_a_console_the_run_stops_at_the_end(tmp_path: Path) -> None:
    """No console (Slack, or no terminal): the run stops once the end is said."""
    h = make_harness(tmp_path)
    sink = RecordingSink()
    h.service.add_alert_sink(sink)
    h.service.feed = SimFeed([bar("SPY", 0, 100.0)], h.clock, observers=[h.broker.on_bar])
    stop = asyncio.Event()
    await h.service.start()
    await end_of_replay(watched_parts(h.service), 100_000.0, stop)
    assert sink.events == [("notice", "replay finished: 1 bars, P&L +$0.00; stopping")]
    assert stop.is_set()
    await h.service.stop()
