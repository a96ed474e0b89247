"""Reading a stream from its start, or from a point in market time: how a restarted worker
learns what it had decided and sent, and warms its statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from strategy.params import StrategyParams

FETCH = 1000
# The replay span is this many times what a symbol with a bar every bar_sec needs.
REPLAY_MARGIN = 2


class ReplaySpan(NamedTuple):
    """How long before its ack floor's bar a restarted worker replays bars (`total_sec`), and
    the last part of that in which they are decided again (`decided_sec`); before it they only
    warm the statistics and the marks."""

    total_sec: float
    decided_sec: float


def stream_seq(msg: Msg) -> int:
    return int(msg.metadata.sequence.stream)


def replay_span(params: StrategyParams, bar_sec: float) -> ReplaySpan:
    """A signal less than `cooldown_sec` before the floor still holds the next ones back, so
    the bars of the cooldown are decided again; deciding them needs warm statistics: the last
    `lookback` closes (the volatility window lies inside them: vol_window < lookback). Both
    doubled: a symbol missing up to half of its bars (a halt, a thin market) is still warm, and
    a signal held back by an earlier one is still held back."""
    decided = REPLAY_MARGIN * params.cooldown_sec
    return ReplaySpan(decided + REPLAY_MARGIN * params.lookback * bar_sec, decided)


async def first_seq_at(
    js: JetStreamContext, stream: str, first: int, last: int, at: float, ts: Callable[[Msg], float]
) -> int:
    """The lowest sequence in [first, last + 1] whose message's time `ts` is not before `at`,
    by bisection (log2 of the stream's length direct reads): the stream is stored in time order,
    as an ingestor publishes it. A message that is gone (aged out meanwhile) counts as older,
    and so does one `ts` cannot read (ValueError): an earlier version's, stored before."""
    lo, hi = first, last + 1
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            older = ts(await js.get_msg(stream, seq=mid)) < at  # type: ignore[arg-type]
        except (NotFoundError, ValueError):
            older = True
        lo, hi = (mid + 1, hi) if older else (lo, mid)
    return lo


async def read_stream(
    js: JetStreamContext,
    stream: str,
    subjects: list[str],
    upto: int | None = None,
    start: int | None = None,
) -> AsyncIterator[Msg]:
    """Every message on `subjects` stored when this starts, oldest first (from stream sequence
    `start` when given), up to stream sequence `upto` (inclusive); through an ephemeral consumer
    without acks, deleted at the end."""
    config = ConsumerConfig(
        filter_subjects=subjects, ack_policy=AckPolicy.NONE, inactive_threshold=60.0
    )
    if start is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = start
    sub = await js.pull_subscribe("", stream=stream, config=config)
    info = await sub.consumer_info()
    remaining = info.num_pending or 0
    try:
        while remaining > 0:
            for msg in await sub.fetch(min(remaining, FETCH), timeout=5.0):
                if upto is not None and stream_seq(msg) > upto:
                    return
                remaining -= 1
                yield msg
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(stream, info.name)
