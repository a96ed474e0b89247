"""What a backtest process loads: no more than it needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import REPO, write_config


def test_a_backtest_never_imports_pandas(tmp_path: Path) -> None:
    """sqlite-utils would import pandas (~0.3 s) for the journal; a backtest stores no pandas
    value, so it runs without it."""
    config = write_config(tmp_path)
    probe = (
        "import sys; from bot.cli import main; "
        f"code = main(['backtest', '--config', {str(config)!r}, '--days', '0.2', "
        f"'--out', {str(tmp_path / 'out')!r}]); "
        "print(code, 'pandas' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.stdout.splitlines()[-1] == "0 False", done.stderr
