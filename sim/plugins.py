"""Loading an engine from outside the project: ``package.module:factory`` (an importable module)
or ``path/to/file.py:factory`` (a file outside any installed package).

Errors name the spec: `EngineLoadError` when the factory cannot be had (bad form, import error, no
such attribute, not callable), which the command line reports as bad input (exit 2) before
anything runs; `EngineFailure` when the engine fails during the run (its factory or a method
raised, it answered with the wrong type, or it stopped virtual time), exit 3.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from rehearse.sim.engine_sections import factory_error


class EngineLoadError(Exception):
    """The factory named by a spec cannot be loaded; `message` says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineFailure(Exception):
    """The engine under test failed during a run. Constructible from its args (SimPy re-raises
    failed events as ``type(e)(*e.args)``)."""

    def __init__(self, engine: str, reason: str) -> None:
        super().__init__(engine, reason)
        self.engine = engine
        self.reason = reason

    def __str__(self) -> str:
        return f"engine {self.engine!r} {self.reason}"


def _is_file_target(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _load_file(spec: str, target: str) -> ModuleType:
    path = Path(target).expanduser()
    if not path.is_file():
        raise EngineLoadError(f"engine {spec!r}: no such file {target}")
    # One module name per file, so two engines loaded from different files never collide.
    name = "rehearse_engine_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise EngineLoadError(f"engine {spec!r}: {target} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # a module calling sys.exit() at import stopped the command with it
        sys.modules.pop(name, None)
        raise EngineLoadError(f"engine {spec!r}: loading {target} raised {type(error).__name__}: {error}") from None
    return module


def _import(spec: str, target: str) -> ModuleType:
    try:
        return importlib.import_module(target)
    except (Exception, SystemExit) as error:
        raise EngineLoadError(f"engine {spec!r}: cannot import {target!r}: {type(error).__name__}: {error}") from None


def load_factory(spec: str) -> Callable:
    """The factory a spec names; raises `EngineLoadError` naming the spec and the reason."""
    problem = factory_error(spec)
    if problem:
        raise EngineLoadError(f"engine {problem}")
    target, _, attribute = spec.strip().rpartition(":")
    found: object = _load_file(spec, target) if _is_file_target(target) else _import(spec, target)
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise EngineLoadError(f"engine {spec!r}: {target} has no attribute {attribute!r}") from None
    if not callable(found):
        raise EngineLoadError(f"engine {spec!r}: {attribute} is a {type(found).__name__}, not a callable factory")
    return found
