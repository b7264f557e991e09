"""The world of one run: the fakes, webhook delivery, the engine under test and the traffic, wired
together on one runtime. A world is a pure function of (scenario, seed, runtime's clock)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rehearse.fakes.billing import Billing, BillingSettings
from rehearse.fakes.crm import Crm
from rehearse.fakes.erp import Erp
from rehearse.fakes.events import EventLog
from rehearse.fakes.payments import PaymentSettings, PaymentsGateway
from rehearse.fakes.tax import TaxEngine
from rehearse.sim.billing_client import InProcessBillingClient
from rehearse.sim.distributions import LogNormal
from rehearse.sim.erp_client import InProcessErpClient
from rehearse.sim.faults import FaultPlan
from rehearse.sim.safety import SafetyMonitor
from rehearse.sim.scenario import Scenario
from rehearse.sim.seeds import stream
from rehearse.sim.traffic import Traffic
from rehearse.sim.webhooks import WebhookSender
from rehearse.sync import wire
from rehearse.sync.decisions import RetryPolicy
from rehearse.sync.model import Price, parse_utc
from rehearse.sync.orchestrated import EngineSettings, OrchestratedEngine
from rehearse.sync.ports import Runtime
from rehearse.sync.sqlite_store import SqliteStore
from rehearse.sync.store import MemoryStore


def price_id(plan_id: str, currency: str) -> str:
    """The id of a plan's price in one currency."""
    return f"{plan_id}:{currency}"


def engine_settings(scenario: Scenario) -> EngineSettings:
    """The engine's settings from the scenario's [engine] section."""
    engine = scenario.engine
    return EngineSettings(
        concurrency=engine.concurrency,
        retry=RetryPolicy(engine.retry_base_s, engine.retry_cap_s, engine.retry_jitter_share,
                          engine.retry_attempts_max, engine.respect_retry_after),
        dedupe=engine.dedupe, dependency_hold=engine.dependency_hold,
        idempotent_posting=engine.idempotent_posting, lookup_before_retry=engine.lookup_before_retry,
        period_routing=engine.period_routing, durable_store=engine.durable_store, tax_check=engine.tax_check,
        dead_letter_queue=engine.dead_letter_queue,
        gap_fill=engine.gap_fill, gap_fill_interval_s=engine.gap_fill_interval_s,
        circuit_breaker=engine.circuit_breaker, breaker_failures_max=engine.breaker_failures_max,
        breaker_cooldown_s=engine.breaker_cooldown_s,
    )


