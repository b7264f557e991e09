"""Swarm bounds: validated at every corner at load, drawn reproducibly per seed, turned into one
override that loads back to exactly the drawn faults."""

from __future__ import annotations

import tomllib

import pytest

from rehearse.sim.scenario import ScenarioError, load
from rehearse.sim.swarm import draw_faults, faults_override, toml_literal


def test_the_swarm_scenario_draws_reproducibly_and_differently_per_seed():
    scenario, _ = load("swarm")
    draws = {seed: draw_faults(scenario.swarm, seed) for seed in range(1, 9)}
    assert draws == {seed: draw_faults(scenario.swarm, seed) for seed in range(1, 9)}
    kinds = {seed: tuple(fault["kind"] for fault in drawn) for seed, drawn in draws.items()}
    assert len(set(kinds.values())) > 4  # the fault sets differ between seeds
    bounds = {candidate.fault["kind"]: candidate.ranges for candidate in scenario.swarm.faults}
    for drawn in draws.values():
        for fault in drawn:
            for path, (low, high) in bounds[fault["kind"]].items():
                value = fault
                for step in path.split("."):
                    value = value[step]
                assert low <= value <= high
                assert isinstance(value, int) == (isinstance(low, int) and isinstance(high, int))


def test_the_override_loads_back_to_the_scenario_faults_plus_the_draw():
    scenario, _ = load("swarm")
    drawn = draw_faults(scenario.swarm, 2)
    override = faults_override(scenario.faults, drawn, keep_scenario_faults=True)
    replayed, _ = load("swarm", [override])
    assert replayed.faults[: len(scenario.faults)] == scenario.faults
    assert [fault.kind for fault in replayed.faults[len(scenario.faults):]] == [fault["kind"] for fault in drawn]
    assert [fault.name for fault in replayed.faults[len(scenario.faults):]] == [f["name"] for f in drawn]
    alone, _ = load("swarm", [faults_override(scenario.faults, drawn, keep_scenario_faults=False)])
    assert len(alone.faults) == len(drawn)


def test_one_candidate_bounds_do_not_shift_another_candidates_draw():
    base = ('swarm.faults=[{probability=1.0, fault={kind="reply_lost", probability=0.01}, '
            'ranges={probability=[0.0, 0.1]}}, {probability=1.0, fault={kind="throttle", probability=0.1}, '
            'ranges={probability=[%s]}}]')
    one, _ = load("smoke", [base % "0.0, 0.5"])
    other, _ = load("smoke", [base % "0.2, 0.3"])
    assert draw_faults(one.swarm, 5)[0] == draw_faults(other.swarm, 5)[0]


def test_toml_literal_reads_back_to_the_same_value():
    value = {"a": [1, 2.5, 1e-05, 0.1 + 0.2], "b c": {"d": "é\"x"}, "e": True}
    assert tomllib.loads(f"v = {toml_literal(value)}")["v"] == value


@pytest.mark.parametrize(("candidate", "reason"), [
    ('{probability=0.5, fault={kind="reply_lost"}, ranges={probability=[0.1, 1.5]}}',
     "fault with probability=1.5: probability: Input should be less than or equal to 1"),
    ('{probability=0.5, fault={kind="webhook_delay", probability=0.1}, ranges={delay_s_min=[0, 100], '
     'delay_s_max=[50, 300]}}', "delay_s_max must be at least delay_s_min"),
    ('{probability=0.5, fault={kind="reply_lost", probability=0.1}, ranges={system=[0, 1]}}',
     "system"),
    ('{probability=0.5, fault={kind="reply_lost", probability=0.1}, ranges={probability=[0.3, 0.1]}}',
     "low <= high"),
    ('{probability=1.5, fault={kind="reply_lost", probability=0.1}}', "less than or equal to 1"),
])
def test_bad_bounds_are_rejected_at_load_naming_the_candidate(candidate, reason):
    with pytest.raises(ScenarioError) as error:
        load("smoke", [f"swarm.faults=[{candidate}]"])
    message = error.value.messages[0]
    assert "swarm.faults.0" in message and reason in message, message


def test_a_run_ignores_the_swarm_section():
    with_bounds, _ = load("swarm")
    without, _ = load("small-peak")
    assert with_bounds.model_dump(exclude={"name", "description"}) == without.model_dump(
        exclude={"name", "description"})
