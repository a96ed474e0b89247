"""Loopback fakes that speak the real wire protocols, for the real clients."""
