"""Secrets never reach the journal: a Slack token in a string is cut before the row is queued."""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)
SECRET = re.compile(r"(?:xox[abpr]|xapp)-[A-Za-z0-9-]+")  # Slack token shapes


def redact(value: str) -> str:
    """A Slack token anywhere in a string (an error message quoting a request...) is cut."""
    if "xox" not in value and "xapp-" not in value:
        return value
    redacted = SECRET.sub("[redacted]", value)
    if redacted != value:
        log.error("a secret-looking value was about to be journaled; redacted")
    return redacted
