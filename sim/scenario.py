"""Scenario files: what a rehearsal runs, validated before anything runs.

A scenario is a TOML file with the sections below. Unknown keys, wrong types and impossible values
are rejected with `ScenarioError`, whose messages name the file, the dotted key and the reason.
`--set dotted.key=value` overrides any value (list items by index: ``entities.0.share=0.5``); the
value is read as a TOML literal (``true``, ``0.25``, ``[1, 3]``, ``"text"``) and as a bare string
otherwise.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator,
)
from pydantic_core import ErrorDetails

from rehearse.fakes.billing.platform import EXHAUSTED_ACTIONS
from rehearse.reports.gates import unknown_gates
from rehearse.sim.files import file_problem
from rehearse.sim.engine_sections import BatchSection, EventSection, P2pSection, factory_error
from rehearse.sim.faults import Fault, NonNegative, Positive, Probability, utc_text
from rehearse.sim.swarm import SwarmSection
from rehearse.sync.model import format_utc, parse_utc


LOCALES = {
    "US": "en_US", "DE": "de_DE", "FR": "fr_FR", "NL": "nl_NL", "GB": "en_GB", "IE": "en_IE",
    "ES": "es_ES", "IT": "it_IT",
}


class ScenarioError(Exception):
    """A scenario could not be loaded; `messages` says where and why, one line each."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


# The simulated calendar: periods are "YYYY-MM" texts, read back by slicing (`next_period`) and
# ordered as text, so a run must stay within four-digit years (one starting on 9999-12-31 never
# ended); the year 9999 is left as room for annual plans' periods ahead of the run.
CALENDAR_START_S = 0.0  # 1970-01-01T00:00:00Z
CALENDAR_END_S = parse_utc("9999-01-01T00:00:00Z")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class RunSection(_Section):
    """When the rehearsal starts and how long traffic flows."""

    start: str = "2026-01-31T00:00:00Z"
    traffic_days: Positive = 3.0
    drain_limit_days: Positive = 7.0
    seed: Annotated[int, Field(ge=0)] = 1

    _start = field_validator("start")(lambda cls, value: utc_text(value))

    @model_validator(mode="after")
    def _inside_calendar(self) -> RunSection:
        start_s = parse_utc(self.start)
        if start_s < CALENDAR_START_S:
            raise ValueError(f"start {self.start} is before {format_utc(CALENDAR_START_S)}: the clock counts "
                             f"Unix seconds from there")
        end_s = start_s + (self.traffic_days + self.drain_limit_days) * 86400.0
        if not end_s < CALENDAR_END_S:
            raise ValueError(f"the run would end after {format_utc(CALENDAR_END_S)}, the last date the simulated "
                             f"calendar handles (start {self.start} + traffic_days {self.traffic_days:g} + "
                             f"drain_limit_days {self.drain_limit_days:g})")
        return self

    @property
    def start_s(self) -> float:
        """The start as Unix seconds."""
        return parse_utc(self.start)

    @property
    def window_end_s(self) -> float:
        """The end of the traffic window (the start of the drain) as Unix seconds."""
        return self.start_s + self.traffic_days * 86400.0


class EntitySection(_Section):
    """A legal entity: its functional currency, the countries its customers live in, its share."""

    id: Annotated[str, Field(min_length=1)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    countries: Annotated[list[str], Field(min_length=1)]
    share: Annotated[float, Field(gt=0.0, le=1.0)]

    @field_validator("countries")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in LOCALES]
        if unknown:
            raise ValueError(f"unknown countries {unknown}; known: {sorted(LOCALES)}")
        return value


class PlanSection(_Section):
    """A plan tier with a price per currency in minor units."""

    id: Annotated[str, Field(min_length=1)]
    interval: Literal["month", "year"]
    rank: Annotated[int, Field(ge=0)]
    prices_minor: dict[str, Annotated[int, Field(gt=0)]]


class TrafficSection(_Section):
    """The book of subscriptions and what happens to it during the window."""

    subscriptions: Annotated[int, Field(ge=1)] = 1000
    annual_share: Probability = 0.15
    anchor_first_share: Probability = 0.85
    new_deals_per_day: NonNegative = 10.0
    upgrade_probability: Probability = 0.02
    downgrade_probability: Probability = 0.01
    cancel_probability: Probability = 0.02
    always_invoice_share: Probability = 0.5


