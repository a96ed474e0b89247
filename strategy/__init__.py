"""The trading core: the same code runs live, in the simulator and in backtests."""
