"""Which engine a run drives: a built-in pattern by name, or an outside factory by its spec.

`build_engine` is the one place the harness makes an engine. Built-in patterns are trusted code of
this project; an outside engine is loaded by `rehearse.sim.plugins` and wrapped in a guard that
turns its failures (an exception, an answer of the wrong type) into `EngineFailure` naming it.
"""

from __future__ import annotations

from rehearse.sim.engine_guard import GuardedEngine, GuardedRuntime
from rehearse.sim.plugins import EngineFailure, load_factory
from rehearse.sim.watchdog import Watchdog
from rehearse.sync import batch, event, orchestrated, p2p
from rehearse.sync.engine import Engine, EngineFactory, EnginePorts

BUILTIN_FACTORIES: dict[str, EngineFactory] = {
    "p2p": p2p.create,
    "batch": batch.create,
    "event": event.create,
    "orchestrated": orchestrated.create,
}


def build_engine(section, ports: EnginePorts, *, stall_limit_s: float = 60.0) -> Engine:
    """The engine of a scenario's ``[engine]`` section (`factory` wins over `pattern`). An outside
    factory that does not return within `stall_limit_s` raises `SimulationStalled`."""
    if section.factory is None:
        return BUILTIN_FACTORIES[section.pattern](ports)
    spec = section.factory
    factory = load_factory(spec)
    guarded_ports = ports._replace(runtime=GuardedRuntime(ports.runtime, spec))
    try:
        with Watchdog(lambda: None, stall_limit_s):  # nothing moves while a factory runs: it must return
            engine = factory(guarded_ports)
    except Exception as error:
        raise EngineFailure(spec, f"failed to start: its factory raised {type(error).__name__}: {error}") from error
    return GuardedEngine(engine, spec)
