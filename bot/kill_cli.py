"""`tradebot kill` and `tradebot resume`: local switches for a running service, with or
without Slack or a console. Each drops a file the service watches (by default beside its
journal, so it reaches that service only), then waits for the outcome through the service's
health endpoint, or says where to look when it cannot: also when the endpoint on the port is
another service's, whose outcome is not this one's.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.config.settings import Settings
from ops.journal.owner import expected_file, find_journal, find_kill_file
from ops.safety.kill_switch import KILL_FILE_POLL_SEC
from ops.safety.resume_request import ResumeRequest, resume_file
from ops.safety.seen import Seen
from ops.safety.trading_state import recorded_state
from ops.shared import messages
from ops.shared.errors import StartupError
from strategy.types import TradingState

WAIT_MARGIN_SEC = 10.0  # beyond kill.timeout_sec: the file poll, the drain, the last read
PICKUP_SEC = 5 * KILL_FILE_POLL_SEC
POLL_SEC = 0.2
Health = dict[str, Any]


class HealthClient:
    """The running service's /health, or None when it does not answer."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/health"

    def get(self) -> Health | None:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                data = json.load(response)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and "kill" in data else None

    def wait(self, done: Callable[[Health], bool], within: float) -> Health | None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            health = self.get()
            if health is not None and done(health):
                return health
            time.sleep(POLL_SEC)
        return None


def _read_service(
    settings: Settings, kill_file: Path
) -> tuple[HealthClient | None, Health | None, bool]:
    """The health endpoint of the service watching `kill_file` and its first answer; (None,
    None) when none answers, or when the one answering watches another file (said here, and
    True last)."""
    port = settings.integer("monitoring.health_port")
    client = HealthClient(port) if port else None
    health = client.get() if client is not None else None
    if health is None:
        return None, None, False
    served = health.get("service") or {}
    theirs = str(served.get("kill_file") or "")
    if theirs == str(kill_file):
        return client, health, False
    unknown = "a service that does not say which"
    print(
        messages.HEALTH_OTHER_SERVICE.format(
            port=port,
            owner=served.get("owner") or unknown,
            journal=served.get("journal") or "unknown",
            kill_file=theirs or "unknown",
            path=kill_file,
        ),
        flush=True,
    )
    if Path(theirs).name == kill_file.name:
        print(messages.KILL_FILE_ELSEWHERE, flush=True)
    return None, None, True


def _where_to_look(settings: Settings, what: str) -> str:
    try:
        journal = str(find_journal(settings))  # an Alpaca account's by its number
    except StartupError:  # none or several: say which name to look for
        journal = expected_file(settings)
    return (
        f"this service's health endpoint did not answer; for how the {what} ended see "
        f"the service's log, the journal {journal} (`runs` table, "
        f"event '{what}') or the Slack alerts channel"
    )


def kill(settings: Settings, clear: bool) -> int:
    path = Path(os.path.abspath(find_kill_file(settings)))  # a relative journal.dir: from here
    if clear:
        return _clear(settings, path)
    client, before, foreign = _read_service(settings, path)
    if path.exists():
        print(f"kill switch already armed: {path}; it killed when it appeared")
        if before is not None and before["kill"]["last"] is not None:
            print(f"last kill: {render_outcome(before['kill']['last'])}")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    print(f"kill switch armed: {path}", flush=True)
    if client is None or before is None:
        print(_where_to_look(settings, "kill"))
        return 1 if foreign else 0  # another's endpoint: maybe no service watches this file
    asked = before["kill"]["requests"]

    def ended(health: Health) -> bool:
        last = health["kill"]["last"]
        return health["kill"]["requests"] > asked and last is not None and not last["running"]

    within = settings.number("kill.timeout_sec") + WAIT_MARGIN_SEC
    after = client.wait(ended, within)
    if after is None:
        print(f"the service reported no outcome within {within:.0f}s")
        print(_where_to_look(settings, "kill"))
        return 1
    last = after["kill"]["last"]
    print(render_outcome(last))
    print("to trade again: `tradebot kill --clear`, then `tradebot resume`")
    return 0 if last["flat"] else 1