class BillingSection(_Section):
    """Billing platform behaviour."""

    finalize_delay_s: NonNegative = 3600.0
    renewals_per_s: Positive = 500.0
    dunning_retry_days: list[Positive] = [1, 3, 5, 7, 9, 11, 13]
    exhausted_action: str = "unpaid"
    webhook_latency_ms_p50: Positive = 400.0
    webhook_latency_ms_p95: Positive = 3000.0
    # After a failed delivery the sender retries after each of these delays in turn, then gives
    # up: about three days in all, as Stripe does live.
    webhook_retry_delays_s: list[Positive] = [60, 300, 900, 3600, 10800, 21600, 43200, 86400, 86400]
    # After a charge call times out, look the attempt up before trying again (false: retry at once,
    # the naive caller that charges a customer twice when the first call had gone through).
    lookup_unknown_outcomes: bool = True
    # Of the invoices marked uncollectible, the share whose customer pays after all,
    # `recovery_after_days` later (one more charge, which may decline): a write-off then a recovery (E7).
    recovery_share: Probability = 0.0
    recovery_after_days: Annotated[float, Field(gt=0.0, le=365.0)] = 10.0

    @field_validator("exhausted_action")
    @classmethod
    def _action(cls, value: str) -> str:
        if value not in EXHAUSTED_ACTIONS:
            raise ValueError(f"must be one of {list(EXHAUSTED_ACTIONS)}")
        return value

    @field_validator("dunning_retry_days")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError("retry days must be strictly increasing")
        return value

    @model_validator(mode="after")
    def _p95_above_p50(self) -> BillingSection:
        if self.webhook_latency_ms_p95 < self.webhook_latency_ms_p50:
            raise ValueError("webhook_latency_ms_p95 must be at least webhook_latency_ms_p50")
        return self


class PaymentsSection(_Section):
    """Charge outcomes."""

    success_probability: Probability = 0.95
    retry_success_probability: Probability = 0.5
    hard_decline_share: Probability = 0.15
    ach_share: Probability = 0.0  # customers paying by bank debit (booked paid, returns days later)


class PeriodClose(_Section):
    """An accounting period closed at a moment of the run."""

    period: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    at: str
    entity: str = "*"

    _at = field_validator("at")(lambda cls, value: utc_text(value))


class ErpSection(_Section):
    """The ERP: account-wide concurrency, latency, and the close calendar."""

    concurrency_limit: Annotated[int, Field(ge=1)] = 15
    other_load_max: Annotated[int, Field(ge=0)] = 0
    latency_ms_p50: Positive = 300.0
    latency_ms_p95: Positive = 1500.0
    retry_after_s: Positive = 2.0
    period_closes: list[PeriodClose] = []

    @model_validator(mode="after")
    def _consistent(self) -> ErpSection:
        if self.latency_ms_p95 < self.latency_ms_p50:
            raise ValueError("latency_ms_p95 must be at least latency_ms_p50")
        if self.other_load_max >= self.concurrency_limit:
            raise ValueError("other_load_max must leave at least one slot of concurrency_limit")
        return self


