"""The fault catalogue: every fault the harness can inject, as a named, typed, documented value.

A scenario lists faults under ``[[faults]]``; each entry has a ``kind`` (one of `CATALOGUE`), the
``system`` it acts on, its parameters (units in their names) and, optionally, a ``window`` in which
it is active: absolute (``start``, ``end``) or recurring (``start``, ``every_s``, ``duration_s``,
such as a nightly maintenance window). A fault without a window is active for the whole run. A
fault plan is data: `FaultPlan` answers "which faults act on this system now?" and nothing else;
the ERP client and the webhook sender apply them.

Families:

- call faults, on calls into a system (today: the ERP, the one system the engine calls):
  ``latency``, ``degradation``, ``server_error``, ``throttle``, ``connect_timeout``,
  ``reply_lost``, ``outage``, ``maintenance``, ``lock_conflict``, ``concurrency_cap``;
- delivery faults, on webhooks from billing and payments: ``webhook_duplicate``,
  ``webhook_delay``, ``webhook_drop``, ``receiver_down``;
- domain faults: ``missing_subsidiary`` (master data missing in the ERP), ``tax_address``
  (imprecise addresses switch automatic tax off), ``schema_drift`` (payloads in the platform's next
  API version), ``payment_unknown_outcome`` (a charge call times out, applied or not),
  ``ach_failure`` (a bank debit returned days after it was booked as paid); also ``lock_conflict``
  above, and the scenario's period closes and payment declines;
- process faults: ``engine_crash`` (the engine dies and restarts from its Store).
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rehearse.sync.model import parse_utc

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def utc_text(value: str) -> str:
    """Validate a UTC timestamp text ("2026-02-01T02:00:00Z"); returns it unchanged."""
    try:
        parse_utc(value)
    except (ValueError, IndexError) as error:
        raise ValueError(f"not a UTC timestamp like 2026-02-01T02:00:00Z ({error})") from None
    return value


class Window(_Value):
    """When a fault is active: [start, end), or from `start` every `every_s` for `duration_s`."""

    start: str
    end: str | None = None
    every_s: Positive | None = None
    duration_s: Positive | None = None

    _start = field_validator("start")(lambda cls, value: utc_text(value))

    @field_validator("end")
    @classmethod
    def _end_utc(cls, value: str | None) -> str | None:
        return None if value is None else utc_text(value)

    @model_validator(mode="after")
    def _shape(self) -> Window:
        recurring = self.every_s is not None or self.duration_s is not None
        if recurring:
            if self.every_s is None or self.duration_s is None:
                raise ValueError("a recurring window needs both every_s and duration_s")
            if self.duration_s > self.every_s:
                raise ValueError("duration_s must not exceed every_s")
            if self.end is not None and parse_utc(self.end) <= parse_utc(self.start):
                raise ValueError("window ends before it starts")
        elif self.end is None:
            raise ValueError("a window needs an end, or every_s and duration_s to recur")
        elif parse_utc(self.end) <= parse_utc(self.start):
            raise ValueError("window ends before it starts")
        return self

    @cached_property
    def start_s(self) -> float:
        """The start as Unix seconds."""
        return parse_utc(self.start)

    @cached_property
    def end_s(self) -> float:
        """The end as Unix seconds (infinity for a recurring window without an end)."""
        return float("inf") if self.end is None else parse_utc(self.end)

    def active(self, t_s: float) -> bool:
        """Whether `t_s` (Unix seconds) falls inside the window."""
        start_s = self.start_s
        if t_s < start_s or t_s >= self.end_s:
            return False
        every_s, duration_s = self.every_s, self.duration_s
        if every_s is None or duration_s is None:  # both or neither (`_shape`)
            return True
        return (t_s - start_s) % every_s < duration_s

    def occurrences(self, until_s: float, since_s: float = -math.inf) -> list[tuple[float, float]]:
        """Every active stretch (start, end) that begins before `until_s` and ends after `since_s`
        (a window recurring since long before the run has no stretch to list from then)."""
        every_s, duration_s = self.every_s, self.duration_s
        if every_s is None or duration_s is None:  # both or neither (`_shape`)
            return [(self.start_s, self.end_s)] if self.start_s < until_s and self.end_s > since_s else []
        stretches = []
        start_s = self.start_s
        if since_s > start_s + duration_s:  # skip the stretches over before `since_s` without listing them
            start_s += math.floor((since_s - start_s - duration_s) / every_s) * every_s
        while start_s < min(until_s, self.end_s):
            if start_s + duration_s <= since_s:
                start_s += every_s
                continue
            stretches.append((start_s, min(start_s + duration_s, self.end_s)))
            start_s += every_s
        return stretches

    def occurrence_count(self, until_s: float, since_s: float = -math.inf) -> int:
        """How many stretches `occurrences(until_s, since_s)` lists, counted without listing them (a
        window every second for a month is 2.6 million)."""
        every_s, duration_s = self.every_s, self.duration_s
        if every_s is None or duration_s is None:  # both or neither (`_shape`)
            return 1 if self.start_s < until_s and self.end_s > since_s else 0
        # Stretch k starts at start_s + k * every_s: it is listed when it starts before the end and
        # ends after `since_s`.
        first_k = 0 if since_s == -math.inf else max(0, math.floor((since_s - duration_s - self.start_s) / every_s) + 1)
        last_k = math.ceil((min(until_s, self.end_s) - self.start_s) / every_s) - 1
        return max(0, last_k - first_k + 1)

    def remaining_s(self, t_s: float) -> float:
        """Seconds from `t_s` until the active stretch that contains it ends (0 when inactive)."""
        if not self.active(t_s):
            return 0.0
        every_s, duration_s = self.every_s, self.duration_s
        if every_s is None or duration_s is None:  # both or neither (`_shape`)
            return self.end_s - t_s
        return duration_s - (t_s - self.start_s) % every_s

    def progress(self, t_s: float) -> float:
        """How far into the active stretch `t_s` is, from 0 to 1 (for faults that ramp)."""
        if not self.active(t_s):
            return 0.0
        every_s, duration_s = self.every_s, self.duration_s
        if every_s is None or duration_s is None:  # both or neither (`_shape`)
            return (t_s - self.start_s) / (self.end_s - self.start_s)
        return ((t_s - self.start_s) % every_s) / duration_s


class _Fault(_Value):
    name: str = ""
    window: Window | None = None

    def active(self, t_s: float) -> bool:
        """Whether the fault acts at `t_s`."""
        return self.window is None or self.window.active(t_s)


class _CallFault(_Fault):
    system: Literal["erp"] = "erp"


class Latency(_CallFault):
    """Extra latency on every call, drawn from a distribution: ``fixed`` (latency_ms),
    ``uniform`` (latency_ms_min..latency_ms_max), ``lognormal`` (latency_ms_p50, latency_ms_p95) or
    ``pareto``, a heavy tail (latency_ms_scale, alpha: P(X > x) = (scale / x) ** alpha)."""

    kind: Literal["latency"]
    distribution: Literal["fixed", "uniform", "lognormal", "pareto"]
    latency_ms: NonNegative = 0.0
    latency_ms_min: NonNegative = 0.0
    latency_ms_max: NonNegative = 0.0
    latency_ms_p50: NonNegative = 0.0
    latency_ms_p95: NonNegative = 0.0
    latency_ms_scale: NonNegative = 0.0
    alpha: Positive = 1.5

    @model_validator(mode="after")
    def _parameters(self) -> Latency:
        needs = {
            "fixed": ("latency_ms",),
            "uniform": ("latency_ms_max",),
            "lognormal": ("latency_ms_p50", "latency_ms_p95"),
            "pareto": ("latency_ms_scale",),
        }[self.distribution]
        missing = [name for name in needs if getattr(self, name) <= 0]
        if missing:
            raise ValueError(f"a {self.distribution} latency needs {', '.join(missing)} above 0")
        if self.distribution == "uniform" and self.latency_ms_max < self.latency_ms_min:
            raise ValueError("latency_ms_max must be at least latency_ms_min")
        if self.distribution == "lognormal" and self.latency_ms_p95 < self.latency_ms_p50:
            raise ValueError("latency_ms_p95 must be at least latency_ms_p50")
        return self


class Degradation(_CallFault):
    """Latency that grows linearly from 0 to `latency_ms_max` across its window (slow degradation)."""

    kind: Literal["degradation"]
    latency_ms_max: Positive
    window: Window


class ServerError(_CallFault):
    """A share of calls answered with a 5xx before anything was applied."""

    kind: Literal["server_error"]
    probability: Probability
    status: Literal[500, 502, 503, 504] = 503


class Throttle(_CallFault):
    """A share of calls answered 429 with Retry-After, as a rate limiter does."""

    kind: Literal["throttle"]
    probability: Probability
    retry_after_s: Positive = 5.0


class ConnectTimeout(_CallFault):
    """A share of calls that never connect: nothing applied, the caller waits `timeout_s`."""

    kind: Literal["connect_timeout"]
    probability: Probability
    timeout_s: Positive = 10.0


class ReplyLost(_CallFault):
    """A share of calls the system applied whose answer never arrives: the ambiguous outcome."""

    kind: Literal["reply_lost"]
    probability: Probability
    timeout_s: Positive = 30.0


class Outage(_CallFault):
    """The system is unreachable for the whole window: every call fails to connect."""

    kind: Literal["outage"]
    window: Window
    timeout_s: Positive = 10.0


class Maintenance(_CallFault):
    """The system answers 503 with Retry-After = the rest of the window (often recurring)."""

    kind: Literal["maintenance"]
    window: Window


class LockConflict(_CallFault):
    """A share of payments, voids and write-offs meet a record changed under them: 409
    RCRD_HAS_BEEN_CHANGED (an optimistic-lock conflict), nothing applied."""

    kind: Literal["lock_conflict"]
    probability: Probability


class ConcurrencyCap(_CallFault):
    """The account's concurrency limit drops to `limit` during the window."""

    kind: Literal["concurrency_cap"]
    limit: Annotated[int, Field(ge=1)]
    window: Window


