"""Errors whose message is for the operator, as is: bad configuration, a refused start-up."""


class ConfigError(ValueError):
    """Names the key, the bad value and what is allowed."""


class StartupError(Exception):
    """Start-up refused with a message for the operator (bad config, missing data...)."""
