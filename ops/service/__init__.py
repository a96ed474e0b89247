"""The trading service of one account: the engine, book, gate, broker, journal and incidents
held together, start-up recovery, reconcile with the broker, positions and orders the bot did
not open, and the supervision of its long-lived tasks."""
