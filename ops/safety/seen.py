"""What a confirmation showed when it was asked, so that it is refused when confirmed if that
no longer holds: a `resume` asked while PAUSED must not lift a kill made after it."""

from __future__ import annotations

from dataclasses import dataclass

from strategy.types import TradingState


@dataclass(frozen=True, slots=True)
class Seen:
    kills: int  # kill requests so far (a person, the kill file, the control plane)
    state: TradingState | None = None  # None: the action does not depend on the state

    def changed(self, kills: int, state: TradingState, reason: str) -> str | None:
        """What is different now (None: nothing that matters to the action)."""
        if kills != self.kills:
            return f"a kill was requested since (trading is {state}: {reason})"
        if self.state is not None and state is not self.state:
            return f"trading was {self.state}, now {state} ({reason})"
        return None
