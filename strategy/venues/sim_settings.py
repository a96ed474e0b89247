"""What the simulated venue is set up with: its starting cash, costs, slippage and fills."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Market orders fill `slippage_bps` worse than the open: exactly, or drawn from a normal
    distribution with `slippage_std_bps`, or drawn from `slippage_samples_bps` (e.g. the
    realized slippage of live fills) when given."""

    starting_cash: float = 100_000.0
    slippage_bps: float = 1.0
    slippage_std_bps: float = 0.0
    slippage_samples_bps: tuple[float, ...] = ()
    commission_per_share: float = 0.005
    partial_fill_prob: float = 0.0
    seed: int = 7
    buying_power_multiple: float = 1.0
