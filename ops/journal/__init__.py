"""The journal, the source of truth of an account: the SQLite store and its batched writer
thread, the schema, the one-account-per-journal owner file, P&L over periods, and retention
(old equity and latency rows folded into daily summaries)."""
