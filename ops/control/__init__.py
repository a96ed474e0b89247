"""The transport-independent command core that Slack and the console render: parsing,
commands and queries, confirmations, audited changes of parameters."""