class EngineSection(_Section):
    """The sync engine under test and its settings."""

    pattern: Literal["p2p", "batch", "event", "orchestrated"] = "orchestrated"
    # An engine from outside: "package.module:factory" or "path/to/file.py:factory"; replaces `pattern`.
    factory: str | None = None
    options: dict[str, str | int | float | bool] = {}  # an outside engine's own settings
    concurrency: Annotated[int, Field(ge=1)] = 15
    retry_base_s: Positive = 1.0
    retry_cap_s: Positive = 300.0
    retry_jitter_share: Probability = 0.5
    retry_attempts_max: Annotated[int, Field(ge=1)] = 12
    dedupe: bool = True
    dependency_hold: bool = True
    idempotent_posting: bool = True
    lookup_before_retry: bool = True
    period_routing: bool = True
    respect_retry_after: bool = True
    durable_store: bool = True
    # sqlite: written through to a file, re-read on restart; postgres: the same on a PostgreSQL server
    # whose URL is given outside the scenario (rehearse run --live --store-url), never traced
    store: Literal["memory", "sqlite", "postgres"] = "memory"
    tax_check: bool = True
    dead_letter_queue: bool = True
    circuit_breaker: bool = True
    breaker_failures_max: Annotated[int, Field(ge=1)] = 5
    breaker_cooldown_s: Positive = 30.0
    gap_fill: bool = True
    gap_fill_interval_s: Positive = 21600.0
    post_reversals: bool = True  # a returned bank debit (charge.reversed) reverses its ERP payment
    # a second payment, write-off or void of an invoice waits for an earlier bank debit's reversal,
    # re-reading that charge from billing when its return was not heard of yet
    recheck_bank_debits: bool = True
    # a payment of an invoice written off before it was paid first undoes the write-off (E7)
    recover_writeoffs: bool = True
    p2p: P2pSection = P2pSection()
    batch: BatchSection = BatchSection()
    event: EventSection = EventSection()

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, value: str | None) -> str | None:
        if value is not None and (problem := factory_error(value)):
            raise ValueError(problem)
        return value

    @property
    def label(self) -> str:
        """What runs: the outside factory's spec, else the pattern's name."""
        return self.factory or self.pattern

    @model_validator(mode="after")
    def _cap_above_base(self) -> EngineSection:
        if self.retry_cap_s < self.retry_base_s:
            raise ValueError("retry_cap_s must be at least retry_base_s")
        return self


class OperatorSection(_Section):
    """The people who work the exception queue: after `resolve_after_s` an exception is fixed and
    replayed, at most `replays_max` times per posting; the dead-letter queue likewise, once no
    exception is left to replay."""

    enabled: bool = True
    resolve_after_s: Positive = 4 * 3600.0
    replays_max: Annotated[int, Field(ge=0)] = 2


# A fault window recurring every minute for two months; beyond, the trace, metrics.json and the
# report list millions of occurrences (every second for a month: 2.6 million) and the run takes
# minutes for nothing a shorter schedule would not show.
FAULT_WINDOW_OCCURRENCES_MAX = 100_000
SCENARIO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_. -]{0,99}")


