"""The engine contract: what the harness needs from any sync engine, built-in or from outside.

A sync engine is built by a *factory*, a callable that takes one `EnginePorts` and returns an
object meeting `Engine`. The four built-in patterns are factories too (`rehearse.sync.p2p.create`,
`rehearse.sync.batch.create`, `rehearse.sync.event.create`, `rehearse.sync.orchestrated.create`);
an outside engine is named in the scenario (``engine.factory = "package.module:factory"`` or
``"path/to/file.py:factory"``) or on the command line (``rehearse run SCENARIO --engine SPEC``).

Required (`Engine`): ``up``, ``start()``, ``receive(event)``, ``idle()``, ``unfinished()``,
``crash()``, ``restart()``. Optional capabilities, looked up with ``getattr`` by the harness and
simply not used when an engine lacks them:

- ``store``: an object with ``exceptions`` (external id -> `ExceptionRecord`) and ``dead_letters``
  (event id -> (event, reason)); the simulated operator works them and the reports count them.
- ``replay(external_id) -> bool``: a person resolved an exception; post it again.
- ``accept_api_version(version)`` and ``replay_dead_letters() -> int``: the mapping was upgraded
  to read a new payload version; receive the dead-lettered events again.
- ``last_gap_fill_s``: when the engine last listed billing to find what it never heard of; without
  it, an event the sender gave up is never recovered and the run does not converge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from rehearse.sync.model import ErpDocument, Event
from rehearse.sync.ports import BillingClient, ErpClient, Random, Runtime, Trace
from rehearse.sync.store import MemoryStore

# Required members of an engine, checked when an outside factory returns one.
REQUIRED_MEMBERS = ("up", "start", "receive", "idle", "unfinished", "crash", "restart")


class EnginePorts(NamedTuple):
    """Everything a factory gets: the same ports every built-in pattern is built on.

    runtime: time, sleep, spawn, call_later and work queues (`rehearse.sync.ports.Runtime`).
    erp: the ERP client, ``post(document)`` and ``lookup(doc_type, external_id)``.
    billing: billing's list APIs, ``list_customers/list_invoices/list_charges(since_s)``, and
        ``get_charge(charge_id)`` and ``get_invoice(invoice_id)``.
    store: a fresh `MemoryStore` (or its SQLite twin when ``engine.store = "sqlite"``); a durable
        store survives `Engine.crash`, ``store.fresh()`` gives an empty one.
    trace: ``emit(t_s, kind, **fields)``; see `rehearse.sync.trace.KINDS` for what reports read.
    random: a seeded ``random()`` in [0, 1), the engine's only randomness.
    settings: the scenario's ``[engine]`` section as plain values (``settings["options"]`` holds an
        outside engine's own keys).
    """

    runtime: Runtime
    erp: ErpClient
    billing: BillingClient
    store: MemoryStore
    trace: Trace
    random: Random
    settings: Mapping[str, Any]


class Unfinished(Protocol):
    """A posting the engine has not finished at a cut-off: its document and its state."""

    @property
    def document(self) -> ErpDocument:
        """What the engine means to post."""

    @property
    def state(self) -> str:
        """Where the engine is with it (its own words: queued, retrying, dead-lettered...)."""


@runtime_checkable
class Engine(Protocol):
    """What the harness drives. Everything is called from simulated code: never block, never read
    the wall clock; wait only by awaiting what the ports return."""

    @property
    def up(self) -> bool:
        """False while the process is down (between crash and restart); an attribute will do."""

    def start(self) -> None:
        """Start background workflows (workers, schedules) with ``runtime.spawn``."""

    def receive(self, event: Event) -> bool | Awaitable[bool]:
        """One webhook delivery. Return True to acknowledge, False to make the sender retry. An
        inline handler may return an awaitable instead; the sender awaits it (for a bounded time)
        and treats its result the same way."""

    def idle(self) -> bool:
        """Nothing the engine could still progress on its own (the run's drain ends when idle)."""

    def unfinished(self) -> list[Unfinished]:
        """What is planned but neither posted nor parked as an exception: the in-flight set."""

    def crash(self) -> None:
        """The process dies: memory is lost, a durable store survives."""

    def restart(self) -> None:
        """The process comes back (after `crash`)."""


EngineFactory = Callable[[EnginePorts], Engine]
