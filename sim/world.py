"""The world of one run: the fakes, webhook delivery, the engine under test and the traffic, wired
together on one runtime. A world is a pure function of (scenario, seed, runtime's clock)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rehearse.fakes.billing import Billing
from rehearse.fakes.crm import Crm
from rehearse.fakes.events import EventLog
from rehearse.fakes.payments import PaymentsGateway
from rehearse.fakes.tax import TaxEngine
from rehearse.sim import wiring
from rehearse.sim.billing_client import InProcessBillingClient
from rehearse.sim.distributions import LogNormal
from rehearse.sim.engines import build_engine
from rehearse.sim.faults import FaultPlan
from rehearse.sim.oracle import emit_expectations
from rehearse.sim.payment_faults import PaymentFaultDraws
from rehearse.sim.safety import SafetyMonitor
from rehearse.sim.scenario import Scenario
from rehearse.sim.seeds import stream
from rehearse.sim.traffic import Traffic
from rehearse.sim.webhooks import WebhookSender
from rehearse.sync import wire
from rehearse.sync.engine import EnginePorts
from rehearse.sync.model import Event, parse_utc
from rehearse.sync.ports import Runtime
from rehearse.sync.sqlite_store import SqliteStore
from rehearse.sync.store import MemoryStore


def _not_built(event: Event) -> bool:
    raise RuntimeError("a webhook was delivered before the engine was built")


class World:
    """Everything one run needs, on one runtime and one trace."""

    def __init__(self, scenario: Scenario, seed: int, runtime: Runtime, trace, work_dir: Path | None = None,
                 *, stall_limit_s: float = 60.0, contracts=None, store: MemoryStore | None = None) -> None:
        """`store` is the engine's Store when the caller made it (a live run's PostgreSQL store);
        otherwise `scenario.engine.store` says which: in memory, or SQLite in `work_dir`."""
        self.scenario = scenario
        self.seed = seed
        self.runtime = runtime
        self.trace = trace
        self.start_s = scenario.run.start_s
        self.window_end_s = scenario.run.window_end_s
        self.prices = wiring.prices(scenario)
        # Faults act in the safety phase (the traffic window) and are healed for the liveness phase.
        self.faults = FaultPlan(scenario.faults, heal_s=self.window_end_s)
        self.safety = SafetyMonitor(trace)
        self._missing_entities = set(wiring.missing_entities(self.faults))
        self._closes_waiting: list[tuple[str, str]] = []  # (entity, period) closed before it was set up
        self.erp = wiring.new_erp(scenario, self.safety, missing=self._missing_entities)
        self.erp_client = wiring.erp_client(scenario, seed, runtime=runtime, erp=self.erp, trace=trace,
                                            faults=self.faults, contracts=contracts)
        if store is not None:
            self.store: MemoryStore = store
        elif scenario.engine.store == "postgres":
            raise ValueError('engine.store = "postgres" needs a store URL, which a run takes outside the '
                             "scenario (rehearse run --live --store-url), since the scenario's parameters are traced")
        elif scenario.engine.store == "sqlite":
            work_dir = work_dir or Path(tempfile.mkdtemp(prefix="rehearse-store-"))
            # Commit every change, no fsync: it survives the process crashes the simulation makes.
            self.store = SqliteStore(work_dir / "engine-store.sqlite3", synchronous="OFF")
        else:
            self.store = MemoryStore()
        self.webhooks = WebhookSender(
            runtime=runtime, latency=wiring.webhook_latency(scenario, seed), rng=stream(seed, "faults/webhooks"),
            faults=self.faults, retry_delays_s=tuple(scenario.billing.webhook_retry_delays_s),
            receiver=_not_built, trace=trace,
        )
        self.events = EventLog(self.webhooks.send)
        self.tax = TaxEngine()
        self.payments = PaymentsGateway(
            settings=wiring.payment_settings(scenario),
            rng=stream(seed, "payments"), events=self.events, trace=trace, schedule=self.schedule,
            faults=PaymentFaultDraws(self.faults, stream(seed, "faults/payments"), trace))
        self.billing = Billing(
            settings=wiring.billing_settings(scenario),
            prices=self.prices, tax=self.tax, payments=self.payments, events=self.events, trace=trace,
            schedule=self.schedule)
        # The engine comes last: its billing client reads the fakes, which exist only now.
        billing_client = InProcessBillingClient(
            runtime=runtime, billing=self.billing, payments=self.payments,
            latency=LogNormal(300.0, 1500.0, stream(seed, "billing/latency")), trace=trace, contracts=contracts)
        ports = EnginePorts(runtime=runtime, erp=self.erp_client, billing=billing_client, store=self.store,
                            trace=trace, random=stream(seed, "engine"),
                            settings=scenario.engine.model_dump(mode="python"))
        self.engine = build_engine(scenario.engine, ports, stall_limit_s=stall_limit_s)
        self.webhooks.receiver = self.engine.receive
        self.crm = Crm(trace=trace)
        self.traffic = Traffic(self, stream(seed, "traffic"))
        self._replays: dict[str, int] = {}  # external id -> times the operator replayed it
        self._letter_replays: dict[str, int] = {}  # event id -> times the operator replayed it
        self._book_loaded = False

    def schedule(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        """Call `callback(*args, now_s)` after `delay_s`: how the fakes ask for future work."""
        self.runtime.call_later(delay_s, self._call_now, callback, args)

    def _call_now(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        callback(*args, self.runtime.now())

    def load_book(self, progress: Callable[[str], None] | None = None) -> None:
        """Load the existing book of subscriptions (billing, and its customers in the ERP)."""
        if not self._book_loaded:
            self._book_loaded = True
            self.traffic.populate(progress)

    def start(self, progress: Callable[[str], None] | None = None) -> None:
        """Load the existing book (unless loaded), then start the engine, the traffic and the close calendar."""
        self.load_book(progress)
        self.engine.start()
        self.traffic.start()
        for close in self.scenario.erp.period_closes:
            delay_s = max(0.0, parse_utc(close.at) - self.start_s)
            self.schedule(delay_s, self._close_period, close.entity, close.period)
        if self.scenario.erp.other_load_max:
            self.runtime.spawn(self._other_load())
        if self.scenario.operator.enabled and (hasattr(self.engine, "replay")
                                               or hasattr(self.engine, "replay_dead_letters")):
            self.runtime.spawn(self._operator())
        for fault in self.faults.faults:  # each window, once, so reports can shade and measure it
            if fault.window is not None:
                for start_s, end_s in fault.window.occurrences(self.window_end_s, since_s=self.start_s):
                    self.trace.emit(start_s, "fault.window", code=fault.kind, detail=fault.name,
                                    value=min(end_s, self.window_end_s))
        for crash in self.faults.of("engine_crash"):
            for at in crash.at:
                self.runtime.call_later(max(0.0, parse_utc(at) - self.start_s), self._crash, crash)
            if crash.probability_per_hour:
                self.runtime.spawn(self._random_crashes(crash))

    async def _operator(self) -> None:
        """A person works the exception queue every 15 minutes: what has waited long enough is
        fixed and replayed, a bounded number of times. Exceptions come before dead letters: while
        an exception the person will still replay is open, the dead letters wait, since a letter is
        often a child whose parent sits in that queue (a payment whose invoice met a closed period),
        and replaying it first would only spend its replays."""
        operator = self.scenario.operator
        replays = self._replays
        while True:
            await self.runtime.sleep(900.0)
            now = self.runtime.now()
            engine = self.engine
            replayable = self._replayable_exceptions()
            letters = self._dead_letters()
            letter_replays = self._letter_replays
            replay_letters = getattr(engine, "replay_dead_letters", None)
            if replay_letters is not None and not replayable and any(
                    now - event.created_s >= operator.resolve_after_s
                    and letter_replays.get(event_id, 0) < operator.replays_max
                    for event_id, (event, _) in letters.items()):
                # The mapping is upgraded to the platform's new API version, master data is set up,
                # then the whole queue replayed.
                self._fix_master_data()
                for event_id in list(letters):
                    letter_replays[event_id] = letter_replays.get(event_id, 0) + 1
                if hasattr(engine, "accept_api_version"):
                    engine.accept_api_version(wire.NEXT_VERSION)
                replayed = replay_letters()
                # What was fixed: the mapping (schema drift), or whatever made the letters fail.
                drift = bool(self.faults.of("schema_drift"))
                self.trace.emit(now, "operator.fixed", object_id="mapping" if drift else "dead_letters",
                                code="schema_drift" if drift else "dead_letters", value=float(replayed))
            due = [key for key, record in replayable if now - record.opened_s >= operator.resolve_after_s]
            replay = getattr(engine, "replay", None)
            if due and replay is not None:  # `due` is empty for an engine without `replay`
                self._fix_master_data()
                for key in due:
                    if replay(key):
                        replays[key] = replays.get(key, 0) + 1

    def _replayable_exceptions(self) -> list[tuple[str, Any]]:
        """The open exceptions the operator will still replay: (key, record), in the queue's order.
        Empty for an engine without `replay`; a missing tax address is fixed in billing by the tax
        team, never replayed."""
        if not hasattr(self.engine, "replay"):
            return []
        replays, replays_max = self._replays, self.scenario.operator.replays_max
        return [(key, record) for key, record in self._exceptions().items()
                if record.reason != "tax_incomplete" and replays.get(key, 0) < replays_max]

    def _close_period(self, entity: str, period: str, now_s: float) -> None:
        """Finance closes a period. A subsidiary not set up in the ERP has no periods to close yet:
        the close takes effect when it is set up (it joins the company's calendar as it stands)."""
        if entity in self._missing_entities:
            self._closes_waiting.append((entity, period))
            return
        self.erp.close_period(entity, period, now_s)

    def _fix_master_data(self) -> None:
        """What the person working the queue fixes before replaying: subsidiaries not set up."""
        now = self.runtime.now()
        for entity in self.scenario.entities:
            if entity.id in self._missing_entities:
                self.erp.add_entity(entity.id, entity.currency)
                self.trace.emit(now, "operator.fixed", object_id=entity.id, code="missing_subsidiary")
                for closed_entity, period in self._closes_waiting:
                    if closed_entity == entity.id:
                        self.erp.close_period(closed_entity, period, now)
        self._missing_entities = set()
        self._closes_waiting = []

    def _operator_pending(self) -> bool:
        """Exceptions the operator will still replay."""
        operator = self.scenario.operator
        if not operator.enabled:
            return False
        if any(self._letter_replays.get(event_id, 0) < operator.replays_max for event_id in self._dead_letters()):
            return True
        return bool(self._replayable_exceptions())

    def _exceptions(self) -> dict:
        """The engine's exception queue (empty for an engine without one)."""
        store = getattr(self.engine, "store", None)
        return getattr(store, "exceptions", None) or {}

    def _dead_letters(self) -> dict:
        """The engine's dead-letter queue, if it has one the operator can replay."""
        if not hasattr(self.engine, "replay_dead_letters"):
            return {}
        store = getattr(self.engine, "store", None)
        return getattr(store, "dead_letters", None) or {}

    def close(self) -> None:
        """Release the engine's store (a SQLite file stays open until then)."""
        store = getattr(self.engine, "store", None)
        if store is not None and hasattr(store, "close"):
            store.close()
        else:
            self.store.close()

    def release(self) -> None:
        """Let go of everything the world holds; it cannot be used afterwards.

        The components reference each other (the engine reads billing, billing's webhooks call
        the engine, timers hold bound methods), so a finished world is one large reference cycle
        that only the cyclic collector would free, by traversing every object of the book: tens of
        seconds at a million subscriptions. Dropping the attributes of the world and of each
        component breaks every cycle that runs through them, and reference counting frees the book
        as it goes. What the caller lent (scenario, runtime, trace) is left as it is."""
        lent = (self.scenario, self.runtime, self.trace)
        components = [part for part in vars(self).values() if not any(part is mine for mine in lent)]
        self.__dict__.clear()
        for part in components:
            attributes = getattr(part, "__dict__", None)
            if type(attributes) is dict:
                attributes.clear()

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

    def record_cutoff(self, cutoff_s: float, drained: bool) -> None:
        """Trace what the ERP should hold at the cut-off (the oracle), what the engine still had in
        flight, and the run's end: the records reconciliation reads."""
        trace = self.trace
        emit_expectations(trace, billing=self.billing, payments=self.payments,
                          new_customer_ids=self.traffic.new_customer_ids, cutoff_s=cutoff_s)
        for posting in self.engine.unfinished():
            document = posting.document
            trace.emit(cutoff_s, "engine.inflight", object_id=document.external_id, ref_id=document.source_id,
                       code=document.doc_type, detail=posting.state)
        trace.emit(cutoff_s, "run.end", code="drained" if drained else "drain_limit")

    def quiet(self) -> bool:
        """No webhook in transit, no bank debit still to come back, the engine has nothing it can
        progress, no exception the operator will still replay, and if the sender gave events up, a
        gap-fill sweep has run since (without gap-fill the run never converges)."""
        if (self.webhooks.in_transit or self.payments.returns_pending or not self.engine.idle()
                or self._operator_pending()):
            return False
        if self.webhooks.lost == 0:
            return True
        return getattr(self.engine, "last_gap_fill_s", float("-inf")) >= self.webhooks.last_lost_s