def _clear(settings: Settings, path: Path) -> int:
    """Remove the file, and say what that leaves: a HALT (the running service's state, else the
    journal's, which a start restores) stays until a resume; without one there was no kill."""
    if not path.exists():
        print(f"no kill switch file at {path}; nothing to clear")
        return 0
    _, health, _ = _read_service(settings, path)
    if health is not None:
        state: TradingState | None = TradingState(health["state"])
        source = "the running service"
    else:
        try:
            journal = find_journal(settings)
        except StartupError:  # none or several: nothing to say for sure
            journal = Path(expected_file(settings))
        state = recorded_state(journal)
        source = f"the journal {journal}"
    path.unlink(missing_ok=True)
    if state is TradingState.HALTED:
        print(messages.KILL_CLEARED_HALTED.format(path=path, source=source))
    else:
        now = "no trading state" if state is None else f"trading {state}"
        print(messages.KILL_CLEARED_NO_KILL.format(path=path, source=source, now=now))
    return 0


def render_outcome(last: Health) -> str:
    by = f"kill by {last['by']} ({last['source']})"
    if last["running"]:
        return f"{by}: still running"
    elapsed = last["elapsed_sec"] or 0.0
    if last["flat"]:
        text = f"FLAT after {elapsed:.1f}s, {by}"
    else:
        still = ", ".join(f"{s} {q:+d}" for s, q in last["remaining"].items()) or "unknown"
        text = (
            f"NOT FLAT after {elapsed:.1f}s, {by}: still open {still}; the service keeps retrying"
        )
    return "\n".join([text, *(f"  error: {e}" for e in last["errors"])])


def resume(settings: Settings, yes: bool) -> int:
    path = Path(os.path.abspath(find_kill_file(settings)))  # a relative journal.dir: from here
    if path.exists():
        print(
            f"tradebot: the kill switch file {path} exists: `tradebot kill --clear` first",
            file=sys.stderr,
        )
        return 1
    if not yes and not sys.stdin.isatty():
        print("tradebot: resume needs --yes when not run from a terminal", file=sys.stderr)
        return 2
    client, before, _ = _read_service(settings, path)
    if before is not None and before["state"] == "ACTIVE":
        print("trading is already ACTIVE; nothing to resume")
        return 0
    if before is not None:
        print(f"trading is {before['state']}: {before['state_reason']}")
    if not yes:
        answer = input("resume trading (new entries will be placed again)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    # what was shown: the service refuses the request if a kill or a state change came since
    seen = None if before is None else Seen(before["kill"]["kills"], TradingState(before["state"]))
    request = resume_file(path)
    staged = request.with_name(request.name + ".new")
    staged.write_text(ResumeRequest(_user(), seen).text())
    staged.replace(request)  # whole at once: the service never reads half a request
    print(f"resume requested: {request}", flush=True)
    deadline = time.monotonic() + PICKUP_SEC
    while request.exists() and time.monotonic() < deadline:
        time.sleep(POLL_SEC)
    if request.exists():
        request.unlink(missing_ok=True)
        print(f"no running service took the request within {PICKUP_SEC:.0f}s; withdrawn")
        return 1
    if client is None or before is None:
        print(_where_to_look(settings, "resume"))
        return 0
    asked = before["kill"]["resume_requests"]
    after = client.wait(lambda h: h["kill"]["resume_requests"] > asked, PICKUP_SEC)
    if after is None:
        print(_where_to_look(settings, "resume"))
        return 1
    result = str(after["kill"]["resume_result"])
    refused = result.startswith("refused")
    print(f"{result}; trading stays {after['state']}" if refused else result)
    return 1 if refused else 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "local"
