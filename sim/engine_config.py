"""The configuration of ``rehearse engine``: the engine under test against any URLs (the served
fakes, or a team's own sandboxes that speak the same APIs).

```toml
[erp]
url = "http://127.0.0.1:8704"        # NetSuite-like record API
[billing]
url = "http://127.0.0.1:8701"        # Stripe-like customers and invoices
[payments]
url = "http://127.0.0.1:8702"        # Stripe-like charges
[webhooks]
host = "127.0.0.1"                   # the engine's endpoint: POST <host>:<port>/webhooks
port = 8710
secret_env = "REHEARSE_WEBHOOK_SECRET"  # the signing secret is read from this variable, never the file
[store]
path = "engine-store.sqlite3"        # the engine's durable state (SQLite), kept across restarts
synchronous = "FULL"                 # FULL: survives power loss; NORMAL/OFF: process crashes only
# url = "postgresql://app@db.internal:5432/rehearse"  # optional: PostgreSQL instead of `path`;
#                                    # the password goes in $PGPASSWORD (or ~/.pgpass), not here
# schema = "rehearse"                # with url: the PostgreSQL schema holding the tables
[run]
duration_s = 600                     # optional: stop after this many seconds (default: Ctrl-C)
trace = "engine-trace.parquet"       # optional: where the engine's trace goes
initial_load = true                  # look up billing's existing customers in the ERP first
[engine]                             # optional: a scenario's [engine] keys (concurrency, retries, ...)
concurrency = 13
```

The service runs the built-in orchestrated engine: `[engine]` keys that choose or configure another
(`factory`, `options`, a `pattern` other than "orchestrated", the `p2p`, `batch` and `event` tables)
are refused, as unknown keys are, rather than ignored. The files it reads and writes (`store.path`,
`run.trace`) are checked before it starts.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rehearse.sim.files import file_problem
from rehearse.sim.scenario import EngineSection
from rehearse.sim.urls import host_problem, http_url_problem
from rehearse.sync.store_url import schema_problem, url_problem


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Endpoint(_Section):
    url: str

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if (problem := http_url_problem(value)) is not None:
            raise ValueError(problem)
        return value.rstrip("/")


class WebhookSection(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8710
    secret_env: Annotated[str, Field(min_length=1)] = "REHEARSE_WEBHOOK_SECRET"

    @field_validator("host")
    @classmethod
    def _resolvable(cls, value: str) -> str:
        if (problem := host_problem(value)) is not None:
            raise ValueError(problem)
        return value


class StoreSection(_Section):
    path: Annotated[str, Field(min_length=1)] = "engine-store.sqlite3"
    # SQLite's PRAGMA synchronous: FULL survives power loss (an fsync per change), NORMAL and OFF
    # survive a crash of the engine's process only, and are many times faster.
    synchronous: Literal["OFF", "NORMAL", "FULL"] = "FULL"
    # PostgreSQL instead of the SQLite file when given (synchronous FULL: synchronous_commit on).
    url: str | None = None
    schema_name: Annotated[str, Field(alias="schema")] = "rehearse"  # `schema` is taken by pydantic

    @field_validator("url")
    @classmethod
    def _postgresql(cls, value: str | None) -> str | None:
        if value is not None and (problem := url_problem(value)):
            raise ValueError(problem)  # the message never repeats the URL: it may hold a password
        return value

    @field_validator("schema_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if problem := schema_problem(value):
            raise ValueError(problem)
        return value


class RunSection(_Section):
    duration_s: Annotated[float, Field(gt=0)] | None = None
    trace: str | None = None
    initial_load: bool = True  # map the customers the ERP already holds before taking webhooks


_BUILT_IN_ONLY = ("the engine service runs the built-in orchestrated engine; an outside engine runs in virtual "
                  "time (rehearse run --engine)")


class ServiceEngineSection(EngineSection):
    """A scenario's ``[engine]`` keys that the service uses; those of other engines are refused."""

    # Validators run on the keys the file gives, not on the defaults.
    @field_validator("factory", "options")
    @classmethod
    def _no_outside_engine(cls, value: object) -> object:
        if value:
            raise ValueError(_BUILT_IN_ONLY)
        return value

    @field_validator("pattern")
    @classmethod
    def _orchestrated(cls, value: str) -> str:
        if value != "orchestrated":
            raise ValueError("the engine service runs the orchestrated pattern; the others run in `rehearse run`")
        return value

    @field_validator("p2p", "batch", "event", mode="before")
    @classmethod
    def _no_other_pattern(cls, value: object) -> object:
        raise ValueError("the settings of another pattern; the engine service runs the orchestrated pattern")


class EngineConfig(_Section):
    """The whole file."""

    erp: Endpoint
    billing: Endpoint
    payments: Endpoint
    webhooks: WebhookSection = WebhookSection()
    store: StoreSection = StoreSection()
    run: RunSection = RunSection()
    engine: ServiceEngineSection = ServiceEngineSection(store="sqlite")


class ConfigError(Exception):
    """The file could not be used; `messages` name the file, the key and the reason."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def writable_file_problem(path: Path) -> str | None:
    """Why a file could not be written (or, when it exists, opened) at `path`, or None: it exists and
    is not a file, or its folder is missing or not writable."""
    if path.exists():
        return file_problem(path)
    folder = path.parent
    if not folder.is_dir():
        return f"no folder {folder}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in {folder}"
    return None


def load_config(path: Path) -> EngineConfig:
    """Read and validate an engine configuration; relative paths are relative to the file, and
    the files it names are checked (`writable_file_problem`)."""
    if (problem := file_problem(path)) is not None:
        raise ConfigError([f"{path}: {problem}"])
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}: cannot read: {error}"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None
    try:
        config = EngineConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError([f"{path}: {'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
                           for item in error.errors()]) from None
    base = path.parent
    store = config.store.model_copy(update={"path": str(base / config.store.path)})
    run = config.run.model_copy(update={"trace": str(base / config.run.trace) if config.run.trace else None})
    files = {"run.trace": run.trace} | ({} if store.url else {"store.path": store.path})
    problems = [f"{path}: {key}: {name}: {problem}" for key, name in files.items()
                if name is not None and (problem := writable_file_problem(Path(name)))]
    if problems:
        raise ConfigError(problems)
    return config.model_copy(update={"store": store, "run": run})
