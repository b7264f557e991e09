"""The conformance replay over HTTP: the same recorded deliveries (``rehearse.sim.conformance``) fed
to a fresh engine whose ERP is the ERP app served on loopback (the scenario's call faults at its HTTP
layer) and whose webhooks arrive signed, over HTTP, at its endpoint. The ERP must end up holding
exactly what the SimPy replay leaves."""

from __future__ import annotations

import json
import time

from rehearse.fakes.erp.app import create_app, error_body
from rehearse.fakes.http import FaultGate
from rehearse.sim import wiring
from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.conformance import Script, erp_documents
from rehearse.sim.faults import FaultPlan
from rehearse.sim.http_clients import HttpErpClient, new_erp_client, new_session
from rehearse.sim.http_faults import PlanCallFaults
from rehearse.sync.wire import envelope
from rehearse.sim.live import RuntimeClock, run_loop
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import Scenario
from rehearse.sim.seeds import stream
from rehearse.sim.serving import serving
from rehearse.sim.webhook_receiver import WEBHOOK_PATH, Receiver, create_receiver_app
from rehearse.sync import signatures
from rehearse.sync.orchestrated import OrchestratedEngine, settings_from
from rehearse.sync.store import MemoryStore

SECRET = "whsec_conformance_only"


def replay_http(scenario: Scenario, seed: int, script: Script, speedup: float,
                codes: dict[str, int] | None = None) -> list[tuple]:
    """Feed the script over HTTP, `speedup` times faster than real time; return the ERP's documents.
    `codes`, when given, receives the count of each ERP call outcome the engine saw."""

    async def main() -> list[tuple]:
        runtime = AsyncioRuntime(script.start_s, speedup)
        clock = RuntimeClock(runtime)
        trace = TraceRecorder()
        erp = wiring.new_erp(scenario, trace)
        store = MemoryStore()
        for document in script.preloaded:
            store.mark_posted_before(document, erp.preload_customer(document))
        latency = wiring.erp_latency(scenario, seed)
        app = FaultGate(create_app(erp, clock=clock.now, latency_s=lambda: clock.wall_s(latency.sample_s())),
                        system="erp", error_body=error_body,
                        faults=PlanCallFaults(FaultPlan(scenario.faults), clock=clock, rng=stream(seed, "faults/erp"),
                                              erp=erp))
        session = new_session()
        erp_client = new_erp_client()
        try:
            async with serving(app) as erp_url:
                engine = OrchestratedEngine(
                    runtime=runtime, store=store, trace=trace, random=stream(seed, "engine"),
                    settings=settings_from(scenario.engine.model_dump(mode="python")),
                    erp=HttpErpClient(erp_url, runtime=runtime, client=erp_client, trace=trace, speedup=speedup))
                receiver = Receiver(secret=SECRET, receive=engine.receive)
                async with serving(create_receiver_app(receiver)) as hook_url:
                    engine.start()
                    pending: list = []

                    def deliver(event) -> None:
                        body = json.dumps(envelope(event)).encode()
                        headers = {"Content-Type": "application/json",
                                   signatures.HEADER: signatures.sign(body, SECRET, int(time.time()))}
                        pending.append(runtime.loop.create_task(_post(session, hook_url + WEBHOOK_PATH, body, headers)))

                    for delivery in script.deliveries:
                        runtime.call_later(delivery.offset_s, deliver, delivery.event)
                    last_s = script.deliveries[-1].offset_s if script.deliveries else 0.0
                    while runtime.now() < script.start_s + last_s + 1.0 or not engine.idle() or \
                            len(pending) < len(script.deliveries) or not all(task.done() for task in pending):
                        await _sleep(1.0 / speedup)
                    statuses = [task.result() for task in pending]
                    if any(status != 200 for status in statuses):
                        raise AssertionError(f"deliveries refused: {sorted(set(statuses))}, {receiver.refused}")
        finally:
            await runtime.shutdown()
            await session.close()
            await erp_client.close()
        if runtime.failures:
            raise runtime.failures[0]
        if codes is not None:
            frame = trace.frame()
            calls = frame.filter(frame["kind"] == "erp.call")["code"].value_counts()
            codes.update({code: count for code, count in calls.iter_rows()})
        return erp_documents(erp)

    return run_loop(main())


async def _post(session, url: str, body: bytes, headers: dict) -> int:
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(max(seconds, 0.001))
