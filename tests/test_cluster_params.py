"""An account's parameter changes kept in the params bucket, with real role processes: a
`set` confirmed at the gateway reaches `tradebot oms` and two `tradebot worker`s and survives
their restart; an order manager seeds the bucket from its journal or follows it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from ops.cluster.acks import read_components
from ops.cluster.commands import AccountAnswer
from ops.cluster.config import cluster_config
from ops.cluster.credentials import GATEWAY, worker_user
from ops.cluster.gateway import GatewayCore
from ops.cluster.gateway_changes import ChangeOutcome
from ops.cluster.gateway_results import AccountAnswers
from ops.cluster.params import load_account_params
from ops.cluster.server import LocalNats
from ops.config.settings import load_settings
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from ops.shared.results import ConfigResult, ConfirmRequest
from strategy.clock import SystemClock
from tests.support import (
    Harness,
    eventually,
    make_harness,
    spawn_tradebot,
    stop_tradebot,
    write_config,
)

TWO_ACCOUNTS: dict[str, object] = {
    "cluster.accounts": ["main", "other"],
    "cluster.strategies": ["MeanReversionV1:main", "Momentum:other"],
}


def _rows(journal: Journal, sql: str) -> list[dict[str, Any]]:
    journal.flush()
    return journal.query(sql)


def _param_changes(h: Harness) -> list[dict[str, Any]]:
    return _rows(h.journal, "select param, old, new, user, action from param_changes")


async def test_set_through_the_gateway_reaches_role_processes_and_survives_their_restart(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Real `tradebot oms` and two `tradebot worker` processes: a set confirmed at the gateway
    is acknowledged by 3 of 3; after all three restart, each acknowledges the same revision
    at start (read before deciding anything), the order manager's config shows the value as an
    override, and its journal holds the one change (not journaled again)."""
    config = write_config(
        tmp_path, **{"cluster.nats_url": nats_server.url, "cluster.partitions": 4}
    )
    cfg = cluster_config(load_settings(config))
    roles = [
        ("oms", "--account", "main"),
        ("worker", "--strategy", "MeanReversionV1", "--partitions", "0-1"),
        ("worker", "--strategy", "MeanReversionV1", "--partitions", "2-3"),
    ]
    expected = {"oms.main", "worker.MeanReversionV1-p00-01", "worker.MeanReversionV1-p02-03"}
    nc = await nats_server.connect(GATEWAY)
    js = nc.jetstream()
    journal = Journal(tmp_path / "gateway.db")
    journal.start()
    core = GatewayCore(
        nc, cfg, Confirmations(time.time), journal, SystemClock(), 60, ack_within_sec=30
    )

    async def up() -> bool:
        return expected <= {c.key for c in await read_components(js, cfg)}

    envs = [nats_server.env(u) for u in ("oms.main", *[worker_user("MeanReversionV1")] * 2)]

    async def spawn() -> list[asyncio.subprocess.Process]:
        return [
            await spawn_tradebot(None, *r, "--config", str(config), **env)
            for r, env in zip(roles, envs, strict=True)
        ]

    procs = await spawn()
    try:
        await eventually(up, within=60)
        request = await core.handle("set entry_z 2.2", "U1", "C1", "test")
        assert isinstance(request, ConfirmRequest) and "main: set entry_z" in request.title
        pending = core.accept(request.nonce, "U1", "C1", "test")
        outcome = await core.apply(pending, "U1", "C1", "test")
        assert isinstance(outcome, ChangeOutcome) and outcome.report is not None
        assert set(outcome.report.acked) == expected and outcome.report.complete
        revision = outcome.report.revision
        for proc in procs:
            _, err = await stop_tradebot(proc)
            assert proc.returncode == 0, err.decode()[-2000:]
        procs = await spawn()

        async def acknowledged_again() -> bool:
            acks = {c.key: c.acks.get("params.main") for c in await read_components(js, cfg)}
            return all(acks.get(key) == revision for key in expected)

        await eventually(acknowledged_again, within=60)
        answers = await core.handle("config", "U1", "C1", "test")
        assert isinstance(answers, AccountAnswers)
        (answer,) = answers.answers
        assert isinstance(answer, AccountAnswer)
        assert isinstance(answer.result, ConfigResult)
        (entry,) = [c for c in answer.result.lines if c.path == "strategy.entry_z_threshold"]
        assert (entry.value, entry.source) == ("2.2", "override")
    finally:
        outputs = await asyncio.gather(*(stop_tradebot(p) for p in procs))
        await nc.close()
        journal.close()
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    oms_journal = Journal(tmp_path / "journal.db")
    oms_journal.start()
    try:
        rows = _rows(oms_journal, "select param, new, user from param_changes")
    finally:
        oms_journal.close()
    assert rows == [{"param": "strategy.entry_z_threshold", "new": "2.2", "user": "U1"}]


async def test_an_order_manager_seeds_an_empty_bucket_and_one_with_another_journal_follows_it(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The first order manager of an account writes the runtime changes its journal holds
    (from `tradebot run`) when the bucket has none; one starting on another journal (another
    host) takes the bucket's values and journals them, so its journal agrees."""
    nc = await nats_server.connect()
    js = nc.jetstream()
    cfg = cluster_config(load_settings(write_config(tmp_path, **TWO_ACCOUNTS)))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_harness(tmp_path / "a", **TWO_ACCOUNTS)
    second = make_harness(tmp_path / "b", **TWO_ACCOUNTS)
    try:
        asked = await first.run("set exit_z 0.7")
        assert isinstance(asked, ConfirmRequest)
        await first.core.confirm(asked.nonce, "U1", "C1", "test")
        seeded = await load_account_params(js, cfg, "main", first.service, first.service.journal)
        assert seeded.applied > 0
        standby = await load_account_params(js, cfg, "main", second.service, second.service.journal)
        assert standby.applied == seeded.applied
        assert second.service.settings.get("strategy.exit_z_threshold") == 0.7
        assert second.service.engine.params.exit_z == 0.7
        assert _param_changes(second) == [
            {
                "param": "strategy.exit_z_threshold",
                "old": "0.5",
                "new": "0.7",
                "user": "journal (from the cluster)",
                "action": "set",
            }
        ]
    finally:
        await nc.close()
        first.journal.close()
        second.journal.close()