class EngineCrash(_Fault):
    """The engine's process dies at each of `at` (and at random, `probability_per_hour`) and
    restarts `restart_after_s` later: what was only in memory is lost, its Store survives."""

    system: Literal["engine"] = "engine"
    kind: Literal["engine_crash"]
    at: list[str] = []
    probability_per_hour: Probability = 0.0
    restart_after_s: Positive = 120.0

    @field_validator("at")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        return [utc_text(item) for item in value]

    @model_validator(mode="after")
    def _something(self) -> EngineCrash:
        if not self.at and not self.probability_per_hour:
            raise ValueError("an engine crash needs `at` times or a probability_per_hour")
        return self


class MissingSubsidiary(_Fault):
    """Master data missing in the ERP: `entity` has not been set up there, so its customers (and
    everything that depends on them) are refused until a person sets it up from the exception
    queue (`[operator]`)."""

    system: Literal["erp"] = "erp"
    kind: Literal["missing_subsidiary"]
    entity: Annotated[str, Field(min_length=1)]


class TaxAddress(_Fault):
    """A share of new customers signs up with an address tax cannot locate (no postal code, a
    short ZIP): automatic tax switches off and their invoices go out with no tax. The engine must
    raise an exception, never post the zero tax."""

    system: Literal["billing"] = "billing"
    kind: Literal["tax_address"]
    probability: Probability


