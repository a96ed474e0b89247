"""The transport-independent command core that Slack and the console render: parsing,
commands and queries, confirmations, audited changes of parameters. It is handed the
account's parts it uses (parts.ControlParts), never the trading service itself."""
