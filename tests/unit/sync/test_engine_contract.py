"""The engine package keeps to its ports: no module of sync/ imports asyncio, simpy, time, random,
uuid, the simulation or the fakes; and every built-in pattern meets the engine contract."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rehearse.sync
from rehearse.sim.engines import BUILTIN_FACTORIES
from rehearse.sync.engine import REQUIRED_MEMBERS

FORBIDDEN = {"asyncio", "simpy", "time", "random", "uuid", "datetime", "threading"}
SYNC_DIR = Path(rehearse.sync.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(SYNC_DIR.glob("*.py")), ids=lambda path: path.name)
def test_engine_code_reaches_the_world_only_through_its_ports(path):
    imported = _imports(path)
    assert not {name.split(".")[0] for name in imported} & FORBIDDEN
    assert not [name for name in imported if name.startswith(("rehearse.sim", "rehearse.fakes"))]


@pytest.mark.parametrize("pattern", sorted(BUILTIN_FACTORIES))
def test_every_builtin_pattern_meets_the_contract(pattern):
    cls = {"p2p": "P2pEngine", "batch": "BatchEngine", "event": "EventEngine",
           "orchestrated": "OrchestratedEngine"}[pattern]
    module = __import__(f"rehearse.sync.{pattern}", fromlist=[cls])
    engine_class = getattr(module, cls)
    missing = [member for member in REQUIRED_MEMBERS
               if member != "up" and not callable(getattr(engine_class, member, None))]
    assert missing == [] and engine_class.pattern == pattern
