"""The engine under the SimPy adapter and under the asyncio adapter, fed the same deliveries
(duplicates, reordering and lost replies included), leaves the ERP in the same, correct state."""

import pytest

from rehearse.sim.conformance import expected_documents, record_deliveries, replay_asyncio, replay_simpy
from rehearse.sim.scenario import load

OVERRIDES = [
    "traffic.subscriptions=60", "traffic.new_deals_per_day=20", "run.traffic_days=1.5",
    "run.start=\"2026-01-31T12:00:00Z\"", "billing.renewals_per_s=5",
    'faults=[{kind="webhook_duplicate", probability=0.2}, {kind="reply_lost", probability=0.05}, '
    '{kind="server_error", probability=0.05}, {kind="throttle", probability=0.02, retry_after_s=3.0}]',
    "erp.concurrency_limit=4", "engine.concurrency=4",
    "erp.latency_ms_p50=200", "erp.latency_ms_p95=800", "engine.retry_base_s=2", "engine.retry_cap_s=30",
]


@pytest.fixture(scope="module")
def setup():
    scenario, _ = load("smoke", OVERRIDES)
    script = record_deliveries(scenario, seed=7)
    assert len(script.deliveries) > 100  # a real workload: renewals, new deals, duplicates
    return scenario, script


@pytest.mark.parametrize("pattern", ["orchestrated", "event"])
def test_simpy_adapter_posts_exactly_what_the_script_needs(setup, pattern):
    scenario, script = setup
    assert replay_simpy(scenario, 7, script, pattern) == expected_documents(script)


@pytest.mark.parametrize("pattern", ["orchestrated", "event"])
def test_asyncio_adapter_agrees_with_simpy_adapter(setup, pattern):
    scenario, script = setup
    simulated = replay_simpy(scenario, 7, script, pattern)
    # 1.5 virtual days in about 1.3 s of wall time.
    live = replay_asyncio(scenario, 7, script, speedup=100_000.0, pattern=pattern)
    assert live == simulated


@pytest.mark.slow
def test_http_adapter_agrees_with_simpy_adapter(setup):
    """The same deliveries as signed webhooks over HTTP, the ERP served on loopback with the call
    faults at its HTTP layer (lost replies as dropped connections, 5xx, 429): the same documents."""
    from rehearse.sim.conformance_http import replay_http

    scenario, script = setup
    codes: dict[str, int] = {}
    assert replay_http(scenario, 7, script, speedup=20_000.0, codes=codes) == replay_simpy(scenario, 7, script)
    assert codes.get("TIMEOUT", 0) > 0 and codes.get("201", 0) > 100  # lost replies did strike, on the wire
    assert codes.get("SERVICE_UNAVAILABLE", 0) + codes.get("SSS_REQUEST_LIMIT_EXCEEDED", 0) > 0, codes
