"""What the console prints, as a user reads it: long input refused and echoed cut, money signed
one way, `config` in columns, `help` and the usage naming `quit`, and health checks with their
age and the state they were made under."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.account import watched_parts
from bot.console import Console, PipeLines
from bot.render_text import render
from ops.control.queries import close_lines
from ops.shared.results import CashCompare, CommandError, PositionsResult
from ops.watch.monitor import Monitor
from strategy.types import TradingState
from tests.support import Harness, bar, make_harness


async def console_output(h: Harness, data: bytes) -> str:
    """What the console prints for `data` piped in (a `quit` is added to end it)."""
    reader = asyncio.StreamReader()
    reader.feed_data(data + b"\nquit\n")
    reader.feed_eof()
    out = io.StringIO()
    assert await asyncio.wait_for(Console(h.core, PipeLines(reader), out).run(), 10) is True
    return out.getvalue()


async def test_a_5000_character_line_is_refused_and_echoed_cut(tmp_path: Path) -> None:
    """A paste of 5,000 characters is not run and not echoed whole: the refusal says it is too
    long, quotes its start and says it was cut; the journal's audit row keeps 500 of them."""
    h = make_harness(tmp_path)
    printed = await console_output(h, b"x" * 5000)
    assert "too long for a command (over 500 characters)" in printed
    assert "(cut: 5,000 characters)" in printed and "nothing was run" in printed
    assert "x" * 41 not in printed
    h.journal.flush()
    commands = [row["command"] for row in h.journal.query("select command from commands")]
    assert commands and all(len(command) < 600 for command in commands)


async def test_a_line_longer_than_the_pipe_buffer_is_one_refusal_and_the_next_line_runs(
    tmp_path: Path,
) -> None:
    """A line beyond the reader's buffer (64 KiB) is skipped whole and refused once, saying how
    long it was (and audited); what follows it on the pipe is read as the next command, not a
    tail of the paste."""
    h = make_harness(tmp_path)
    printed = await console_output(h, b"y" * 200_000 + b"\nstatus")
    assert printed.count("too long for a command") == 1
    assert "a line of 200,000 bytes; nothing was run" in printed and "yyy" not in printed
    assert "MeanReversionV1 on sim" in printed
    h.journal.flush()
    audited = h.journal.query("select command, outcome from commands")
    assert {"command": "(200,000 bytes)", "outcome": "refused"} in audited


async def test_an_unknown_word_is_echoed_cut(tmp_path: Path) -> None:
    """Under the line limit, a long unknown command is still quoted back only in part."""
    h = make_harness(tmp_path)
    with pytest.raises(CommandError) as refused:
        await h.run("z" * 300)
    assert "(cut: 300 characters)" in str(refused.value) and "z" * 41 not in str(refused.value)


async def test_the_usage_for_an_unknown_command_lists_quit_at_the_console_only(
    tmp_path: Path,
) -> None:
    """The usage printed for an unknown command, or for words a command takes none of, names
    `quit`, as `help` does; the same refusal on another surface (no `quit` there) does not."""
    h = make_harness(tmp_path)
    printed = await console_output(h, b"launch rockets\nstatus now\nhelp")
    refusal, listed = printed.split("! unknown command 'launch'.")[1].split("trade> ", 1)
    assert refusal.rstrip().endswith("| help | quit") and "\nquit " in listed
    extra = printed.split("! unexpected 'now'.")[1].split("trade> ", 1)[0]
    assert extra.rstrip().endswith("| help | quit")
    with pytest.raises(CommandError) as refused:
        await h.run("launch rockets")
    assert "quit" not in str(refused.value)


def test_money_puts_the_sign_before_the_dollar_everywhere() -> None:
    """A short position's value in the kill preview reads -$1,968.24 (it read $-1,968.24), as
    does the net total; the operator's own P&L in the cash line carries its dollar sign too."""
    lines = close_lines([("SPY", -6, -1968.24), ("QQQ", 2, 900.0)])
    assert lines[0] == "close SPY: -6 shares, value -$1,968.24"
    assert lines[-1] == "total: 2 position(s), gross $2,868.24, net -$1,068.24"
    cash = CashCompare(
        book=1000.0, broker=997.32, foreign_cost=0.0, tolerance=1.0, operator_pnl=-2.68
    )
    shown = render(PositionsResult(rows=(), broker_error=None, reconcile=False, cash=cash))
    assert "with -$2.68 of your own P&L" in shown and "$-" not in shown


async def test_config_columns_line_up_with_long_names_and_values(tmp_path: Path) -> None:
    """Each column starts at the same place on every row, however long a name (the cooldown's
    is longer than the old fixed width); a long value (the kill file's path) is shown whole,
    its source and range on the next line, in their columns."""
    h = make_harness(tmp_path)
    result = await h.run("config")
    rows = render(result).splitlines()
    value_at, source_at = rows[0].index("value"), rows[0].index("source")
    wrapped = 0
    for line in result.lines:
        at = next(i for i, row in enumerate(rows) if row.startswith(line.path + " "))
        assert rows[at][value_at:].startswith(line.value), rows[at]
        if rows[at][source_at:].startswith(line.source):
            continue
        wrapped += 1  # too long for its column: source and range under it
        assert rows[at + 1][:source_at].strip() == "", rows[at + 1]
        assert rows[at + 1][source_at:].startswith(line.source), rows[at + 1]
    assert wrapped and len(rows) == 1 + len(result.lines) + wrapped
    assert any(
        row.split()[:2] == ["monitoring.kill_switch_file", str(tmp_path / "kill")] for row in rows
    )


async def test_help_at_the_console_names_quit(tmp_path: Path) -> None:
    """`help` at the console lists `quit` with the other commands."""
    h = make_harness(tmp_path)
    printed = await console_output(h, b"help")
    assert any(line.startswith("quit ") for line in printed.splitlines())


async def test_status_shows_each_checks_age_and_a_verdict_from_before_a_state_change(
    tmp_path: Path,
) -> None:
    """Health checks carry their age (market time); the trade-flow verdict made while HALTED,
    shown after a resume to ACTIVE, says it was made before the change instead of reading as
    today's."""
    h = make_harness(tmp_path)
    monitor = Monitor(watched_parts(h.service))
    await h.push(bar("SPY", 0, 100.0))
    h.service.set_state(TradingState.HALTED, "test kill", "U1")
    await monitor.run()
    h.service.set_state(TradingState.ACTIVE, "resumed by U1", "U1")
    h.clock.advance(12)
    shown = render(await h.run("status"))
    flow = next(line for line in shown.splitlines() if "trade-flow" in line)
    assert "trading HALTED: order flow not checked" in flow
    assert "12s ago" in flow
    assert "checked while trading was HALTED, before it became ACTIVE" in flow
    drawdown = next(line for line in shown.splitlines() if line.split()[1:2] == ["drawdown"])
    assert "12s ago" in drawdown and "before it became" not in drawdown


@pytest.mark.parametrize("line", ["set entry_z " + "n" * 400, "set " + "q" * 400 + " 2"])
async def test_a_long_value_or_parameter_is_echoed_cut(tmp_path: Path, line: str) -> None:
    """`set` quotes back only the start of a value or a parameter name it refuses (the same
    checks serve the Slack settings modal, whose fields have no command-line limit)."""
    h = make_harness(tmp_path)
    with pytest.raises(CommandError) as refused:
        await h.run(line)
    assert "(cut: 400 characters)" in str(refused.value), refused.value
    assert "n" * 41 not in str(refused.value) and "q" * 41 not in str(refused.value)
