"""One journal per venue and account: the simulator, a replay, the cluster and each Alpaca
account keep their own file by default, and a journal refuses a start against another."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

from bot.oms_cli import start_oms
from ops.cluster.credentials import oms_user
from ops.cluster.server import LocalNats
from ops.config.settings import load_settings
from ops.journal.owner import JournalOwner, claim, find_journal, journal_file
from ops.shared.errors import StartupError
from tests.fakes.alpaca import AlpacaFake
from tests.support import REPO, eventually, spawn_tradebot, stop_tradebot, write_config
from tests.test_replay import SYMBOLS, history_csv

SHIPPED = yaml.safe_load((REPO / "config.yaml").read_text())["journal"]
SIM_SESSION = "pause\nset entry_z 2.5\ny\nquit\n"  # a console session's state and change


def alpaca_env(alpaca: AlpacaFake) -> dict[str, str]:
    return {
        "ALPACA_API_KEY": "PKTEST",
        "ALPACA_SECRET_KEY": "secret-test",
        "ALPACA_TRADING_URL": alpaca.trading_url,
        "ALPACA_TRADING_STREAM_URL": alpaca.trading_stream_url,
        "ALPACA_DATA_STREAM_URL": alpaca.data_stream_url,
        "ALPACA_DATA_URL": alpaca.data_url,
    }


async def tradebot_run(
    config: Path, cwd: Path, script: str, *args: str, **env: str
) -> tuple[int, str, str]:
    """`tradebot run --config CONFIG ARGS` in `cwd` (the base of relative paths), `script`
    piped to its console; its exit code, stdout and stderr."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALPACA_", "TRADEBOT_"))
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(config), *args,
        cwd=cwd, env={**clean, **env}, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(script.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return list(db.execute(sql))


def counts(path: Path) -> dict[str, int]:
    """Rows per table: what a refused start must leave as it was."""
    tables = [str(r[0]) for r in rows(path, "select name from sqlite_master where type='table'")]
    return {t: int(rows(path, f"select count(*) from {t}")[0][0]) for t in tables}


async def test_the_simulator_then_alpaca_on_the_default_config_keep_apart(tmp_path: Path) -> None:
    """The shipped journal setting: a simulator session (PAUSED, entry_z changed, a $100k
    history) and then an Alpaca start each get their own file; the Alpaca start restores none of
    it: ACTIVE, the file's entry_z, the account's own equity as day start and peak (no REDUCING
    on a '75% drawdown'), and the operator's SPY held for the operator, not adopted."""
    config = write_config(tmp_path, **{"journal.path": SHIPPED["path"]})
    code, out, err = await tradebot_run(config, tmp_path, "", "--duration", "2", "--speed", "0")
    assert code == 0, err
    assert int(out.split("fills ")[1].split()[0]) > 0  # the simulator traded its $100k
    code, out, err = await tradebot_run(config, tmp_path, SIM_SESSION, "--speed", "0")
    assert code == 0, err
    assert "entry_z changed 2 -> 2.5 by console" in out and "PAUSED" in out
    alpaca_config = write_config(
        tmp_path,
        **{
            "journal.path": SHIPPED["path"],
            "monitoring.health_check_sec": 1,
            "broker.name": "alpaca",
            "strategy.symbols": ["SPY", "QQQ"],
        },
    )
    async with AlpacaFake(cash=20_000.0) as alpaca:
        alpaca.positions["SPY"] = (10, 500.0)  # the operator's own, bought before
        alpaca.prices["SPY"] = 500.0
        code, out, err = await tradebot_run(
            alpaca_config, tmp_path, "status\nconfig\n", "--duration", "4", **alpaca_env(alpaca)
        )
    assert code == 0, err
    assert out.split("trade> ")[1].startswith("MeanReversionV1 on alpaca: ACTIVE")
    assert re.search(r"\(entry_z\) +2 +file", out)
    assert "NOT the bot's, held for the operator: SPY +10 @ 500.00" in err
    assert "drawdown peak $25,000.00" in err and "starts at $25,000.00" in err
    data = tmp_path / "data"
    assert sorted(p.name for p in data.glob("*.db")) == ["alpaca-paper-PA000.db", "sim.db"]
    sim, live = data / "sim.db", data / "alpaca-paper-PA000.db"
    assert rows(sim, "select venue, account from journal_owner") == [("sim", "")]
    assert rows(live, "select venue, account from journal_owner") == [("alpaca-paper", "PA000")]
    assert rows(live, "select symbol from adoptions") == []
    assert rows(live, "select state from state_changes") == []  # never PAUSED nor REDUCING
    assert rows(live, "select param from param_changes") == []
    assert rows(live, "select equity from day_start") == [(25_000.0,)]
    assert max(r[0] for r in rows(live, "select equity from equity")) == 25_000.0


async def test_an_explicit_shared_journal_refuses_the_second_venue_in_one_line(
    tmp_path: Path,
) -> None:
    """journal.path names one file for both: after a simulator run, the Alpaca start exits 2
    with one line naming both owners, having read only the account (its number names the
    journal's owner): no position read, no order, not a row written."""
    config = write_config(tmp_path)  # journal.path: tmp_path/journal.db
    code, _, err = await tradebot_run(config, tmp_path, "", "--duration", "2", "--speed", "0")
    assert code == 0, err
    journal = tmp_path / "journal.db"
    before = counts(journal)
    alpaca_config = write_config(tmp_path, **{"broker.name": "alpaca"})
    async with AlpacaFake() as alpaca:
        alpaca.positions["SPY"] = (10, 500.0)
        code, _, err = await tradebot_run(
            alpaca_config, tmp_path, "", "--duration", "4", **alpaca_env(alpaca)
        )
        requests = list(alpaca.requests)
    assert code == 2, err
    assert err.splitlines() == [
        f"tradebot: the journal {journal} belongs to the simulator, not Alpaca paper account "
        "PA000: each venue and account keeps its own journal (leave journal.path empty for one "
        "each, or name another file)"
    ]
    assert requests == [("GET", "/v2/account")]
    assert counts(journal) == before


def test_each_venue_and_account_has_its_own_default_file(tmp_path: Path) -> None:
    """journal.path empty: a file per owner under journal.dir; a path given names the file."""
    auto = load_settings(write_config(tmp_path, **{"journal.path": "", "journal.dir": "j"}))
    owners = {
        JournalOwner.simulator(""): "j/sim.db",
        JournalOwner.simulator("bars/spy 2025.csv"): "j/replay-spy_2025.db",
        JournalOwner.alpaca(True, "PA123"): "j/alpaca-paper-PA123.db",
        JournalOwner.alpaca(False, "9876"): "j/alpaca-live-9876.db",
        JournalOwner("cluster", "main"): "j/cluster-main.db",
    }
    assert {o: str(journal_file(auto, o)) for o in owners} == owners
    explicit = load_settings(write_config(tmp_path, **{"journal.path": "x/one.db"}))
    assert journal_file(explicit, JournalOwner.alpaca(True, "PA123")) == Path("x/one.db")
    assert (
        load_settings(write_config(tmp_path), env={"TRADEBOT_DB": "e.db"}).get("journal.path")
        == "e.db"
    )


def test_a_journal_refuses_another_account_of_the_same_venue(tmp_path: Path) -> None:
    """A paper account's journal is not another paper account's, nor the live account's, nor a
    replay of another file; the refusal writes nothing, and its owner starts again."""
    path = tmp_path / "j.db"
    claim(path, JournalOwner.alpaca(True, "PA1"))
    for other in (
        JournalOwner.alpaca(True, "PA2"),
        JournalOwner.alpaca(False, "PA1"),
        JournalOwner.simulator(""),
    ):
        with pytest.raises(StartupError, match=f"belongs to Alpaca paper account PA1, not {other}"):
            claim(path, other)
    claim(path, JournalOwner.alpaca(True, "PA1"))
    assert rows(path, "select venue, account from journal_owner") == [("alpaca-paper", "PA1")]
    replay = tmp_path / "r.db"
    claim(replay, JournalOwner.simulator("a.csv"))
    with pytest.raises(StartupError, match="belongs to a replay of a, not a replay of b"):
        claim(replay, JournalOwner.simulator("b.csv"))


def test_a_journal_from_before_owners_were_recorded_refuses_another_venue(tmp_path: Path) -> None:
    """The old shared data/tradebot.db named explicitly: its runs say which venue wrote it; an
    Alpaca start on a journal of simulator runs is refused, a simulator start claims it."""
    path = tmp_path / "tradebot.db"
    with sqlite3.connect(path) as db:
        db.execute("create table run_info (id integer primary key, venue text)")
        db.execute("insert into run_info (venue) values ('sim')")
    with pytest.raises(StartupError, match=r"belongs to runs on sim \(before journals recorded"):
        claim(path, JournalOwner.alpaca(True, "PA1"))
    assert counts(path) == {"run_info": 1}
    claim(path, JournalOwner.simulator(""))
    assert rows(path, "select venue, account from journal_owner") == [("sim", "")]
    mixed = tmp_path / "mixed.db"  # the shared journal of the issue: both venues' runs
    with sqlite3.connect(mixed) as db:
        db.execute("create table run_info (id integer primary key, venue text)")
        db.execute("insert into run_info (venue) values ('sim'), ('alpaca paper')")
    for owner in (JournalOwner.simulator(""), JournalOwner.alpaca(True, "PA1")):
        with pytest.raises(StartupError, match="belongs to runs on sim and alpaca paper"):
            claim(mixed, owner)


def test_commands_without_a_venue_find_the_runs_journal(tmp_path: Path) -> None:
    """`journal prune` and `backtest` open the journal `tradebot run` uses: the simulator's by
    name; an Alpaca account's by its file, refused with the names when there are several."""
    folder = tmp_path / "data"
    values = {"journal.path": "", "journal.dir": str(folder)}
    sim = load_settings(write_config(tmp_path, **values))
    assert find_journal(sim) == folder / "sim.db"
    alpaca = load_settings(write_config(tmp_path, **values, **{"broker.name": "alpaca"}))
    with pytest.raises(StartupError, match=r"no journal .*alpaca-paper-<account number>\.db yet"):
        find_journal(alpaca)
    folder.mkdir()
    (folder / "alpaca-live-L1.db").touch()
    (folder / "alpaca-paper-PA1.db").touch()
    assert find_journal(alpaca) == folder / "alpaca-paper-PA1.db"
    (folder / "alpaca-paper-PA2.db").touch()
    with pytest.raises(StartupError, match=r"several journals match .*PA1\.db, .*PA2\.db"):
        find_journal(alpaca)


async def test_each_cluster_account_keeps_its_own_journal(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`make cluster` on the simulator: each order manager's journal is its account's own
    (not the simulator's sim.db, not the other account's); a journal named for both serves the
    account that first used it and refuses the other."""
    values = {
        "journal.path": "",
        "journal.dir": str(tmp_path / "data"),
        "cluster.nats_url": nats_server.url,
        "cluster.accounts": ["main", "other"],
        "cluster.strategies": ["MeanReversionV1:main"],
    }
    config = write_config(tmp_path, **values)
    a = await start_oms("main", config, nats_server.env(oms_user("main")))
    try:
        b = await start_oms("other", config, nats_server.env(oms_user("other")))
        await b.stop()
    finally:
        await a.stop()
    data = tmp_path / "data"
    assert sorted(p.name for p in data.glob("*.db")) == ["cluster-main.db", "cluster-other.db"]
    assert rows(data / "cluster-other.db", "select venue, account from journal_owner") == [
        ("cluster", "other")
    ]
    shared = write_config(tmp_path, **{**values, "journal.path": str(tmp_path / "one.db")})
    await (await start_oms("main", shared, nats_server.env(oms_user("main")))).stop()
    with pytest.raises(StartupError, match="belongs to the cluster's simulated account main, not"):
        await start_oms("other", shared, nats_server.env(oms_user("other")))


async def test_a_backtest_records_into_the_alpaca_accounts_journal(tmp_path: Path) -> None:
    """A backtest on an Alpaca config writes its runs (and a reference) where `tradebot run`
    on that account reads them: the account's own journal, its number asked of Alpaca (the
    account read only), even before the account's first run."""
    values = {"journal.path": "", "journal.dir": str(tmp_path / "data"), "broker.name": "alpaca"}
    config = write_config(tmp_path, **values)
    async with AlpacaFake() as alpaca:
        proc = await spawn_tradebot(
            None, "backtest", "--config", str(config), "--days", "1", "--out", str(tmp_path),
            **alpaca_env(alpaca),
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        requests = list(alpaca.requests)
    assert proc.returncode == 0, err.decode()
    assert requests == [("GET", "/v2/account")]
    journal = tmp_path / "data" / "alpaca-paper-PA000.db"
    assert rows(journal, "select kind from backtests where costs = 1") == [("full",)]


async def test_a_replay_after_a_console_session_starts_from_its_own_journal(
    tmp_path: Path,
) -> None:
    """`run --data` on the shipped journal setting: the replay neither starts PAUSED nor takes
    the console session's entry_z; its journal is replay-<file>.db beside sim.db."""
    config = write_config(
        tmp_path, **{"journal.path": SHIPPED["path"], "strategy.symbols": SYMBOLS}
    )
    code, _, err = await tradebot_run(config, tmp_path, SIM_SESSION, "--speed", "0")
    assert code == 0, err
    data = history_csv(tmp_path, minutes=30)
    code, out, err = await tradebot_run(
        config, tmp_path, "status\nconfig\nquit\n", "--data", str(data), "--speed", "0"
    )
    assert code == 0, err
    assert out.split("trade> ")[1].startswith("MeanReversionV1 on sim: ACTIVE")
    assert re.search(r"\(entry_z\) +2 +file", out)
    names = sorted(p.name for p in (tmp_path / "data").glob("*.db"))
    assert names == ["replay-bars.db", "sim.db"]


async def test_the_one_service_lock_is_on_the_file_each_run_uses(tmp_path: Path) -> None:
    """On the shipped journal setting, while the simulator runs: a second simulator is refused
    (the same file, sim.db), and an Alpaca account's service starts (its own file)."""
    config = write_config(tmp_path, **{"journal.path": SHIPPED["path"]})
    first = await spawn_tradebot(config, "--speed", "0", cwd=tmp_path)
    try:
        lock = tmp_path / "data" / "sim.db.lock"
        await eventually(lambda: lock.is_file() and "pid" in lock.read_text(), within=30)
        code, _, err = await tradebot_run(config, tmp_path, "", "--duration", "1")
        assert code == 2, err
        assert f"already running on this journal (pid {first.pid} on" in err
        alpaca_config = write_config(
            tmp_path, **{"journal.path": SHIPPED["path"], "broker.name": "alpaca"}
        )
        async with AlpacaFake() as alpaca:
            code, _, err = await tradebot_run(
                alpaca_config, tmp_path, "", "--duration", "1", **alpaca_env(alpaca)
            )
        assert code == 0, err
        assert first.returncode is None
    finally:
        await stop_tradebot(first)
    assert first.returncode == 0


async def test_an_explicit_journal_refuses_another_alpaca_account(tmp_path: Path) -> None:
    """journal.path names one file for two paper accounts: the second account's start exits 2
    naming both accounts, before it reads its positions or writes a row."""
    journal = tmp_path / "live.db"
    config = write_config(tmp_path, **{"journal.path": str(journal), "broker.name": "alpaca"})
    async with AlpacaFake() as alpaca:
        code, _, err = await tradebot_run(
            config, tmp_path, "", "--duration", "1", **alpaca_env(alpaca)
        )
        assert code == 0, err
        before = counts(journal)
        alpaca.account_number = "PA111"  # other keys: another account
        alpaca.requests.clear()
        code, _, err = await tradebot_run(
            config, tmp_path, "", "--duration", "1", **alpaca_env(alpaca)
        )
        assert code == 2, err
        assert err.splitlines() == [
            f"tradebot: the journal {journal} belongs to Alpaca paper account PA000, not Alpaca "
            "paper account PA111: each venue and account keeps its own journal (leave "
            "journal.path empty for one each, or name another file)"
        ]
        assert alpaca.requests == [("GET", "/v2/account")]
    assert counts(journal) == before
