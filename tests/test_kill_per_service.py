"""Two services on one host, each with its own journal: `tradebot kill` and `tradebot resume`
reach only the service of the config they are given, and report only that service's outcome,
even when the health port they read is the other's."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import yaml

from bot.kill_cli import Health, HealthClient
from bot.oms_cli import start_oms
from ops.cluster.credentials import oms_user
from ops.cluster.server import LocalNats
from ops.config.settings import load_settings
from ops.journal.owner import find_kill_file
from strategy.types import TradingState
from tests.support import REPO, eventually, free_port, spawn_tradebot, stop_tradebot, write_config
from tests.test_journal_owner import tradebot_run
from tests.test_kill_cli import tradebot
from tests.test_replay import SYMBOLS, history_csv

SHIPPED_KILL_FILE = yaml.safe_load((REPO / "config.yaml").read_text())["monitoring"][
    "kill_switch_file"
]


def service_config(tmp_path: Path, name: str, port: int) -> Path:
    """A config of the shipped kill file setting and journal choice, journals in tmp/data."""
    folder = tmp_path / name
    folder.mkdir()
    return write_config(
        folder,
        **{
            "journal.path": "",
            "journal.dir": str(tmp_path / "data"),
            "monitoring.kill_switch_file": SHIPPED_KILL_FILE,
            "monitoring.health_port": port,
            "strategy.symbols": SYMBOLS,
            "kill.poll_sec": 0.05,
        },
    )


async def answering(client: HealthClient) -> Health:
    await eventually(lambda: asyncio.to_thread(client.get), within=30)
    health = await asyncio.to_thread(client.get)
    assert health is not None
    return health


def journal_events(path: Path, event: str) -> list[str]:
    """The `runs` rows of `event` in a service's journal (none before it has any)."""
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as db:
        try:
            rows = db.execute("select detail from runs where event = ? order by id", (event,))
            return [str(row[0]) for row in rows]
        except sqlite3.OperationalError:  # no runs table yet
            return []


async def test_a_kill_reaches_only_the_service_of_its_config(tmp_path: Path) -> None:
    """A simulator and a replay run side by side: `tradebot kill --config` of one kills it
    and prints its outcome; the other stays ACTIVE, never killed; then the other's own kill
    reaches it (not "already armed") and reports its own outcome."""
    sim_port, replay_port = free_port(), free_port()
    sim_config = service_config(tmp_path, "sim", sim_port)
    replay_config = service_config(tmp_path, "replay", replay_port)
    sim = await spawn_tradebot(sim_config)
    data = str(history_csv(tmp_path))
    replay = await spawn_tradebot(replay_config, "--data", data)
    sim_health, replay_health = HealthClient(sim_port), HealthClient(replay_port)
    try:
        await answering(sim_health)
        await answering(replay_health)
        out, code = await tradebot("kill", "--config", str(sim_config))
        assert code == 0, out
        assert f"kill switch armed: {tmp_path / 'data' / 'sim.db.kill'}" in out
        assert "FLAT after" in out and "kill by kill-switch-file (kill file)" in out
        untouched = await answering(replay_health)
        assert untouched["state"] == "ACTIVE" and untouched["kill"]["requests"] == 0

        out, code = await tradebot("kill", "--config", str(replay_config), "--data", data)
        assert code == 0, out
        assert f"kill switch armed: {tmp_path / 'data' / 'replay-bars.db.kill'}" in out
        assert "FLAT after" in out
        killed = await answering(replay_health)
        assert killed["state"] == "HALTED" and killed["kill"]["requests"] == 1
        assert (await answering(sim_health))["kill"]["requests"] == 1
    finally:
        _, sim_err = await stop_tradebot(sim)
        _, replay_err = await stop_tradebot(replay)
    assert sim.returncode == 0, sim_err
    assert replay.returncode == 0, replay_err


async def test_a_resume_for_one_service_is_not_taken_by_another(tmp_path: Path) -> None:
    """A replay is HALTED by its own kill (cleared); `tradebot resume` for the simulator,
    whose service is not running, is taken by no one and withdrawn: the replay stays HALTED
    until its own resume."""
    replay_port = free_port()
    sim_config = service_config(tmp_path, "sim", free_port())
    replay_config = service_config(tmp_path, "replay", replay_port)
    data = str(history_csv(tmp_path))
    replay = await spawn_tradebot(replay_config, "--data", data)
    client = HealthClient(replay_port)
    try:
        await answering(client)
        out, code = await tradebot("kill", "--config", str(replay_config), "--data", data)
        assert code == 0 and "FLAT after" in out, out
        out, code = await tradebot(
            "kill", "--config", str(replay_config), "--data", data, "--clear"
        )
        assert code == 0 and "removed" in out, out

        out, code = await tradebot("resume", "--config", str(sim_config), "--yes")
        assert code == 1 and "no running service took the request" in out, out
        assert f"{tmp_path / 'data' / 'sim.db.kill.resume'}" in out
        assert (await answering(client))["state"] == "HALTED"

        out, code = await tradebot(
            "resume", "--config", str(replay_config), "--data", data, "--yes"
        )
        assert code == 0 and "resumed by" in out, out
        assert (await answering(client))["state"] == "ACTIVE"
    finally:
        _, err = await stop_tradebot(replay)
    assert replay.returncode == 0, err