class SchemaDrift(_Fault):
    """During the window the platform sends webhooks in its next API version, with renamed fields
    (`rehearse.sync.wire.RENAMED`); an engine that does not read that version must keep the events
    (a dead-letter queue) until its mapping is upgraded, then replay them."""

    system: Literal["billing"] = "billing"
    kind: Literal["schema_drift"]
    window: Window


class PaymentUnknownOutcome(_Fault):
    """A share of charge calls from billing to the gateway time out: `applied_probability` of them
    were applied anyway. Billing must look an attempt up by its idempotency key (after
    `lookup_after_s`) before trying again, or customers are charged twice
    (`billing.lookup_unknown_outcomes`)."""

    system: Literal["payments"] = "payments"
    kind: Literal["payment_unknown_outcome"]
    probability: Probability
    applied_probability: Probability = 0.5
    lookup_after_s: Positive = 3600.0


class AchFailure(_Fault):
    """A share of bank debits (customers paying by ACH, `payments.ach_share`) come back from the
    bank `return_after_days` after they were booked as paid: the charge is reversed
    (``charge.reversed``), the invoice reopens, and the ERP needs a payment reversal."""

    system: Literal["payments"] = "payments"
    kind: Literal["ach_failure"]
    probability: Probability
    return_after_days: Annotated[float, Field(gt=0.0, le=60.0)] = 3.0