class Scenario(_Section):
    """A whole scenario file."""

    name: str
    description: str = ""
    run: RunSection = RunSection()
    entities: Annotated[list[EntitySection], Field(min_length=1)]
    plans: Annotated[list[PlanSection], Field(min_length=1)]
    traffic: TrafficSection = TrafficSection()
    billing: BillingSection = BillingSection()
    payments: PaymentsSection = PaymentsSection()
    erp: ErpSection = ErpSection()
    faults: list[Fault] = []
    engine: EngineSection = EngineSection()
    operator: OperatorSection = OperatorSection()
    gates: dict[str, float] = {}
    # Bounds for `rehearse sweep --swarm` (see rehearse.sim.swarm); a run ignores them, so they are
    # left out of the resolved parameters a run prints and traces.
    swarm: SwarmSection | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # It names the default output folder (runs/NAME-seedN), so it may not climb out of it.
        if not SCENARIO_NAME.fullmatch(value):
            raise ValueError("letters, digits, '_', '.', '-' and spaces, at most 100, starting with a letter or "
                             f"digit (it names the output folder; got {value!r})")
        return value

    @field_validator("gates", mode="before")
    @classmethod
    def _known_gates(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = unknown_gates(sorted(value))
            if unknown:
                raise ValueError(f"unknown gates {unknown}")
            for name, limit in value.items():
                if isinstance(limit, bool) or not isinstance(limit, (int, float)):
                    raise ValueError(f"gate {name!r} must be a number, got {limit!r}")
            return {name: float(limit) for name, limit in value.items()}
        return value

    @field_validator("entities")
    @classmethod
    def _entities_consistent(cls, value: list[EntitySection]) -> list[EntitySection]:
        ids = [entity.id for entity in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"entity ids must be unique: {ids}")
        total = sum(entity.share for entity in value)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"entity shares must add up to 1, they add up to {total:g}")
        return value

    @field_validator("plans")
    @classmethod
    def _plans_consistent(cls, value: list[PlanSection], info: ValidationInfo) -> list[PlanSection]:
        plan_ids = [plan.id for plan in value]
        if len(set(plan_ids)) != len(plan_ids):
            raise ValueError(f"plan ids must be unique: {plan_ids}")
        if not any(p.interval == "month" for p in value):
            raise ValueError("at least one monthly plan is needed")
        if "entities" not in info.data:
            return value  # the entities are invalid and reported already; currencies are unknown
        currencies = {entity.currency for entity in info.data["entities"]}
        for plan in value:
            missing = sorted(currencies - set(plan.prices_minor))
            if missing:
                raise ValueError(f"plan {plan.id!r} has no price in {missing}")
        for interval in ("month", "year"):
            ladder = sorted((p for p in value if p.interval == interval), key=lambda p: p.rank)
            for lower, upper in zip(ladder, ladder[1:]):
                for currency in sorted(currencies):
                    low, high = lower.prices_minor[currency], upper.prices_minor[currency]
                    # A one-tier downgrade credited on the next invoice must not make it negative.
                    if not low < high <= 2 * low:
                        raise ValueError(
                            f"plans {lower.id!r} -> {upper.id!r}: each tier must cost more than the one "
                            f"below and at most twice as much ({currency} {low} -> {high})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.traffic.annual_share > 0 and not any(p.interval == "year" for p in self.plans):
            raise ValueError("traffic.annual_share > 0 needs at least one annual plan")
        entity_ids = [entity.id for entity in self.entities]
        for index, close in enumerate(self.erp.period_closes):
            if close.entity != "*" and close.entity not in entity_ids:
                raise ValueError(f"erp.period_closes.{index}.entity: {close.entity!r} is not one of the "
                                 f"scenario's entities {entity_ids} (or \"*\")")
        missing = set()
        for index, fault in enumerate(self.faults):
            if fault.kind == "missing_subsidiary":
                if fault.entity not in entity_ids:
                    raise ValueError(f"faults.{index}.entity: {fault.entity!r} is not one of the scenario's "
                                     f"entities {entity_ids}")
                missing.add(fault.entity)
        for index, fault in enumerate(self.faults):
            window = fault.window
            if window is None:
                continue
            occurrences = window.occurrence_count(self.run.window_end_s, since_s=self.run.start_s)
            if occurrences > FAULT_WINDOW_OCCURRENCES_MAX:
                raise ValueError(
                    f"faults.{index}.window: recurs {occurrences:,} times in the traffic window "
                    f"(every_s={window.every_s:g} over run.traffic_days={self.run.traffic_days:g}); at most "
                    f"{FAULT_WINDOW_OCCURRENCES_MAX:,}, since each occurrence is traced, measured and reported "
                    f"(a fault that is always on needs no recurring window)")
        if missing and missing >= set(entity_ids):
            raise ValueError(f"faults: missing_subsidiary takes every entity {entity_ids} out of the ERP, but the "
                             "existing book (traffic.subscriptions) was synced to the ERP before the run: at least "
                             "one entity must be set up there")
        return self


# -- loading --------------------------------------------------------------------------------------


def builtin_dir() -> Path:
    """The folder of the built-in scenario files."""
    return Path(str(resources.files("rehearse.scenarios")))


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(path.stem for path in builtin_dir().glob("*.toml"))


def resolve_path(name_or_path: str) -> Path:
    """A scenario file from a path or a built-in name. A file of that path wins over a built-in of
    that name; a folder never does (``rehearse run smoke --out smoke`` leaves a folder ``smoke``,
    and the next ``rehearse run smoke`` still means the built-in)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtins = f"built-in: {', '.join(builtin_names())}"
    if not name_or_path:
        raise ScenarioError([f"'': an empty name: give a built-in scenario or a .toml file ({builtins})"])
    if path.suffix != ".toml":
        candidate = builtin_dir() / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    if path.exists():
        # "a folder", "a character device" (/dev/null), "a FIFO (named pipe)"
        kind = (file_problem(path) or "").removeprefix("is ").removesuffix(", not a file")
        raise ScenarioError([f"{name_or_path}: {kind or 'not a file'}, not a scenario file ({builtins})"])
    if path.suffix == ".toml":
        raise ScenarioError([f"{name_or_path}: no such scenario file"])
    raise ScenarioError([f"{name_or_path}: not a file and not a built-in scenario ({builtins})"])


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``dotted.key=value`` into its path and its value (a TOML literal, else a string)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ScenarioError([f"--set {text!r}: expected dotted.key=value"])
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    if isinstance(value, (datetime.date, datetime.time)):
        value = raw.strip()  # scenario times are strings: keep 2026-02-01T00:00:00Z as written
    return key.split("."), value


def _apply_override(data: dict[str, Any], path: list[str], value: Any, source: str) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        where = ".".join(path[: depth + 1])
        if isinstance(node, list):
            if not (part.isascii() and part.isdigit()) or int(part) >= len(node):
                raise ScenarioError([f"{source}: {where}: no item {part} (the list has {len(node)})"])
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ScenarioError([f"{source}: {where}: is a value, not a section"])
    last = path[-1]
    if isinstance(node, list):
        if not (last.isascii() and last.isdigit()) or int(last) >= len(node):
            raise ScenarioError([f"{source}: {'.'.join(path)}: no item {last} (the list has {len(node)})"])
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError([f"{source}: {'.'.join(path[:-1])}: is a value, not a section"])


def _describe(error: ErrorDetails) -> str:
    loc = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    if error["type"] == "missing":
        return f"{loc}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    if error["type"].endswith("_type") or error["type"].endswith("_parsing"):
        message += f" (got {got!r})"
    if not error["loc"] and _named_key(error) is not None:
        return message  # a whole-scenario check that names its own key
    return f"{loc}: {message}"


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`: tables merge key by key, everything else (lists included) is replaced."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A scenario file's table, with the file it `extends` (a built-in name or a relative path)
    merged underneath."""
    if path.resolve() in chain:
        raise ScenarioError([f"{path}: extends: a cycle ({' -> '.join(str(p) for p in (*chain, path))})"])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError([f"{path}: not valid TOML: {error}"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError([f"{path}: cannot read: {error}"]) from None
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ScenarioError([f"{path}: extends: must be a scenario name or path, got {base_name!r}"])
    relative = path.parent / base_name
    try:
        base_path = relative if relative.suffix == ".toml" and relative.is_file() else resolve_path(base_name)
    except ScenarioError as error:
        raise ScenarioError([f"{path}: extends: {message}" for message in error.messages]) from None
    return _merge(_read(base_path, (*chain, path.resolve())), data)


def load(name_or_path: str, overrides: Sequence[str] = ()) -> tuple[Scenario, Path]:
    """Read, override and validate a scenario; raises `ScenarioError` naming file, key and reason."""
    path = resolve_path(name_or_path)
    data = _read(path)
    overridden: list[tuple[list[str], str]] = []
    for text in overrides:
        keys, value = parse_override(text)
        _apply_override(data, keys, value, f"{path} (--set {text})")
        overridden.append((keys, text))
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioError([f"{_blamed(path, item, overridden)}: {_describe(item)}"
                             for item in error.errors()]) from None
    return scenario, path


def _blamed(path: Path, error: ErrorDetails, overridden: list[tuple[list[str], str]]) -> str:
    """Where a bad value came from: the file, or the last `--set` that wrote it, a key above it, or
    (for a check of a whole section) a key inside it that the message names. A whole-scenario
    check is placed by the key its message starts with, else blames the file."""
    where = [str(part) for part in error["loc"]]
    if not where:
        key = _named_key(error)
        if key is None:
            return str(path)
        where = key.split(".")
    message = error["msg"]
    for keys, text in reversed(overridden):
        if _within(keys, where):
            return f"{path} (--set {text})"
        # An error about a key the override wrote beneath (an unknown key) blames it; a check of a
        # whole section blames a key inside it only when it names that key.
        if keys[:len(where)] == where and (error["type"] != "value_error" or keys[len(where)] in message):
            return f"{path} (--set {text})"
    return str(path)


def _named_key(error: ErrorDetails) -> str | None:
    """The dotted key a whole-scenario check's message starts with (``faults.0.window: ...``), or None."""
    key = error["msg"].removeprefix("Value error, ").split(":", 1)[0]
    return key if key.replace(".", "").replace("_", "").isalnum() else None


def _within(keys: list[str], where: list[str]) -> bool:
    """Whether the error at `where` lies under the key path `keys`. pydantic names the variant of a
    tagged union in the location (``faults.0.webhook_duplicate.probability`` for the key
    ``faults.0.probability``), so the keys must appear in order, not necessarily side by side."""
    remaining = iter(where)
    return where[0] == keys[0] and all(part in remaining for part in keys)
