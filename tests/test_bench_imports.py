"""`make bench` imports every figure's module before it measures one: a module moved or renamed
in the product must not leave the benchmarks unable to start (nothing else imports them)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("__"))
)
def test_every_bench_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
