"""The Slack surface: Bolt in Socket Mode, /trade, confirmation buttons, alert threads."""
