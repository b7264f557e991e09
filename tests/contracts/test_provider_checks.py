"""Schemathesis against each fake in process: every check, every phase, stateful sequences through
the documents' links; the fakes pass their own contracts with zero failures. Bounded examples keep
it to seconds; `rehearse contracts check` runs more."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from rehearse.contracts.check import check_app
from rehearse.contracts.documents import SYSTEMS
from rehearse.sim.http_faults import LiveClock
from rehearse.sim.scenario import load
from rehearse.sim.served import ServedFakes


@pytest.mark.parametrize("system", SYSTEMS)
def test_fake_passes_its_own_contract(system: str) -> None:
    scenario, _ = load("smoke")
    fakes = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False)
    result = check_app(system, fakes.apps[system], max_examples=5)
    assert result.cases > 20
    assert result.passed, (result.failures, result.errors)


def test_an_undocumented_status_fails_the_check() -> None:
    app = FastAPI()

    @app.get("/things/{number}")
    async def thing(number: int) -> JSONResponse:
        return JSONResponse({"number": number}, status_code=418 if number > 5 else 200)

    result = check_app("planted", app, max_examples=10)
    assert not result.passed
    assert {failure.check for failure in result.failures} >= {"status_code_conformance"}


def test_check_a_live_url_on_loopback() -> None:
    import asyncio
    import threading

    from rehearse.contracts.check import check_url
    from rehearse.contracts.documents import load_document
    from rehearse.sim.serving import serving

    scenario, _ = load("smoke")
    fakes = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False)
    started, stop = threading.Event(), None
    urls: list[str] = []

    def serve_in_thread() -> None:
        nonlocal stop

        async def body() -> None:
            nonlocal stop
            stop = asyncio.Event()
            async with serving(fakes.apps["erp"]) as url:
                urls.append(url)
                started.set()
                await stop.wait()

        loop = asyncio.new_event_loop()
        thread_loop.append(loop)
        loop.run_until_complete(body())

    thread_loop: list = []
    thread = threading.Thread(target=serve_in_thread, daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        result = check_url("erp", urls[0], load_document("erp"), max_examples=3)
    finally:
        thread_loop[0].call_soon_threadsafe(stop.set)
        thread.join(30)
    assert result.passed, (result.failures, result.errors)
    assert len(fakes.erp.customers) > 0  # the checks really went over the socket to this ERP


def test_contracts_check_command_refuses_bad_input() -> None:
    from click.testing import CliRunner

    from rehearse.sim.cli import main

    result = CliRunner().invoke(main, ["contracts", "check", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "exactly one --system" in result.output
    result = CliRunner().invoke(main, ["contracts", "check", "--system", "erp", "--url", "ftp://x"])
    assert result.exit_code == 2 and "http://" in result.output
