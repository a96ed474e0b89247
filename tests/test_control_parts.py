"""The control of trading is a composition, not a hub: the command core, its queries, parameter
changes and the checklist are handed the account's parts they use (ControlParts, composed once
in bot/venues.py), and the surfaces ask the core, never the TradingService behind it."""

from __future__ import annotations

import ast
from pathlib import Path

from ops.shared.results import ConfigResult, ConfirmRequest, Done
from strategy.types import TradingState
from tests.support import make_harness

ROOT = Path(__file__).resolve().parent.parent
CONTROL = [*sorted((ROOT / "ops/control").glob("*.py")), ROOT / "ops/watch/checklist.py"]
SURFACES = [
    ROOT / "bot/console.py",
    *(
        ROOT / "bot/slack" / f"{name}.py"
        for name in ("surface", "listeners", "home", "modal", "status_board")
    ),
]


def _imports_trading_service(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "ops.service.service":
            return True
        if isinstance(node, ast.Import) and any(
            a.name == "ops.service.service" for a in node.names
        ):
            return True
    return False


def _reads_core_service(path: Path) -> list[str]:
    """`core.service`, `self.core.service`, `self._core.service` reads, as `file:line`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "service":
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if name in ("core", "_core"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_control_of_trading_and_its_surfaces_import_no_trading_service() -> None:
    """Each is typed against the narrow views it is handed, not the service."""
    importers = [
        str(p.relative_to(ROOT)) for p in CONTROL + SURFACES if _imports_trading_service(p)
    ]
    assert importers == []


def test_the_surfaces_ask_the_core_not_the_service_behind_it() -> None:
    reads = [read for path in SURFACES for read in _reads_core_service(path)]
    assert reads == []


async def test_the_parts_handed_to_the_core_are_the_running_service_s(tmp_path: Path) -> None:
    """A change applied through the core is in force for the service and for the core's next
    command; an incident the core resolves is the service's; a kill through the core is the
    service's kill switch's (composed once, nothing copied)."""
    h = make_harness(tmp_path)
    request = await h.run("set entry_z 2.5")
    assert isinstance(request, ConfirmRequest)
    assert isinstance(await h.core.confirm(request.nonce, "U1", "C1", "test"), Done)
    assert h.service.settings.get("strategy.entry_z_threshold") == 2.5
    assert h.core.settings is h.service.settings
    config = await h.run("config")
    assert isinstance(config, ConfigResult)
    (line,) = [c for c in config.lines if c.path == "strategy.entry_z_threshold"]
    assert (line.value, line.source) == ("2.5", "override")

    h.service.alert("drill", "warning", "a drill")
    assert isinstance(await h.run("resolve drill"), Done)
    assert "drill" not in h.service.open_alerts

    kill = await h.run("kill")
    assert isinstance(kill, ConfirmRequest)
    await h.core.confirm(kill.nonce, "U1", "C1", "test")
    last = h.service.kill_switch.status().last
    assert last is not None and (last.by, last.source) == ("U1", "kill command")
    assert h.service.trading.state is TradingState.HALTED