class World:
    """Everything one run needs, on one runtime and one trace."""

    def __init__(self, scenario: Scenario, seed: int, runtime: Runtime, trace, work_dir: Path | None = None,
                 contracts=None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.runtime = runtime
        self.trace = trace
        self.start_s = scenario.run.start_s
        self.window_end_s = self.start_s + scenario.run.traffic_days * 86400.0
        self.prices = {
            price_id(plan.id, currency): Price(price_id(plan.id, currency), plan.id, plan.interval, currency, amount)
            for plan in scenario.plans for currency, amount in sorted(plan.prices_minor.items())
        }
        erp_settings = scenario.erp
        # Faults act in the safety phase (the traffic window) and are healed for the liveness phase.
        self.faults = FaultPlan(scenario.faults, heal_s=self.window_end_s)
        self.safety = SafetyMonitor(trace)
        self._missing_entities = {fault.entity for fault in self.faults.of("missing_subsidiary")}
        self.erp = Erp(entities={e.id: e.currency for e in scenario.entities if e.id not in self._missing_entities},
                       concurrency_limit=erp_settings.concurrency_limit, trace=self.safety,
                       retry_after_s=erp_settings.retry_after_s)
        self.erp_client = InProcessErpClient(
            runtime=runtime, erp=self.erp,
            latency=LogNormal(erp_settings.latency_ms_p50, erp_settings.latency_ms_p95, stream(seed, "erp/latency")),
            rng=stream(seed, "faults/erp"), trace=trace, faults=self.faults, contracts=contracts,
        )
        if scenario.engine.store == "sqlite":
            work_dir = work_dir or Path(tempfile.mkdtemp(prefix="rehearse-store-"))
            # Commit every change, no fsync: it survives the process crashes the simulation makes.
            self.store: MemoryStore = SqliteStore(work_dir / "engine-store.sqlite3", synchronous="OFF")
        else:
            self.store = MemoryStore()
        self.engine = OrchestratedEngine(runtime=runtime, erp=self.erp_client, store=self.store, trace=trace,
                                         random=stream(seed, "engine"), settings=engine_settings(scenario))
        billing = scenario.billing
        self.webhooks = WebhookSender(
            runtime=runtime,
            latency=LogNormal(billing.webhook_latency_ms_p50, billing.webhook_latency_ms_p95, stream(seed, "webhooks/latency")),
            rng=stream(seed, "faults/webhooks"), faults=self.faults,
            retry_delays_s=tuple(billing.webhook_retry_delays_s),
            receiver=self.engine.receive, trace=trace,
        )
        self.events = EventLog(self.webhooks.send)
        self.tax = TaxEngine()
        payments = scenario.payments
        self.payments = PaymentsGateway(
            settings=PaymentSettings(payments.success_probability, payments.retry_success_probability,
                                     payments.hard_decline_share),
            rng=stream(seed, "payments"), events=self.events, trace=trace)
        self.billing = Billing(
            settings=BillingSettings(billing.finalize_delay_s, tuple(billing.dunning_retry_days),
                                     billing.exhausted_action),
            prices=self.prices, tax=self.tax, payments=self.payments, events=self.events, trace=trace,
            schedule=self.schedule)
        # Gap-fill reads billing's list APIs; built here because billing exists only now.
        self.engine.billing = InProcessBillingClient(
            runtime=runtime, billing=self.billing, payments=self.payments,
            latency=LogNormal(300.0, 1500.0, stream(seed, "billing/latency")), trace=trace, contracts=contracts)
        self.crm = Crm(trace=trace)
        self.traffic = Traffic(self, stream(seed, "traffic"))
        self._replays: dict[str, int] = {}  # external id -> times the operator replayed it

    def schedule(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        """Call `callback(*args, now_s)` after `delay_s`: how the fakes ask for future work."""
        self.runtime.call_later(delay_s, self._call_now, callback, args)

    def _call_now(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        callback(*args, self.runtime.now())

    def start(self, progress: Callable[[str], None] | None = None, populate: bool = True) -> None:
        """Load the existing book (unless the caller did already), then start the engine, the
        traffic and the close calendar."""
        if populate:
            self.traffic.populate(progress)
        self.engine.start()
        self.traffic.start()
        for close in self.scenario.erp.period_closes:
            delay_s = max(0.0, parse_utc(close.at) - self.start_s)
            self.schedule(delay_s, self.erp.close_period, close.entity, close.period)
        if self.scenario.erp.other_load_max:
            self.runtime.spawn(self._other_load())
        if self.scenario.operator.enabled:
            self.runtime.spawn(self._operator())
        for fault in self.faults.faults:  # each window, once, so reports can shade and measure it
            if fault.window is not None:
                for start_s, end_s in fault.window.occurrences(self.window_end_s):
                    self.trace.emit(start_s, "fault.window", code=fault.kind, detail=fault.name,
                                    value=min(end_s, self.window_end_s))
        for crash in self.faults.of("engine_crash"):
            for at in crash.at:
                self.runtime.call_later(max(0.0, parse_utc(at) - self.start_s), self._crash, crash)
            if crash.probability_per_hour:
                self.runtime.spawn(self._random_crashes(crash))

    async def _operator(self) -> None:
        """A person works the exception queue every 15 minutes: what has waited long enough is
        fixed and replayed, a bounded number of times."""
        operator = self.scenario.operator
        replays = self._replays
        while True:
            await self.runtime.sleep(900.0)
            now = self.runtime.now()
            due = [key for key, record in self.engine.store.exceptions.items()
                   if record.reason != "tax_incomplete"  # fixed in billing by the tax team, never replayed
                   and now - record.opened_s >= operator.resolve_after_s
                   and replays.get(key, 0) < operator.replays_max]
            letters = self.engine.store.dead_letters
            if letters and any(now - event.created_s >= operator.resolve_after_s for event, _ in letters.values()):
                # The mapping is upgraded to the platform's new API version, then the queue replayed.
                self.engine.accept_api_version(wire.NEXT_VERSION)
                replayed = self.engine.replay_dead_letters()
                self.trace.emit(now, "operator.fixed", object_id="mapping", code="schema_drift",
                                value=float(replayed))
            if due:
                self._fix_master_data()
            for key in due:
                if self.engine.replay(key):
                    replays[key] = replays.get(key, 0) + 1

    def _fix_master_data(self) -> None:
        """What the person working the queue fixes before replaying: subsidiaries not set up."""
        for entity in self.scenario.entities:
            if entity.id in self._missing_entities:
                self.erp.add_entity(entity.id, entity.currency)
                self.trace.emit(self.runtime.now(), "operator.fixed", object_id=entity.id,
                                code="missing_subsidiary")
        self._missing_entities = set()

    def _operator_pending(self) -> bool:
        """Exceptions the operator will still replay."""
        operator = self.scenario.operator
        if not operator.enabled:
            return False
        if self.engine.store.dead_letters:
            return True
        return any(self._replays.get(key, 0) < operator.replays_max
                   for key, record in self.engine.store.exceptions.items() if record.reason != "tax_incomplete")

    def _crash(self, crash) -> None:
        if self.engine.up and self.runtime.now() < self.window_end_s:  # healed after the window
            self.trace.emit(self.runtime.now(), "fault.injected", object_id="engine", code=crash.kind,
                            detail=crash.name)
            self.engine.crash()
            self.runtime.call_later(crash.restart_after_s, self.engine.restart)

    async def _random_crashes(self, crash) -> None:
        rng = stream(self.seed, "faults/engine-crash")
        while self.runtime.now() < self.window_end_s:
            await self.runtime.sleep(3600.0)
            if rng.random() < crash.probability_per_hour:
                self._crash(crash)

    async def _other_load(self) -> None:
        """Other integrations of the same ERP account hold part of its concurrency, minute by minute."""
        rng = stream(self.seed, "erp/other-load")
        load_max = self.scenario.erp.other_load_max
        while True:
            self.erp.other_load = int(rng.random() * (load_max + 1))
            await self.runtime.sleep(60.0)

    def quiet(self) -> bool:
        """No webhook in transit, the engine has nothing it can progress, no exception the operator
        will still replay, and if the sender gave events up, a gap-fill sweep has run since
        (without gap-fill the run never converges)."""
        if self.webhooks.in_transit or not self.engine.idle() or self._operator_pending():
            return False
        return self.webhooks.lost == 0 or self.engine.last_gap_fill_s >= self.webhooks.last_lost_s
