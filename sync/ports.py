"""The engine's ports: the only ways engine code reaches time, scheduling, randomness, the ERP,
durable state and the trace.

Engine workflows are ``async def`` functions that await only what these ports return. The SimPy
adapter (``rehearse.sim.simpy_runtime``) makes ``await runtime.sleep(5)`` advance virtual time;
the asyncio adapter (``rehearse.sim.asyncio_runtime``) makes it a real wait. The engine never
imports asyncio, simpy, time, random or uuid.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from rehearse.sync.model import Charge, Customer, ErpDocument, Invoice


class WorkQueue(Protocol):
    """A FIFO whose ``get`` suspends the caller until an item is there."""

    def put(self, item: Any) -> None:
        """Append an item; wakes one waiting getter."""

    def get(self) -> Awaitable[Any]:
        """Remove and return the oldest item, waiting for one if empty."""

    def __len__(self) -> int: ...


class Runtime(Protocol):
    """Time and scheduling. ``now`` is Unix seconds (virtual under simulation)."""

    def now(self) -> float:
        """The current time in Unix seconds."""

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Suspend the calling workflow for ``seconds``."""

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a workflow concurrently with the caller."""

    def call_later(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        """Call a plain (non-async) function after `delay_s`; cheaper than spawning a workflow."""

    def queue(self) -> WorkQueue:
        """A new work queue bound to this runtime."""


class Random(Protocol):
    """A seeded source of uniform floats in [0, 1); the engine's only randomness."""

    def random(self) -> float: ...


class ErpClient(Protocol):
    """The ERP as the engine sees it. Failures raise `rehearse.sync.errors.ErpFailure` subclasses."""

    async def post(self, document: ErpDocument) -> str:
        """Create (or upsert, for customers) a document; returns the ERP's internal id."""

    async def lookup(self, doc_type: str, external_id: str) -> str | None:
        """The internal id of the document with this external id, or None if there is none."""


class BillingClient(Protocol):
    """Billing and payments as the engine reads them: for gap-fill, objects created since a time;
    to re-read one object whose events may be late, that object."""

    async def list_customers(self, since_s: float) -> list[Customer]:
        """Customers created at or after `since_s`."""

    async def list_invoices(self, since_s: float) -> list[Invoice]:
        """Finalized invoices (any later state) finalized at or after `since_s`."""

    async def list_charges(self, since_s: float) -> list[Charge]:
        """Succeeded charges created, and reversed charges reversed, at or after `since_s`."""

    async def get_charge(self, charge_id: str) -> Charge | None:
        """The charge as it is now (None when payments has no such charge)."""

    async def get_invoice(self, invoice_id: str) -> Invoice | None:
        """The invoice as it is now (None when billing has no such invoice)."""


class Trace(Protocol):
    """Receives one typed record per step; see `rehearse.sync.trace` for the columns."""

    def emit(self, t_s: float, kind: str, **fields: Any) -> None: ...