async def test_another_services_health_port_is_named_not_reported_as_this_ones(
    tmp_path: Path,
) -> None:
    """Both configs name one health port; the simulator holds it. `tradebot kill` for the
    replay kills the replay alone and says the endpoint is the simulator's instead of
    printing the simulator's state as the replay's outcome (exit 1: unknown); so does
    `tradebot resume`, whose request the replay takes."""
    port = free_port()
    sim_config = service_config(tmp_path, "sim", port)
    replay_config = service_config(tmp_path, "replay", port)
    sim = await spawn_tradebot(sim_config)
    client = HealthClient(port)
    await answering(client)
    data = str(history_csv(tmp_path))
    replay = await spawn_tradebot(replay_config, "--data", data)
    replay_journal = tmp_path / "data" / "replay-bars.db"
    try:
        await eventually(lambda: journal_events(replay_journal, "start"), within=30)
        other = f"the health endpoint on port {port} is another service's (the simulator"
        out, code = await tradebot("kill", "--config", str(replay_config), "--data", data)
        assert code == 1, out  # armed, outcome unknown here
        assert f"kill switch armed: {replay_journal}.kill" in out
        assert other in out and "FLAT" not in out
        assert "`runs` table" in out  # where to look instead
        await eventually(lambda: journal_events(replay_journal, "kill"), within=30)
        sim_health = await answering(client)
        assert sim_health["state"] == "ACTIVE" and sim_health["kill"]["requests"] == 0

        out, code = await tradebot(
            "kill", "--config", str(replay_config), "--data", data, "--clear"
        )
        assert code == 0, out
        out, code = await tradebot(
            "resume", "--config", str(replay_config), "--data", data, "--yes"
        )
        assert code == 0, out
        assert other in out and "already ACTIVE" not in out
        assert f"resume requested: {replay_journal}.kill.resume" in out
        assert (await answering(client))["state"] == "ACTIVE"
    finally:
        _, replay_err = await stop_tradebot(replay)
        _, sim_err = await stop_tradebot(sim)
    assert replay.returncode == 0, replay_err
    assert sim.returncode == 0, sim_err
    assert any("resumed by" in detail for detail in journal_events(replay_journal, "resume"))


async def test_a_kill_from_another_folder_says_which_file_it_armed(tmp_path: Path) -> None:
    """A relative journal.dir is the current directory's: `tradebot kill` run elsewhere arms
    a file no service watches, and says so (the endpoint answering is the service's in the
    other folder, whose kill file has the same name) instead of reporting that service."""
    port = free_port()
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = service_config(tmp_path, "here", port)
    settings = yaml.safe_load(config.read_text())
    settings["journal"]["dir"] = "data"
    config.write_text(yaml.safe_dump(settings))
    sim = await spawn_tradebot(config, cwd=here)
    client = HealthClient(port)
    try:
        await answering(client)
        proc = await spawn_tradebot(None, "kill", "--config", str(config), cwd=elsewhere)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1, err
        text = out.decode()
        assert f"kill switch armed: {elsewhere / 'data' / 'sim.db.kill'}" in text
        assert f"kill file {here / 'data' / 'sim.db.kill'}), not the one watching" in text
        assert "run this where that service runs" in text and "FLAT" not in text
        assert (await answering(client))["kill"]["requests"] == 0
    finally:
        _, err = await stop_tradebot(sim)
    assert sim.returncode == 0, err


async def test_config_shows_the_kill_file_in_use(tmp_path: Path) -> None:
    """With kill_switch_file empty (the shipped default), `config` names the file beside the
    journal that this run watches."""
    config = service_config(tmp_path, "sim", 0)
    code, out, err = await tradebot_run(config, tmp_path, "config\nquit\n", "--speed", "0")
    assert code == 0, err
    kill_file = tmp_path / "data" / "sim.db.kill"
    assert f"{kill_file} (kill_switch_file empty: beside the journal)" in out


def test_the_kill_file_is_found_as_the_journal_is(tmp_path: Path) -> None:
    """An Alpaca account's kill file is beside its one journal under journal.dir (found by
    its name, as `journal prune` finds it); a kill_switch_file set in the config wins."""
    data = tmp_path / "data"
    data.mkdir()
    alpaca = {"journal.path": "", "journal.dir": str(data), "broker.name": "alpaca"}
    empty = load_settings(
        write_config(tmp_path, **alpaca, **{"monitoring.kill_switch_file": SHIPPED_KILL_FILE})
    )
    (data / "alpaca-paper-PA1.db").touch()
    (data / "alpaca-live-9.db").touch()
    assert find_kill_file(empty) == data / "alpaca-paper-PA1.db.kill"
    explicit = load_settings(write_config(tmp_path, **alpaca))
    assert find_kill_file(explicit) == tmp_path / "kill"


async def test_each_cluster_order_manager_watches_its_own_kill_file(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The cluster's order managers keep their kill file beside their own journal: the one of
    account main kills main only; other goes on trading, its kill switch never asked."""
    data = tmp_path / "data"
    config = write_config(
        tmp_path,
        **{
            "journal.path": "",
            "journal.dir": str(data),
            "monitoring.kill_switch_file": SHIPPED_KILL_FILE,
            "kill.poll_sec": 0.05,
            "cluster.nats_url": nats_server.url,
            "cluster.accounts": ["main", "other"],
            "cluster.strategies": ["MeanReversionV1:main"],
        },
    )
    a = await start_oms("main", config, nats_server.env(oms_user("main")))
    try:
        b = await start_oms("other", config, nats_server.env(oms_user("other")))
        try:
            assert a.service.kill_file == data / "cluster-main.db.kill"
            assert b.service.kill_file == data / "cluster-other.db.kill"
            a.service.kill_file.touch()
            await eventually(lambda: a.service.kill_switch.status().kills == 1, within=10)
            assert a.service.gate.state is TradingState.HALTED
            assert b.service.kill_switch.status().requests == 0
            assert b.service.gate.state is TradingState.ACTIVE
        finally:
            await b.stop()
    finally:
        await a.stop()
