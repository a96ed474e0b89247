"""Operating the trading core: one package per concern, each importing only those listed
below it (import-linter checks this in `make lint`):

    cluster   scaling out on NATS JetStream (ingest, worker, order manager, gateway)
    control   the transport-independent command core: commands, confirmations, changes
    watch     checks, the safety net that schedules them, health endpoint, watchdog
    service   the trading service of one account, its recovery and reconcile
    safety    trading state, kill switch, flatten, instance lock, kill and resume files
    backtest  the live engine on history, its metrics and reports
    journal   the SQLite journal: writer, schema, owner, P&L, retention
    config    typed settings and the parameters operators may change
    shared    what every part uses: result types, error types, user-facing wording
"""
