"""Watching a running account: the monitor's checks, drift against the backtest, the
pre-live checklist, the journal's health, the scheduler and the safety net that composes them,
the health endpoint, and the watchdog process that polls it. They are given the account's parts
as one narrow view (`parts.WatchedParts`, composed in bot/account.py), never the service."""
