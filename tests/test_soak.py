"""The chaos soak (issue 11's "Done when"): a real `tradebot run` trades one compressed day
(390 one-minute bars per symbol) through the loopback Alpaca while a seeded fault lands every
few seconds, then settles, is killed flat, and is audited against the broker.

`make soak` runs it alone with its figures on the terminal (`pytest -s`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.alpaca import AlpacaFake
from tests.soak.audit import (
    CENT,
    Audit,
    broker_fills_by_order,
    duplicates,
    fill_differences,
    journal_fills_by_order,
    position_mismatches,
    read_journal,
    replay_book,
)
from tests.soak.harness import TIMEOUT_SEC, Soak
from tests.soak.schedule import day_of_bars, fault_schedule
from tests.support import write_config

SEED = 11
CASH = 100_000.0
SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT")


def _config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        **{
            "broker.name": "alpaca",
            "strategy.symbols": list(SYMBOLS),
            "broker.timeout_sec": TIMEOUT_SEC,
            # Alpaca charges no commission and the fake models it: the book's cash must match
            "broker.commission_per_share": 0.0,
            # the day is compressed ~330x: a per-minute order limit in wall time would be
            # ~330x tighter than intended (orders per day stays as shipped)
            "risk.max_orders_per_minute": 10_000,
        },
    )


@pytest.mark.soak
@pytest.mark.timeout(900)  # ~2 min on a quiet machine; more on a loaded one
async def test_a_chaos_day_loses_no_fill_duplicates_no_order_and_ends_flat(
    tmp_path: Path,
) -> None:
    """A chaos day: no fill lost, no order placed twice, book == broker to the cent, flat kill."""
    audit = Audit()
    async with AlpacaFake(cash=CASH) as alpaca:
        env = {
            "ALPACA_API_KEY": "PKTEST",
            "ALPACA_SECRET_KEY": "secret-soak",
            "ALPACA_TRADING_URL": alpaca.trading_url,
            "ALPACA_TRADING_STREAM_URL": alpaca.trading_stream_url,
            "ALPACA_DATA_STREAM_URL": alpaca.data_stream_url,
            "ALPACA_DATA_URL": alpaca.data_url,
        }
        soak = Soak(alpaca, _config(tmp_path), tmp_path, env, SEED)
        try:
            await soak.start()
            await soak.run_day(day_of_bars(SYMBOLS, SEED), fault_schedule(SEED))
            audit.figures["journal_caught_up"] = await soak.settle()
            _compare("settled", soak, alpaca, audit)
            kill_to_flat = await soak.final_kill()
        finally:
            exit_code = await soak.stop()
        _compare("after kill", soak, alpaca, audit)
        _check_kill(soak, alpaca, audit, kill_to_flat, exit_code)
    report = tmp_path / "soak.json"
    report.write_text(json.dumps({**audit.figures, "failures": audit.failures}, indent=2))
    _print(audit, report)
    assert not audit.failures, "soak checks failed:\n" + "\n".join(audit.failures)


def _compare(stage: str, soak: Soak, alpaca: AlpacaFake, audit: Audit) -> None:
    """The journal against the broker: duplicates, fills, positions and cash (the book
    rebuilt from the journal's fills, from the starting cash)."""
    journal = read_journal(soak.journal_path)
    broker_orders = list(alpaca.orders.values())
    dupes = duplicates(broker_orders)
    lost, extra = fill_differences(
        broker_fills_by_order(broker_orders), journal_fills_by_order(journal.fills)
    )
    cash, positions = replay_book(CASH, journal.fills)
    mismatches = position_mismatches(positions, dict(alpaca.positions))
    cash_gap = cash - alpaca.cash
    audit.figures[stage] = {
        "orders_at_broker": len(broker_orders),
        "orders_in_journal": len({o["client_order_id"] for o in journal.orders}),
        "orders_filled_at_broker": sum(1 for o in broker_orders if int(o["filled_qty"])),
        "fills_in_journal": len(journal.fills),
        "duplicates": len(dupes),
        "lost_fills": len(lost),
        "extra_fills": len(extra),
        "position_mismatches": len(mismatches),
        "positions_at_broker": len(alpaca.positions),
        "book_cash": round(cash, 2),
        "broker_cash": round(alpaca.cash, 2),
        "cash_gap": round(cash_gap, 2),
        "anomalies": journal.anomalies,
        "details": {"duplicates": dupes, "lost": lost, "extra": extra, "positions": mismatches},
    }
    audit.check(not dupes, f"{stage}: duplicate orders at the broker: {len(dupes)} {dupes[:5]}")
    audit.check(
        not lost, f"{stage}: fills lost (at the broker, not in the journal): {len(lost)} {lost[:5]}"
    )
    audit.check(
        not extra, f"{stage}: fills journaled beyond the broker's: {len(extra)} {extra[:5]}"
    )
    audit.check(
        not mismatches, f"{stage}: book != broker positions: {len(mismatches)} {mismatches}"
    )
    audit.check(
        abs(cash_gap) < CENT,
        f"{stage}: book cash ${cash:,.2f} != broker cash ${alpaca.cash:,.2f}",
    )


def _check_kill(
    soak: Soak, alpaca: AlpacaFake, audit: Audit, kill_to_flat: float | None, exit_code: int
) -> None:
    """Flat at the broker, a flat kill journaled, and the running book's own cash (its last
    equity snapshot, written at the clean stop) equal to the broker's."""
    journal = read_journal(soak.journal_path)
    audit.figures.update(
        seed=SEED,
        symbols=list(SYMBOLS),
        processes=len(soak.processes),
        faults=dict(sorted(soak.faults.items())),
        kill_to_flat_sec=None if kill_to_flat is None else round(kill_to_flat, 2),
        kills_journaled=journal.kills,
        running_book_cash_at_stop=journal.last_cash,
        exit_code=exit_code,
        notes=soak.notes,
        logs=[str(p.log_path) for p in soak.processes],
    )
    audit.check(kill_to_flat is not None, f"the final kill did not end flat: {alpaca.positions}")
    audit.check(
        any("flat=True" in k for k in journal.kills),
        f"no flat kill in the journal: {journal.kills}",
    )
    audit.check(
        journal.last_cash is not None and abs(journal.last_cash - alpaca.cash) < CENT,
        f"running book's cash at stop {journal.last_cash} != broker cash {alpaca.cash:.2f}",
    )
    audit.check(exit_code == 0, f"tradebot exited with {exit_code} on SIGTERM")


def _print(audit: Audit, report: Path) -> None:
    f = audit.figures
    print("\n== chaos soak ==")
    print(f"seed {f['seed']}, {len(f['symbols'])} symbols x 390 bars, {f['processes']} processes")
    print("faults: " + ", ".join(f"{k} {v}" for k, v in f["faults"].items()))
    for stage in ("settled", "after kill"):
        s = f.get(stage)
        if not isinstance(s, dict):
            continue
        print(
            f"{stage}: orders at broker {s['orders_at_broker']} (journal "
            f"{s['orders_in_journal']}), filled orders {s['orders_filled_at_broker']}, journal "
            f"fills {s['fills_in_journal']}; duplicates {s['duplicates']}, lost fills "
            f"{s['lost_fills']}, extra fills {s['extra_fills']}, position mismatches "
            f"{s['position_mismatches']}, cash gap ${s['cash_gap']:,.2f}, positions at broker "
            f"{s['positions_at_broker']}"
        )
    print(
        f"kill-to-flat {f['kill_to_flat_sec']} s; running book cash at stop "
        f"{f['running_book_cash_at_stop']}"
    )
    print(f"anomalies: {f.get('after kill', {}).get('anomalies')}")
    for note in f["notes"]:
        print(f"note: {note}")
    for failure in audit.failures:
        print(f"FAIL {failure}")
    print(f"figures: {report}")
