"""`tradebot kill` and `tradebot resume` against a running service, as an operator runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.kill_cli import HealthClient
from ops.journal.journal import Journal
from tests.support import eventually, free_port, spawn_tradebot, stop_tradebot, write_config


async def tradebot(*args: str) -> tuple[str, int]:
    proc = await spawn_tradebot(None, *args)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert b"Traceback" not in err, err
    assert proc.returncode is not None
    return out.decode() + err.decode(), proc.returncode


async def test_kill_reports_the_outcome_and_resume_restarts_trading(tmp_path: Path) -> None:
    """`tradebot kill` waits on the health endpoint and prints how the kill ended; resume is
    refused while the kill file exists; after `kill --clear` the kill-switch incident closes
    and `resume --yes` makes trading ACTIVE again, and says so."""
    port = free_port()
    config = write_config(tmp_path, **{"monitoring.health_port": port, "kill.poll_sec": 0.05})
    service = await spawn_tradebot(config)
    client = HealthClient(port)
    try:
        await eventually(lambda: asyncio.to_thread(client.get), within=30)
        out, code = await tradebot("kill", "--config", str(config))
        assert code == 0, out
        assert "kill switch armed" in out and "FLAT after" in out
        assert "kill by kill-switch-file (kill file)" in out

        out, code = await tradebot("resume", "--config", str(config), "--yes")
        assert code == 1 and "`tradebot kill --clear` first" in out

        out, code = await tradebot("kill", "--config", str(config), "--clear")
        assert code == 0 and "removed" in out and "trading stays HALTED (the running service" in out

        async def switch_closed() -> bool:
            health = await asyncio.to_thread(client.get)
            return health is not None and "kill-switch" not in health["open_incidents"]

        await eventually(switch_closed, within=10)
        out, code = await tradebot("resume", "--config", str(config), "--yes")
        assert code == 0, out
        assert "resumed by" in out and "trading is ACTIVE" in out
        health = await asyncio.to_thread(client.get)
        assert health is not None and health["state"] == "ACTIVE"
        assert health["state_reason"].endswith("(tradebot resume)")
    finally:
        _, err = await stop_tradebot(service)
    assert service.returncode == 0, err


async def test_kill_clear_without_a_file_says_so(tmp_path: Path) -> None:
    """`tradebot kill --clear` with no kill file says there was nothing to clear."""
    config = write_config(tmp_path)
    out, code = await tradebot("kill", "--config", str(config), "--clear")
    assert code == 0 and f"no kill switch file at {tmp_path / 'kill'}" in out


async def test_kill_without_a_health_endpoint_says_where_to_look(tmp_path: Path) -> None:
    """No health endpoint to wait on: the file is armed and the answer names the journal."""
    config = write_config(tmp_path)
    out, code = await tradebot("kill", "--config", str(config))
    assert code == 0 and (tmp_path / "kill").exists()
    assert "`runs` table" in out and "Slack alerts channel" in out


async def test_resume_needs_yes_without_a_terminal(tmp_path: Path) -> None:
    """Without a terminal to ask on, `tradebot resume` refuses unless --yes is given."""
    config = write_config(tmp_path)
    proc = await spawn_tradebot(None, "resume", "--config", str(config))
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and b"--yes" in err
    assert not (tmp_path / "kill.resume").exists()


async def test_kill_clear_with_no_kill_behind_the_file_says_there_was_none(tmp_path: Path) -> None:
    """A file armed while no service ran killed nothing: `kill --clear` removes it and says there
    was no kill to clear (it said trading stays HALTED)."""
    config = write_config(tmp_path)
    await tradebot("kill", "--config", str(config))
    assert (tmp_path / "kill").exists()
    out, code = await tradebot("kill", "--config", str(config), "--clear")
    assert code == 0 and not (tmp_path / "kill").exists()
    assert "there was no kill to clear" in out and "HALTED" not in out


async def test_kill_clear_after_a_kill_says_trading_stays_halted(tmp_path: Path) -> None:
    """The service that was killed has stopped: its journal still holds HALTED (a start restores
    it), so `kill --clear` says trading stays HALTED until a resume."""
    config = write_config(tmp_path)
    journal = Journal(tmp_path / "journal.db")
    journal.start()
    journal.record("state_changes", {"state": "HALTED", "reason": "kill", "user": "U1"})
    journal.close()
    (tmp_path / "kill").touch()
    out, code = await tradebot("kill", "--config", str(config), "--clear")
    assert code == 0 and not (tmp_path / "kill").exists()
    assert "trading stays HALTED" in out and "no kill to clear" not in out
