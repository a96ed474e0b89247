"""`tradebot cluster`: a whole cluster on this machine, for trying it: a local nats-server
(JetStream, the shipped configuration) and one process of each role, their logs prefixed with
the role's name. NATS is authenticated as in production: a user per role with its own
permissions, its random password generated for this run and given to that role only. A role
that exits stops the cluster and says which; so do Ctrl-C, SIGTERM and --duration, and an
output whose reader has gone (`tradebot cluster | head`), quietly. A
nats-server that ends by itself is started again on its port and store, with the same users
(the roles reconnect and resume). Production runs each role on its own host against a 3-node
JetStream cluster."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ops.config.settings import config_path, load_settings
from ops.shared import messages
from ops.shared.errors import ConfigError

if TYPE_CHECKING:
    from ops.cluster.credentials import Login
    from ops.cluster.server import LocalNats

STOP_GRACE_SEC = 15.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cluster = sub.add_parser(
        "cluster", help="cluster: a local nats-server and one process of each role"
    )
    cluster.add_argument("--config", help="config file (default: $TRADEBOT_CONFIG or config.yaml)")
    cluster.add_argument("--duration", type=float, help="stop every role after this many seconds")
    cluster.add_argument("--data", help="the ingestor replays bars from this CSV")
    cluster.add_argument("--speed", type=float, help="simulated seconds per real second (0 = max)")
    cluster.add_argument(
        "--workers",
        type=int,
        default=2,
        help="workers per strategy, each a share of the partitions",
    )
    cluster.set_defaults(run_role=run)
    auth = sub.add_parser(
        "nats-auth",
        help="cluster: print the nats-server users and permissions for this config's roles",
    )
    auth.add_argument("--config", help="config file (default: $TRADEBOT_CONFIG or config.yaml)")
    auth.set_defaults(run_role=print_auth)


def print_auth(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """The `authorization` block for a deployment's server configuration: a user per role of
    config.yaml's accounts and strategies, each password read by the server from a variable of
    its environment, so the output holds no secret (README "Scaling out")."""
    from ops.cluster.config import cluster_config
    from ops.cluster.permissions import Layout, authorization_from_env, password_variable

    cfg = cluster_config(load_settings(config_path(args.config, env), env=env))
    layout = Layout.of(cfg)
    print("# tradebot's NATS users; the server reads each password from its environment:")
    for user in layout.users():
        print(f"#   {user}: ${password_variable(user)}")
    print(authorization_from_env(layout), end="")
    return 0


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]


def roles(
    strategies: Sequence[str],
    accounts: Sequence[str],
    partitions: int,
    workers: int,
    common: Sequence[str],
    feed: Sequence[str],
    env: Mapping[str, str],
    logins: Mapping[str, Login] | None = None,
) -> list[Role]:
    """Order managers first (they take their leases), then the workers, the Slack gateway when
    both tokens are set, and the ingestor last. Each order manager picks its account's own
    journal (data/cluster-ACCOUNT.db on the simulator) unless journal.path names one. With
    `logins`, each role's environment holds its own NATS user and password, no other's."""
    from ops.cluster.credentials import GATEWAY, INGEST, oms_user, worker_user

    def as_user(user: str, base: Mapping[str, str]) -> dict[str, str]:
        return {**base, **(logins[user].env() if logins else {})}

    plan = []
    for account in accounts:
        plan.append(
            Role(
                f"oms.{account}",
                ("oms", "--account", account, *common),
                as_user(oms_user(account), env),
            )
        )
    for strategy in strategies:
        for first, last in split(partitions, workers):
            plan.append(
                Role(
                    f"worker.{strategy}.p{first:02d}-{last:02d}",
                    ("worker", "--strategy", strategy, "--partitions", f"{first}-{last}", *common),
                    as_user(worker_user(strategy), env),
                )
            )
    if env.get("SLACK_BOT_TOKEN") and env.get("SLACK_APP_TOKEN"):
        plan.append(Role("gateway", ("gateway", *common), as_user(GATEWAY, env)))
    plan.append(Role("ingest", ("ingest", *common, *feed), as_user(INGEST, env)))
    return plan


def split(partitions: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous, inclusive ranges covering every partition, as even as they come."""
    workers = max(1, min(workers, partitions))
    bounds = [round(i * partitions / workers) for i in range(workers + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(workers)]


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    return asyncio.run(_cluster(args, env))


async def _cluster(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from bot.slack import tokens as slack_tokens
    from ops.cluster.config import cluster_config
    from ops.cluster.permissions import Layout, password_variable
    from ops.cluster.server import LocalNats

    slack_tokens.check(env.get(slack_tokens.BOT_VARIABLE), env.get(slack_tokens.APP_VARIABLE))
    path = config_path(args.config, env)
    cfg = cluster_config(load_settings(path, env=env))
    layout = Layout.of(cfg)
    # a password set in TRADEBOT_NATS_PASSWORD_<USER> is that user's (to connect as the admin)
    given = {user: env.get(password_variable(user), "") for user in layout.users()}
    server = LocalNats(Path(cfg.store_dir), layout=layout, passwords=given)
    await server.start()
    out = Output()
    users = ", ".join(user for user in server.logins)
    where = f"JetStream on {server.url} (pid {server.pid}), store {cfg.store_dir}"
    out.say("nats", f"{where}; users {users}")
    common = ("--config", str(path))
    feed = [*(("--data", args.data) if args.data else ()), *_speed(args.speed)]
    given_names = {password_variable(user) for user in given}
    child_env = {k: v for k, v in env.items() if k not in given_names}  # no role has another's
    child_env["TRADEBOT_NATS_URL"] = server.url
    plan = roles(
        tuple(cfg.strategies),
        cfg.accounts,
        cfg.partitions,
        args.workers,
        common,
        feed,
        child_env,
        server.logins,
    )
    running: dict[str, asyncio.subprocess.Process] = {}
    pumps = []
    keeper = asyncio.ensure_future(_keep_serving(server, out))
    try:
        for role in plan:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *role.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(role.env),
            )
            running[role.name] = proc
            pumps.append(asyncio.ensure_future(_pump(role.name, proc, out)))
        ended = await _until_stop(running, args.duration, keeper, out.closed)
    finally:
        keeper.cancel()
        await _stop_all(running)
        await asyncio.gather(*pumps, return_exceptions=True)
        await server.stop()
    if ended is not None:
        name, code = ended
        out.say("cluster", f"{name} exited with {code}: the cluster was stopped")
        return 1
    out.say("cluster", "stopped")
    return 0


def _speed(speed: float | None) -> tuple[str, ...]:
    return ("--speed", str(speed)) if speed is not None else ()


async def _keep_serving(server: LocalNats, out: Output) -> None:
    """Start the server again each time it ends by itself; returns only when it cannot."""
    while True:
        code = await server.exited()
        out.say("nats", f"nats-server exited with {code}: starting it again on {server.url}")
        try:
            await server.start()
        except (ConfigError, OSError) as exc:
            out.say("nats", f"nats-server did not start again: {exc}")
            return
        out.say("nats", f"JetStream on {server.url} again (pid {server.pid})")


async def _until_stop(
    running: Mapping[str, asyncio.subprocess.Process],
    duration: float | None,
    keeper: asyncio.Future[None],
    output_closed: asyncio.Event,
) -> tuple[str, int] | None:
    """The first role to exit (name, code), the server if it could not be started again
    (`keeper` ended), or None on a signal, --duration or a closed output."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exits = {asyncio.ensure_future(proc.wait()): name for name, proc in running.items()}
    stopper = asyncio.ensure_future(stop.wait())
    unread = asyncio.ensure_future(output_closed.wait())
    done, _ = await asyncio.wait(
        {*exits, stopper, unread, keeper}, timeout=duration, return_when=asyncio.FIRST_COMPLETED
    )
    for waiter in (*exits, stopper, unread):
        if waiter not in done:
            waiter.cancel()
    for waiter in done:
        if waiter in exits:
            return exits[waiter], int(waiter.result())
    if keeper in done:
        return "nats-server", 1
    return None


async def _stop_all(running: Mapping[str, asyncio.subprocess.Process]) -> None:
    """SIGTERM in reverse start order (the ingestor first, the order managers last), so each
    role stops cleanly; SIGKILL only after STOP_GRACE_SEC."""
    for proc in reversed(list(running.values())):
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE_SEC)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _pump(name: str, proc: asyncio.subprocess.Process, out: Output) -> None:
    """The role's lines, read to its end (once the output is closed, into nothing), so a
    role stopping never waits on a full pipe."""
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        out.say(name, line.decode(errors="replace").rstrip())


class Output:
    """The cluster's stdout, each line prefixed with who said it. Once its reader has gone
    (`tradebot cluster | head`), the cluster stops as on Ctrl-C, the roles cleanly, and what is
    still said goes nowhere: no traceback, as `tradebot run`'s console on a closed stdout."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    def say(self, name: str, text: str) -> None:
        if self.closed.is_set():
            return
        try:
            print(f"[{name}] {text}", flush=True)
        except BrokenPipeError:
            self._gone()

    def _gone(self) -> None:
        from bot.app import discard_stdout

        discard_stdout()  # the interpreter's last flush too
        self.closed.set()
        print(f"[cluster] {messages.CLUSTER_OUTPUT_CLOSED}", file=sys.stderr, flush=True)
