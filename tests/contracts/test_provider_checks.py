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
