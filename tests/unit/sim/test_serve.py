"""`rehearse serve`: fakes on loopback ports, the admin API changes faults at run time (validated
against the catalogue), and the traffic driver's events arrive as signed webhooks."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from click.testing import CliRunner

from rehearse.sim.cli import main
from rehearse.sim.scenario import load
from rehearse.sim.serve import serve
from rehearse.sim.serving import serving
from rehearse.sim.webhook_receiver import WEBHOOK_PATH, Receiver, create_receiver_app

CUSTOMER = {"source_id": "cus_1", "external_id": "cus_1", "entity": "US01", "currency": "USD", "amount_minor": 0,
            "tran_date_s": 1769817600.0, "posting_period": "2026-01"}


def test_admin_api_injects_lists_and_clears_faults_on_loopback() -> None:
    scenario, _ = load("smoke", ["faults=[]"])

    async def scenario_run() -> None:
        async with serve(scenario, 1, traffic=False) as served, aiohttp.ClientSession() as http:
            assert all(url.startswith("http://127.0.0.1:") for url in served.urls.values())
            admin, erp = served.urls["admin"] + "/admin/faults", served.urls["erp"] + "/record/v1/customer"
            bad = await http.post(admin, json={"kind": "throttle", "system": "erp", "probability": 1.5})
            assert bad.status == 400 and "probability" in (await bad.json())["error"]["message"]
            unknown = await http.post(admin, json={"kind": "meteor_strike"})
            assert unknown.status == 400
            crash = await http.post(admin, json={"kind": "engine_crash", "at": ["2026-02-01T00:00:00Z"]})
            assert crash.status == 400 and "run time" in (await crash.json())["error"]["message"]
            not_json = await http.post(admin, data=b"{", headers={"content-type": "application/json"})
            assert not_json.status == 400
            created = await http.post(admin, json={"kind": "throttle", "system": "erp", "probability": 1.0,
                                                   "retry_after_s": 7})
            fault_id = (await created.json())["id"]
            assert created.status == 201
            listed = await (await http.get(admin)).json()
            assert [entry["id"] for entry in listed["faults"]] == [fault_id]
            throttled = await http.post(erp, json=CUSTOMER)
            assert throttled.status == 429 and throttled.headers["Retry-After"] == "7"
            assert (await throttled.json())["error"]["code"] == "SSS_REQUEST_LIMIT_EXCEEDED"
            assert (await http.delete(f"{admin}/{fault_id}")).status == 204
            assert (await http.delete(f"{admin}/{fault_id}")).status == 404
            assert (await http.post(erp, json=CUSTOMER)).status == 201

    asyncio.run(scenario_run())


def test_traffic_driver_delivers_signed_webhooks_in_real_time() -> None:
    scenario, _ = load("small-peak", ["faults=[]", "traffic.new_deals_per_day=5000"])
    received = []
    receiver = Receiver(secret="whsec_serve_test", receive=lambda event: received.append(event) or True)

    async def scenario_run() -> None:
        async with serving(create_receiver_app(receiver)) as hook_url:
            async with serve(scenario, 1, speedup=600.0, webhook_urls=(hook_url + WEBHOOK_PATH,),
                             webhook_secret="whsec_serve_test") as served:
                for _ in range(100):
                    await asyncio.sleep(0.1)
                    if len(received) >= 5:
                        break
                assert served.sender.delivered >= 5

    asyncio.run(scenario_run())
    assert {event.type for event in received} >= {"customer.created"}
    assert receiver.refused == {}


def test_a_port_in_use_or_a_host_that_does_not_resolve_is_an_oserror_not_an_exit() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]

    async def serve_on(host: str, port: int) -> None:
        async with serving(create_receiver_app(Receiver(secret="whsec_x", receive=lambda event: True)),
                           host=host, port=port):
            pass

    try:
        with pytest.raises(OSError, match="in use"):
            asyncio.run(serve_on("127.0.0.1", port))
        with pytest.raises(OSError):
            asyncio.run(serve_on("no-such-host.invalid", 0))
    finally:
        taken.close()


def test_rehearse_serve_on_a_port_in_use_exits_2_naming_the_options() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        result = CliRunner().invoke(main, ["serve", "--port-base", str(port), "--no-traffic", "--duration-s", "1"])
    finally:
        taken.close()
    assert result.exit_code == 2, result.output
    assert f"--host 127.0.0.1 --port-base {port}: Address already in use" in result.output


@pytest.mark.parametrize(("url", "says"), [("http://[::1", "Invalid IPv6 URL"), ("http://", "names no host")])
def test_serve_refuses_a_webhook_url_it_could_never_deliver_to(url, says):
    """It used to serve with exit 0, every delivery failing in a task traceback."""
    result = CliRunner().invoke(main, ["serve", "--no-traffic", "--duration-s", "1", "--webhook-url", url])
    assert result.exit_code == 2, result.output
    assert f"--webhook-url {url!r}: {says}" in result.output


def test_serve_refuses_a_host_no_resolver_could_look_up():
    """`--host a..b` raised UnicodeError from the IDNA codec inside asyncio: a traceback."""
    result = CliRunner().invoke(main, ["serve", "--no-traffic", "--duration-s", "1", "--host", "a..b"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--host': 'a..b': not a valid host name: label empty or too long" in result.output


def test_serve_refuses_a_book_too_big_for_the_memory_before_building_it():
    """It built the book regardless (18 GB, deaf to SIGTERM, before anything was served)."""
    result = CliRunner().invoke(main, ["serve", "--duration-s", "1", "--set", "traffic.subscriptions=99999999999999"])
    assert result.exit_code == 2, result.output
    assert "traffic.subscriptions=99,999,999,999,999" in result.output and "--no-memory-check" in result.output
