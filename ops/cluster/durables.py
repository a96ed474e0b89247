"""A role's durable consumer as this version wants it, whatever an earlier version left.

nats-py binds an existing durable consumer as it is, so one created by an earlier version goes
on with that version's settings: a worker's bars consumer still filtering the single-bar
subjects `md.bar.p{PP}.{SYM}` delivers none of today's batches (and each old bar as one
malformed message), an order manager's intents consumer keeps its old max_ack_pending. Each
role that owns a durable checks it at start; where it differs, the durable is deleted and
created again as wanted, resuming just after the old one's acknowledged floor: what was
acknowledged is not delivered again, nothing after it is skipped (a message delivered but not
acknowledged comes again, as after any restart, and is taken as a repeat: each role says how).
"""

from __future__ import annotations

import dataclasses
import logging
import math

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

# what every role sets on its durable; anything else (the start) is the server's to keep
CHECKED = ("filter_subject", "ack_policy", "ack_wait", "max_ack_pending")


def differences(have: ConsumerConfig, want: ConsumerConfig) -> list[str]:
    """`field old -> new` for each checked field `want` sets and `have` has otherwise."""
    changed = []
    for field in CHECKED:
        wanted, found = getattr(want, field), getattr(have, field)
        if wanted is None or _same(found, wanted):
            continue
        changed.append(f"{field} {_shown(found)} -> {_shown(wanted)}")
    return changed


def _same(found: object, wanted: object) -> bool:
    if isinstance(found, float) and isinstance(wanted, float | int):
        return math.isclose(found, wanted)
    return found == wanted


def _shown(value: object) -> str:
    return str(getattr(value, "value", value))


async def ensure_durable(
    js: JetStreamContext, stream: str, name: str, want: ConsumerConfig, again: str
) -> ConsumerInfo | None:
    """Recreate durable `name` on `stream` when it differs from `want` (its filter_subject
    set), logging one line that says what changed, where it resumes and what becomes of a
    message delivered again (`again`: why it is not doubled). The replaced consumer's last
    info, or None when there was nothing to replace (absent or as wanted: pull_subscribe binds
    or creates it)."""
    try:
        info = await js.consumer_info(stream, name)
    except NotFoundError:
        return None
    changed = differences(info.config, want)
    if not changed:
        return None
    floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
    config = dataclasses.replace(want, name=name, durable_name=name)
    if floor:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = floor + 1
    else:
        config.deliver_policy = DeliverPolicy.ALL
    await js.delete_consumer(stream, name)
    await js.add_consumer(stream, config)
    where = f"after stream sequence {floor}, its acknowledged floor" if floor else "at the start"
    log.warning(
        "durable consumer %s on %s was made by an earlier version (%s): recreated, it resumes "
        "%s: nothing acknowledged comes again, nothing after it is skipped, and %s",
        name,
        stream,
        "; ".join(changed),
        where,
        again,
    )
    return info