class _DeliveryFault(_Fault):
    system: Literal["billing"] = "billing"


class WebhookDuplicate(_DeliveryFault):
    """A share of events delivered twice, the copy up to `delay_s_max` after the first."""

    kind: Literal["webhook_duplicate"]
    probability: Probability
    delay_s_max: NonNegative = 60.0


class WebhookDelay(_DeliveryFault):
    """A share of events held back `delay_s_min..delay_s_max` seconds, so they arrive out of order."""

    kind: Literal["webhook_delay"]
    probability: Probability
    delay_s_min: NonNegative = 0.0
    delay_s_max: Positive = 300.0

    @model_validator(mode="after")
    def _bounds(self) -> WebhookDelay:
        if self.delay_s_max < self.delay_s_min:
            raise ValueError("delay_s_max must be at least delay_s_min")
        return self


class WebhookDrop(_DeliveryFault):
    """A share of delivery attempts that fail in transit; the sender retries on its schedule."""

    kind: Literal["webhook_drop"]
    probability: Probability


class ReceiverDown(_DeliveryFault):
    """The engine's webhook endpoint is down for the window: every attempt fails; the sender
    retries on `billing.webhook_retry_delays_s` (about 3 days), then gives the event up."""

    kind: Literal["receiver_down"]
    window: Window


Fault = Annotated[
    Union[Latency, Degradation, ServerError, Throttle, ConnectTimeout, ReplyLost, Outage, Maintenance,
          LockConflict, ConcurrencyCap, WebhookDuplicate, WebhookDelay, WebhookDrop, ReceiverDown, EngineCrash,
          MissingSubsidiary, TaxAddress, SchemaDrift, PaymentUnknownOutcome, AchFailure],
    Field(discriminator="kind"),
]

# kind -> (family, one-line description), for the README and `rehearse faults`.
CATALOGUE: dict[str, tuple[str, str]] = {
    model.model_fields["kind"].annotation.__args__[0]: (
        "domain" if model in (MissingSubsidiary, LockConflict, TaxAddress, SchemaDrift, PaymentUnknownOutcome,
                              AchFailure) else "call" if issubclass(model, _CallFault)
        else "delivery" if issubclass(model, _DeliveryFault) else "process",
        " ".join((model.__doc__ or "").split()),
    )
    for model in Fault.__origin__.__args__  # type: ignore[attr-defined]
}


class FaultPlan:
    """The scenario's faults, indexed by kind; answers which are active at a moment."""

    def __init__(self, faults: list, heal_s: float = float("inf")) -> None:
        self.faults = list(faults)
        self.heal_s = heal_s  # from then on every fault is healed (the liveness phase)
        self._by_kind: dict[str, list] = {}
        for fault in self.faults:
            self._by_kind.setdefault(fault.kind, []).append(fault)

    def add(self, fault) -> None:
        """Add a fault while the run goes on (a test stepping a world injects one)."""
        self.faults.append(fault)
        self._by_kind.setdefault(fault.kind, []).append(fault)

    def remove(self, fault) -> None:
        """Take a fault out of the plan; it stops acting at once."""
        self.faults.remove(fault)
        self._by_kind[fault.kind].remove(fault)
        if not self._by_kind[fault.kind]:
            del self._by_kind[fault.kind]

    def of(self, kind: str) -> list:
        """Every configured fault of a kind (active or not)."""
        return self._by_kind.get(kind, [])

    def active(self, kind: str, t_s: float) -> tuple:
        """The faults of a kind active at `t_s`."""
        faults = self._by_kind.get(kind)
        if not faults or t_s >= self.heal_s:
            return ()  # the common case, on every call: nothing of this kind is configured
        if len(faults) == 1:  # the next most common: one fault of the kind (no generator to run)
            fault = faults[0]
            return (fault,) if fault.active(t_s) else ()
        return tuple(fault for fault in faults if fault.active(t_s))

    @property
    def empty(self) -> bool:
        """Whether no fault is configured. (Named, not `__bool__`: an empty plan that was falsy got
        swapped for another by every ``faults or FaultPlan([])``, and a fault added later was lost.)"""
        return not self.faults
