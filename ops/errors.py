"""Errors the configuration raises; the message is for the operator, as is."""


class ConfigError(ValueError):
    """Names the key, the bad value and what is allowed."""
