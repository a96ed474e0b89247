"""Errors whose message is for the operator, as is: bad configuration, a refused start-up."""


class ConfigError(ValueError):
    """Names the key, the bad value and what is allowed; `paths` are the keys a check between
    several keys was about (empty for a single value)."""

    def __init__(self, message: str, paths: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.paths = paths


class StartupError(Exception):
    """Start-up refused with a message for the operator (bad config, missing data...)."""
