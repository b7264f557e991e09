"""A guard around an outside engine: the harness never crashes on its mistakes.

`GuardedEngine` checks every answer's type and turns an exception into `EngineFailure` naming the
engine; `GuardedRuntime` does the same for the workflows and callbacks the engine schedules. A
hang (a workflow that never awaits, so virtual time stops) is caught by `rehearse.sim.watchdog`.
Built-in patterns are not wrapped: they are this project's code and covered by its tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from rehearse.sim.plugins import EngineFailure
from rehearse.sync.engine import REQUIRED_MEMBERS
from rehearse.sync.model import Event

OPTIONAL_METHODS = ("replay", "replay_dead_letters", "accept_api_version")
OPTIONAL_VALUES = ("store", "last_gap_fill_s")


def _kind(value: Any) -> str:
    return f"{value!r} (a {type(value).__name__})"


class GuardedRuntime:
    """The runtime port, with the engine's workflows and callbacks guarded."""

    def __init__(self, runtime, engine_name: str) -> None:
        self._runtime = runtime
        self._name = engine_name
        self.now = runtime.now
        self.sleep = runtime.sleep
        self.queue = runtime.queue

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a workflow; if it raises, the run ends with `EngineFailure`."""
        if not inspect.iscoroutine(coroutine):
            raise EngineFailure(self._name, f"spawned {_kind(coroutine)}, not a coroutine")
        self._runtime.spawn(self._guarded(coroutine))

    async def _guarded(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await coroutine
        except EngineFailure:
            raise
        except Exception as error:
            raise EngineFailure(self._name, f"a workflow raised {type(error).__name__}: {error}") from error

    def call_later(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        """Call `callback(*args)` later; if it raises, the run ends with `EngineFailure`."""
        self._runtime.call_later(delay_s, self._call, callback, args)

    def _call(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except EngineFailure:
            raise
        except Exception as error:
            raise EngineFailure(self._name, f"a callback raised {type(error).__name__}: {error}") from error


class GuardedEngine:
    """An outside engine behind checks: wrong answers and exceptions become `EngineFailure`."""

    def __init__(self, engine: Any, name: str) -> None:
        missing = [member for member in REQUIRED_MEMBERS if not hasattr(engine, member)]
        if missing:
            raise EngineFailure(name, f"returned {type(engine).__name__}, which lacks {', '.join(missing)} "
                                      f"(see rehearse.sync.engine.Engine)")
        self._engine = engine
        self.name = name

    def _run(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._engine, method)(*args)
        except EngineFailure:
            raise
        except Exception as error:
            raise EngineFailure(self.name, f"{method}() raised {type(error).__name__}: {error}") from error

    def _bool(self, method: str, value: Any) -> bool:
        if type(value) is not bool:
            raise EngineFailure(self.name, f"{method}() returned {_kind(value)}, expected a bool")
        return value

    @property
    def up(self) -> bool:
        """Whether the engine's process is up."""
        return self._bool("up", self._engine.up)

    def start(self) -> None:
        """Start the engine's workflows."""
        self._run("start")

    def receive(self, event: Event):
        """One delivery: a bool, or an awaitable of one (checked when it completes)."""
        answer = self._run("receive", event)
        if type(answer) is bool:
            return answer
        if inspect.isawaitable(answer):
            return self._awaited(answer)
        raise EngineFailure(self.name, f"receive() returned {_kind(answer)}, expected a bool or an awaitable of one")

    async def _awaited(self, answer) -> bool:
        try:
            value = await answer
        except EngineFailure:
            raise
        except Exception as error:
            raise EngineFailure(self.name, f"receive() raised {type(error).__name__}: {error}") from error
        return self._bool("receive", value)

    def idle(self) -> bool:
        """Whether the engine has nothing it can progress."""
        return self._bool("idle", self._run("idle"))

    def unfinished(self) -> list:
        """The engine's in-flight set, each item checked for a document and a state."""
        items = self._run("unfinished")
        if type(items) is not list:
            raise EngineFailure(self.name, f"unfinished() returned {_kind(items)}, expected a list")
        for item in items:
            document = getattr(item, "document", None)
            if not all(isinstance(getattr(document, field, None), str)
                       for field in ("external_id", "source_id", "doc_type")) or not isinstance(
                    getattr(item, "state", None), str):
                raise EngineFailure(self.name, f"unfinished() holds {_kind(item)}, expected items with a "
                                               f".document (an ErpDocument) and a .state (a str)")
        return items

    def crash(self) -> None:
        """The engine's process dies."""
        self._run("crash")

    def restart(self) -> None:
        """The engine's process comes back."""
        self._run("restart")

    def __getattr__(self, name: str) -> Any:
        # Optional capabilities: present exactly when the engine has them.
        if name in OPTIONAL_VALUES:
            return getattr(self._engine, name)
        if name in OPTIONAL_METHODS:
            getattr(self._engine, name)  # AttributeError when the engine lacks it
            return lambda *args: self._run(name, *args)
        raise AttributeError(name)
