"""The soak's driver: a real `tradebot run` (alpaca-py inside) against the loopback Alpaca;
it pushes the day's bars at a fixed cadence, injects each scheduled fault, kills the process
with SIGKILL mid-order and restarts it on the same journal, then settles and kills it flat."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

from tests.fakes.alpaca import TERMINAL, AlpacaFake
from tests.soak.audit import broker_fills_by_order, journal_fills_by_order, read_journal
from tests.soak.schedule import SIGKILL, Fault, Quote
from tests.support import REPO, eventually

BAR_SEC = 60
CADENCE_SEC = 0.18  # wall seconds per market minute: 390 bars in about 70 s
TIMEOUT_SEC = 2.0  # broker.timeout_sec in the soak's config; a slow reply exceeds it
READY_WITHIN = 30.0
SETTLE_WITHIN = 20.0
FLAT_WITHIN = 60.0


class TradebotProcess:
    """One `tradebot run`: output to files under the run folder (a pipe nobody reads would
    fill up and block the service's logging)."""

    def __init__(self, config: Path, folder: Path, env: dict[str, str], index: int) -> None:
        self.config = config
        self.log_path = folder / f"tradebot-{index}.log"
        self._env = env
        self._log: IO[bytes] | None = None
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "ALPACA_", "TRADEBOT_"))
        }
        self._log = self.log_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(self.config),
            cwd=REPO,
            env={**clean, **self._env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )

    def alive(self) -> bool:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(
                f"tradebot exited with {self.proc.returncode}; log {self.log_path}:\n{self.tail()}"
            )
        return True

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def sigkill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()
        self._close_log()

    async def terminate(self) -> int:
        """SIGTERM and wait: a clean stop journals the book's last equity snapshot."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
        try:
            code = await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            code = await self.proc.wait()
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class Soak:
    def __init__(
        self, alpaca: AlpacaFake, config: Path, folder: Path, env: dict[str, str], seed: int
    ) -> None:
        self.alpaca = alpaca
        self.config = config
        self.folder = folder
        self.journal_path = folder / "journal.db"
        self._env = env
        self._seed = seed
        self.processes: list[TradebotProcess] = []
        self.faults: Counter[str] = Counter()
        self.notes: list[str] = []
        self._restart: asyncio.Task[None] | None = None
        self._market: asyncio.Task[None] | None = None
        alpaca.delay_fills = True  # as at Alpaca: the POST answers "new", fills come after

    @property
    def process(self) -> TradebotProcess:
        return self.processes[-1]

    # -- the process -----------------------------------------------------------------------

    async def start(self) -> None:
        data, trading = self.alpaca.data_connections, self.alpaca.trading_connections
        process = TradebotProcess(self.config, self.folder, self._env, len(self.processes))
        self.processes.append(process)
        await process.start()
        await eventually(
            lambda: (
                process.alive()
                and self.alpaca.data_connections > data
                and self.alpaca.trading_connections > trading
            ),
            within=READY_WITHIN,
        )

    async def _sigkill_mid_order_and_restart(self) -> None:
        """SIGKILL while an order's reply is held back (it is placed, the reply not yet
        sent), then a new process on the same journal: start-up recovery runs."""
        before = len(self.alpaca.orders)
        self.alpaca.slow_next_order(5.0)
        try:
            await eventually(lambda: len(self.alpaca.orders) > before, within=20)
        except AssertionError:
            self.notes.append("sigkill: no order was in flight within 20 s; killed anyway")
        await self.process.sigkill()
        self.alpaca.slow_next_order(0.0)
        await self.start()

    # -- the day ---------------------------------------------------------------------------

    async def run_day(self, day: list[dict[str, Quote]], faults: list[Fault]) -> None:
        """Push every bar, then let resting orders execute at its quotes (an order placed
        during a bar fills, or an IOC limit is canceled, at the next); a fault at its bar."""
        first_ts = float(int(time.time()) // BAR_SEC * BAR_SEC)
        by_bar: dict[int, list[str]] = {}
        for fault in faults:
            by_bar.setdefault(fault.bar, []).append(fault.kind)
        for minute, row in enumerate(day):
            for kind in by_bar.get(minute, []):
                await self.inject(kind)
            ts = first_ts + BAR_SEC * minute
            for symbol, q in row.items():
                await self.alpaca.push_bar(symbol, ts, q.close, quote=q.quote)
            self.alpaca.fill_pending()
            await asyncio.sleep(CADENCE_SEC)  # pacing the market, not waiting for a result
        if self._restart is not None:
            await self._restart

    async def inject(self, kind: str) -> None:
        self.faults[kind] += 1
        a = self.alpaca
        match kind:
            case "data_drop":
                await a.drop_data_connections()
            case "trading_drop":
                await a.drop_trading_connections()
            case "trading_drop_429":
                a.fail_next("GET", "/v2/orders", 429, 42910000, times=2)
                await a.drop_trading_connections()
            case "rate_limit":
                a.fail_next("POST", "/v2/orders", 429, 42910000)
            case "error_after_place":
                a.fail_next_order_after_placing(503)
            case "timeout":
                a.slow_next_order(TIMEOUT_SEC + 1.5)
            case "partial_fill":
                a.partial_next(1)
            case "stubborn_close":
                held = sorted(a.positions) or sorted(a.prices)
                symbol = held[(self._seed + self.faults[kind]) % len(held)]
                a.refuse_close(symbol, times=2)
            case _ if kind == SIGKILL:
                self._restart = asyncio.get_running_loop().create_task(
                    self._sigkill_mid_order_and_restart(), name="soak-restart"
                )
            case _:
                raise ValueError(f"unknown fault {kind}")

    # -- settle and kill -------------------------------------------------------------------

    def _working_at_broker(self) -> list[dict[str, object]]:
        return [o for o in self.alpaca.orders.values() if o["status"] not in TERMINAL]

    async def settle(self) -> bool:
        """No more faults (armed ones are disarmed): resting orders trade, then wait
        (bounded) until the journal holds every fill the broker made. False if it never does
        (the audit says which)."""
        self.alpaca.clear_faults()
        self._market = asyncio.get_running_loop().create_task(self._trade_on(), name="market")

        def caught_up() -> bool:
            self.process.alive()
            journal = journal_fills_by_order(read_journal(self.journal_path).fills)
            broker = broker_fills_by_order(list(self.alpaca.orders.values()))
            shares = {coid: qty for coid, (qty, _) in journal.items()}
            return shares == {coid: qty for coid, (qty, _) in broker.items()} and not (
                self._working_at_broker()
            )

        try:
            await eventually(caught_up, within=SETTLE_WITHIN)
        except AssertionError:
            self.notes.append(f"settle: journal not caught up after {SETTLE_WITHIN:.0f} s")
            return False
        return True

    async def final_kill(self) -> float | None:
        """`tradebot kill` (the CLI); returns the seconds until the broker is flat with nothing
        working (None if it never is within FLAT_WITHIN), once the service has journaled how
        its kill ended (or that wait timed out too)."""
        started = time.monotonic()
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "kill",
            "--config",
            str(self.config),
            cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(cli.communicate(), FLAT_WITHIN)
        assert cli.returncode == 0, out.decode()

        def flat() -> bool:
            self.process.alive()
            return not self.alpaca.positions and not self._working_at_broker()

        try:
            await eventually(flat, within=FLAT_WITHIN)
        except AssertionError:
            return None
        elapsed = time.monotonic() - started
        try:
            await eventually(lambda: read_journal(self.journal_path).kills, within=FLAT_WITHIN)
        except AssertionError:
            self.notes.append(f"kill: no outcome journaled {FLAT_WITHIN:.0f} s after flat")
        return elapsed

    async def _trade_on(self) -> None:
        """After the last bar the market stays open: resting orders keep executing."""
        while True:
            self.alpaca.fill_pending()
            await asyncio.sleep(CADENCE_SEC)

    async def stop(self) -> int:
        if self._market is not None:
            self._market.cancel()
        if not self.processes or self.process.proc is None:
            return -1
        return await self.process.terminate()
