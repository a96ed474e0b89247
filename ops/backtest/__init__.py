"""Backtests on the live engine: the same signal, sizing, risk gate and book, the simulated
broker's frictions (commission, slippage, IOC misses, one bar of latency), and the metrics
the live side is later held to."""
