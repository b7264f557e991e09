"""The fakes of a scenario as HTTP apps: the same state machines the simulation wires
(``rehearse.sim.world``), each wrapped by its app (``rehearse.fakes.<system>.app``), on a live
clock, with the scenario's call faults in front (`FaultGate`) and billing's and payments' events
handed to `deliver` (an HTTP webhook sender, or nothing).

Used by ``rehearse contracts export/check`` and by the live mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rehearse.fakes.billing import Billing
from rehearse.fakes.billing.app import create_app as billing_app
from rehearse.fakes.crm import Crm
from rehearse.fakes.crm.app import create_app as crm_app
from rehearse.fakes.crm.app import error_body as salesforce_error
from rehearse.fakes.erp import Erp
from rehearse.fakes.erp.app import create_app as erp_app
from rehearse.fakes.erp.app import error_body as netsuite_error
from rehearse.fakes.events import EventLog
from rehearse.fakes.http import ErrorBody, FaultGate
from rehearse.fakes.payments import PaymentsGateway
from rehearse.fakes.payments.app import create_app as payments_app
from rehearse.fakes.stripe import error_body as stripe_error
from rehearse.fakes.tax import TaxEngine
from rehearse.fakes.tax.app import create_app as tax_app
from rehearse.sim import wiring
from rehearse.sim.distributions import LogNormal
from rehearse.sim.faults import FaultPlan
from rehearse.sim.http_faults import LiveClock, PlanCallFaults
from rehearse.sim.http_webhooks import HttpWebhookSender
from rehearse.sim.scenario import Scenario
from rehearse.sim.seeds import stream
from rehearse.sync.model import Event

SYSTEMS = ("crm", "billing", "payments", "tax", "erp")
ERROR_BODIES: dict[str, ErrorBody] = {"crm": salesforce_error, "billing": stripe_error, "payments": stripe_error,
                                      "tax": stripe_error, "erp": netsuite_error}


class _NullTrace:
    def emit(self, t_s: float, kind: str, **fields: Any) -> None:
        return None


class ServedFakes:
    """One scenario's fakes and their HTTP apps (`apps[system]`)."""

    def __init__(self, scenario: Scenario, seed: int, *, clock: LiveClock,
                 deliver: Callable[[Event], None] | None = None, trace=None,
                 faults: FaultPlan | None = None, erp_latency: bool = True) -> None:
        self.scenario = scenario
        self.clock = clock
        self.trace = trace if trace is not None else _NullTrace()  # an empty recorder is falsy: keep it
        self.events_published: list[Event] = []
        self.deliver = deliver or self.events_published.append
        plan = faults if faults is not None else FaultPlan([])
        self.prices = wiring.prices(scenario)
        self.erp = wiring.new_erp(scenario, self.trace, missing=wiring.missing_entities(plan))
        self.events = EventLog(lambda event: self.deliver(event))
        self.tax = TaxEngine()
        self.payments = PaymentsGateway(settings=wiring.payment_settings(scenario), rng=stream(seed, "payments"),
                                        events=self.events, trace=self.trace)
        self.billing = Billing(
            settings=wiring.billing_settings(scenario), prices=self.prices, tax=self.tax, payments=self.payments,
            events=self.events, trace=self.trace, schedule=self.schedule)
        self.crm = Crm(trace=self.trace)
        self.faults = PlanCallFaults(plan, clock=clock, rng=stream(seed, "faults/http"), erp=self.erp,
                                     trace=self.trace)
        self.bare_apps = bare_apps(crm=self.crm, billing=self.billing, payments=self.payments, tax=self.tax,
                                   erp=self.erp, clock=clock,
                                   erp_latency=wiring.erp_latency(scenario, seed) if erp_latency else None)
        self.apps = gated(self.bare_apps, self.faults)

    def schedule(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        """Billing's future work (finalizing an invoice an hour later, dunning retries) on the
        running event loop, `delay_s` scenario seconds from now."""
        loop = asyncio.get_running_loop()
        loop.call_later(self.clock.wall_s(delay_s), lambda: callback(*args, self.clock.now()))


def bare_apps(*, crm: Crm, billing: Billing, payments: PaymentsGateway, tax: TaxEngine, erp: Erp, clock,
              erp_latency: LogNormal | None) -> dict[str, Any]:
    """Each fake's app over the given state machines; `clock` has ``now()`` (scenario Unix seconds)
    and ``wall_s(scenario seconds)``; `erp_latency` draws each ERP call's processing time."""
    erp_latency_s = (lambda: clock.wall_s(erp_latency.sample_s())) if erp_latency is not None else None
    return {
        "crm": crm_app(crm, clock=clock.now),
        "billing": billing_app(billing, clock=clock.now),
        "payments": payments_app(payments),
        "tax": tax_app(tax),
        "erp": erp_app(erp, clock=clock.now, latency_s=erp_latency_s),
    }


def gated(apps: dict[str, Any], faults) -> dict[str, FaultGate]:
    """Each app behind the call-fault gate, answering injected errors in its system's shape."""
    return {system: FaultGate(app, system=system, faults=faults, error_body=ERROR_BODIES[system])
            for system, app in apps.items()}


def world_apps(world, seed: int, *, clock, trace) -> tuple[dict[str, FaultGate], PlanCallFaults]:
    """A world's fakes as apps behind the call-fault gate, and the gate's faults (which read the
    world's fault plan; replace their `plan` to change it while serving)."""
    call_faults = PlanCallFaults(world.faults, clock=clock, rng=stream(seed, "faults/http"), erp=world.erp,
                                 trace=trace)
    apps = bare_apps(crm=world.crm, billing=world.billing, payments=world.payments, tax=world.tax,
                     erp=world.erp, clock=clock, erp_latency=wiring.erp_latency(world.scenario, seed))
    return gated(apps, call_faults), call_faults


def webhook_sender(world, seed: int, *, endpoints: list, clock, trace) -> HttpWebhookSender:
    """The HTTP webhook sender for a world's events, on the scenario's latency and retry schedule,
    meeting the world's delivery faults; it replaces the in-process sender (`world.webhooks`)."""
    sender = HttpWebhookSender(
        endpoints=endpoints, clock=clock, latency=wiring.webhook_latency(world.scenario, seed),
        rng=stream(seed, "faults/webhooks"), trace=trace, faults=world.faults,
        retry_delays_s=tuple(world.scenario.billing.webhook_retry_delays_s))
    world.events.deliver = sender.send
    world.webhooks = sender  # what `world.quiet()` asks about deliveries in transit
    return sender


def openapi_documents(scenario: Scenario, seed: int = 1) -> dict[str, dict]:
    """Each fake's OpenAPI document, generated from its app (independent of the scenario's values)."""
    fakes = ServedFakes(scenario, seed, clock=LiveClock(scenario.run.start_s), erp_latency=False)
    return {system: fakes.bare_apps[system].openapi() for system in SYSTEMS}
