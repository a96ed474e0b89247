"""Venues: the simulated market and broker (embedded default); Alpaca comes later."""
