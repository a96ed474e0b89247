"""The surfaces: terminal console, Slack (later), and the composition root / CLI."""
