"""Command-line numbers are checked like config values: a bad one stops the command before
anything starts, with one line naming the option and its range, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import write_config
from tests.test_cli import tradebot


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("run", "--speed", "-1", "--duration", "1"), "--speed = -1 is out of range (0 .. 1e+07)"),
        (("run", "--duration", "-5"), "--duration = -5 is out of range (0.001 .. 3.1536e+07)"),
        (("run", "--duration", "nan"), "--duration = nan is out of range"),
        (("backtest", "--days", "-2"), "--days = -2 is out of range (0.01 .. 5000)"),
        (("backtest", "--days", "0.2", "--seed", "-1"), "--seed = -1 is out of range"),
        (("watchdog", "--interval", "0", "--duration", "1"), "--interval = 0 is out of range"),
    ],
)
def test_bad_command_line_values_are_refused_like_config_values(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    """Exit 2 with `tradebot: --option = value is out of range (low .. high)`, nothing run."""
    config = write_config(tmp_path)
    command, *rest = args
    with_config = ("--config", str(config)) if command != "watchdog" else ()
    done = tradebot(command, *with_config, *rest, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == f"tradebot: {says}" or says in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "journal.db").exists()
