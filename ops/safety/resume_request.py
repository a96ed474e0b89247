"""The resume request `tradebot resume` drops beside the kill file for the running service:
one line, who asks and, when the CLI could read the service's health endpoint, what they saw
(`alice kills=2 state=HALTED`). The service refuses it if a kill came after what was seen, or,
for a request that saw nothing, after the file was written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ops.safety.seen import Seen
from strategy.types import TradingState

MAX_BYTES = 1024  # a request is one short line; anything bigger is not one


def resume_file(kill_file: Path) -> Path:
    """Where `tradebot resume` asks the running service to resume: beside the kill file."""
    return kill_file.with_name(kill_file.name + ".resume")


@dataclass(frozen=True, slots=True)
class ResumeRequest:
    user: str
    seen: Seen | None = None

    def text(self) -> str:
        words = [self.user]
        if self.seen is not None:
            words.append(f"kills={self.seen.kills}")
            if self.seen.state is not None:
                words.append(f"state={self.seen.state}")
        return " ".join(words) + "\n"

    @classmethod
    def parse(cls, text: str) -> ResumeRequest:
        """ValueError when the line says what a request cannot mean (a count that is not one,
        an unknown state)."""
        words = text.split()
        user = (words or ["unknown"])[0][:64]
        fields = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        if "kills" not in fields:
            return cls(user)
        state = fields.get("state")
        return cls(user, Seen(int(fields["kills"]), None if state is None else TradingState(state)))
