"""Subject, message-id, stream and bucket names: the wire contract between the roles.

md.bar.p{PP}                       bar batches: the bars of one partition and one bar time,
                                   PP = crc32(SYM) % partitions; msg id
                                   {bar_ts}:p{PP}:{digest of the batch's symbols}
intent.{account}.{strategy}.{SYM}  order intents; msg id = the deterministic client_order_id
exec.{account}.{strategy}.{SYM}    order updates and fills from the order manager; msg id =
                                   the broker's execution id (or the update's own key);
                                   strategy _kill: the kill's flatten orders, _account: others;
exec.{account}.{strategy}._batch   several consecutive updates of one token in one message
                                   (a JSON array); msg id = a digest of their ids
cmd.{account}                      request-reply: the gateway's commands to an account
incident.{account|role}.{role}.{name}  a process's incidents, notices and kill outcomes, for
                                   the gateway's alert threads; msg id = the event's id
incident-ack.{role}.{name}         request-reply: an Acknowledge clicked in Slack, to the
                                   process that owns the incident
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable

BARS_STREAM = "MD_BARS"
INTENTS_STREAM = "INTENTS"
EXEC_STREAM = "EXEC"
INCIDENTS_STREAM = "INCIDENTS"
GATEWAY_INCIDENTS = "gateway-incidents"  # the gateway's durable consumer of INCIDENTS
CONTROL_BUCKET = "tradebot-control"  # kill.global, kill.{account}, pause.global, pause.{account}
COMPONENTS_BUCKET = "tradebot-components"  # {role}.{name}: heartbeat and acknowledged kill
LEASES_BUCKET = "tradebot-leases"  # oms.{account}: the one order manager of an account
PARAMS_BUCKET = "tradebot-params"  # params.{account}: the operators' changes in force


def partition_of(symbol: str, partitions: int) -> int:
    """Stable across processes and Python versions (unlike hash())."""
    return zlib.crc32(symbol.encode()) % partitions


def bar_subject(partition: int) -> str:
    """A partition's bar batches (a worker's consumer filters on exactly this)."""
    return f"md.bar.p{partition:02d}"


def bar_batch_msg_id(partition: int, bar_ts: float, symbols: Iterable[str]) -> str:
    """The same batch published again (a lost PubAck, a second ingestor of the same feed
    batching the same minute alike) is dropped by the server on this id."""
    digest = hashlib.blake2b("\n".join(symbols).encode(), digest_size=8).hexdigest()
    return f"{int(bar_ts)}:p{partition:02d}:{digest}"


def intent_subject(account: str, strategy: str, symbol: str) -> str:
    return f"intent.{account}.{strategy}.{symbol}"


def intent_filter(account: str) -> str:
    return f"intent.{account}.>"


def exec_subject(account: str, strategy: str, symbol: str) -> str:
    return f"exec.{account}.{strategy}.{symbol}"


def exec_batch_subject(account: str, strategy: str) -> str:
    return f"exec.{account}.{strategy}.{EXEC_BATCH}"


def exec_filter(account: str, strategy: str) -> str:
    return f"exec.{account}.{strategy}.>"


# the last token of a message of several updates (a symbol is upper case)
EXEC_BATCH = "_batch"
# the strategy token of updates no intent asked for (an order the operator placed by hand):
# exec.{account}._account.{SYM}
ACCOUNT_ORDERS = "_account"
# the kill's own orders (its flatten orders, anything the account trades while HALTED):
# exec.{account}._kill.{SYM}; every worker of the account follows them for its symbols
KILL_ORDERS = "_kill"


def oms_consumer(account: str) -> str:
    """The order manager's durable consumer of its account's intents."""
    return f"oms-{account}"


def kill_key(account: str | None = None) -> str:
    return f"kill.{account}" if account else "kill.global"


def pause_key(account: str | None = None) -> str:
    return f"pause.{account}" if account else "pause.global"


def lease_key(account: str) -> str:
    return f"oms.{account}"


def params_key(account: str) -> str:
    return f"params.{account}"


def component_key(role: str, name: str) -> str:
    return f"{role}.{name}"


def consumer_name(strategy: str, partition: int) -> str:
    """Durable consumer of one (strategy, partition): a restarted worker resumes its ack floor."""
    return f"{strategy}-p{partition:02d}"


def command_subject(account: str) -> str:
    """Request-reply: the gateway asks an account's order manager (commands, confirmations)."""
    return f"cmd.{account}"


def incident_subject(scope: str, role: str, name: str) -> str:
    """scope: the account the process trades, else its role."""
    return f"incident.{scope}.{role}.{name}"


def incident_ack_subject(process: str) -> str:
    """process: the component key, role.name (outside `incident.>`: never stored)."""
    return f"incident-ack.{process}"
