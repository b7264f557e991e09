"""The pattern-specific tables of a scenario's ``[engine]`` section: ``[engine.p2p]``,
``[engine.batch]`` and ``[engine.event]``, and the form of ``engine.factory``.

Each table holds only what its pattern reads, each default is that pattern's best reasonable
configuration (how a careful team builds it), and each is validated like the rest of the scenario.
Settings shared by every pattern (``concurrency``, the ``retry_*`` policy, ``store``,
``durable_store``) stay flat in ``[engine]``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rehearse.sim.faults import NonNegative, Positive

_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class P2pSection(_Table):
    """Point-to-point: the webhook handler posts to the ERP before it answers the sender."""

    workers: Annotated[int | None, Field(ge=1)] = None  # handler workers; None: engine.concurrency
    # Requests waiting for a worker; beyond, 503 at once (load shedding). None: no limit, as a web
    # server's large accept queue: requests the sender gave up on are still worked off.
    backlog_max: Annotated[int | None, Field(ge=0)] = None
    retries: Annotated[int, Field(ge=0)] = 2  # immediate retries inside the handler, then answer 500
    retry_delay_s: NonNegative = 1.0  # pause between those retries
    external_ids: bool = True  # post with external ids, so the ERP's DUP_RCRD catches a second create
    period_routing: bool = True  # CLOSED_TRAN_PRD: post into the next period at once, dates kept
    tax_check: bool = True  # never post an untaxed invoice: raise an alert for the tax team


class BatchSection(_Table):
    """Batch: a schedule, extract from billing's list APIs, staged validation, bulk post."""

    interval_s: Positive = 3600.0  # one run every hour
    overlap_s: NonNegative = 600.0  # each run lists customers and charges from the last run's start minus this
    invoice_window_s: Positive = 30 * 86400.0  # invoices are listed this far back (paid, void, written off later)
    parallel: Annotated[int | None, Field(ge=1)] = None  # calls in flight in the bulk post; None: engine.concurrency
    attempts_max: Annotated[int, Field(ge=1)] = 6  # runs an item may fail before it becomes an exception
    # A throttled, unavailable or unknown-outcome item is retried within the run (engine.retry_* backoff).
    retries_in_run: Annotated[int, Field(ge=0)] = 5
    period_routing: bool = True  # closed periods learnt from the ERP: later items go to the next period
    tax_check: bool = True


class EventSection(_Table):
    """Event-driven: the handler publishes to a bus; consumers post one event at a time."""

    consumers: Annotated[int | None, Field(ge=1)] = None  # one per partition; None: engine.concurrency
    retries_max: Annotated[int, Field(ge=0)] = 10  # consumer retries (with backoff) before the dead-letter queue
    blocking_retries: bool = False  # True: a retry holds its partition (strict order); False: a retry topic
    dedupe: bool = True  # an idempotent consumer: processed event ids and posted documents are skipped
    external_ids: bool = True
    period_routing: bool = True
    tax_check: bool = True


def factory_error(spec: str) -> str | None:
    """Why `spec` is not of the form ``module:factory`` or ``file.py:factory``, or None."""
    target, _, attribute = spec.strip().rpartition(":")
    if not target or not _ATTRIBUTE.match(attribute):
        return f"{spec!r} is not 'package.module:factory' or 'path/to/file.py:factory'"
    return None
