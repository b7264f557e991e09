"""What a comparison or sweep runs: its arms, its seeds, and one loaded scenario per run.

An arm is a way of running the scenario: ``--pattern P`` is the arm ``P`` with the override
``engine.pattern=P``, and ``--variant NAME:key=value`` (repeatable, several overrides per name)
is the arm ``NAME`` with its own overrides. Without either, the scenario runs as it is, as one arm
named after its pattern. Every run loads the scenario with, in this order: the shared ``--set``
overrides, ``engine.factory=SPEC`` (``--engine``), the arm's overrides and, in swarm mode, the
seed's drawn faults as ``faults=[...]``. Loading validates everything before anything runs, so an
unknown pattern or key is refused by the scenario loader with its usual message.

Seeds run from the scenario's ``run.seed`` (or ``--first-seed``) upward: with K seeds and the
default seed 1 a sweep runs seeds 1..K, and its first seed is the run `rehearse run` gives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple, cast

from rehearse.sim.fanout import RunSpec
from rehearse.sim.outputs import write_folder
from rehearse.sim.scenario import Scenario, ScenarioError, load
from rehearse.sim.swarm import SwarmSection, draw_faults, faults_override

__all__ = ["Arm", "Plan", "arms_from", "plan_runs", "write_folder"]

ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class Arm(NamedTuple):
    """A named way of running the scenario: its own overrides on top of the shared ones."""

    name: str
    overrides: tuple[str, ...]


class Plan(NamedTuple):
    """Every run of a comparison or sweep, in arm order then seed order."""

    scenario: Scenario  # with the shared overrides only (its name, its gates)
    arms: list[Arm]
    seeds: list[int]
    shared_overrides: tuple[str, ...]
    specs: list[RunSpec]
    swarm_faults: dict[tuple[str, int], list[dict]]  # (arm, seed) -> drawn faults, in swarm mode


def arms_from(patterns: Sequence[str], variants: Sequence[str]) -> list[Arm]:
    """Arms from ``--pattern`` and ``--variant NAME:key=value`` options, in the order given.

    Raises
    ------
    ScenarioError
        A malformed variant, or two arms with the same name.
    """
    arms: dict[str, list[str]] = {}
    errors = []
    for pattern in patterns:
        if pattern in arms:
            errors.append(f"--pattern {pattern}: given twice")
        arms[pattern] = [f"engine.pattern={pattern}"]
    for text in variants:
        name, sep, override = text.partition(":")
        if not sep or not ARM_NAME.match(name) or "=" not in override:
            errors.append(f"--variant {text!r}: expected NAME:dotted.key=value (NAME of letters, digits, _ . + -)")
            continue
        if name in patterns:
            errors.append(f"--variant {text!r}: {name!r} is already a --pattern")
            continue
        if name not in arms:
            arms[name] = []
        arms[name].append(override)
    if errors:
        raise ScenarioError(errors)
    return [Arm(name, tuple(overrides)) for name, overrides in arms.items()]


def engine_arm_name(spec: str) -> str:
    """The arm name of an outside engine: its module's or file's name ("examples/x.py:create" -> "x")."""
    target = spec.rpartition(":")[0] or spec
    name = target.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
    return "".join(ch if ch.isalnum() or ch in "_.+-" else "_" for ch in name) or "engine"


def plan_runs(scenario_arg: str, *, arms: Sequence[Arm], seed_count: int, first_seed: int | None = None,
              overrides: Sequence[str] = (), engine: str | None = None, swarm: bool = False) -> Plan:
    """Load every run's scenario (validating every arm and every swarm draw) and list the runs.

    Raises
    ------
    ScenarioError
        Bad scenario, override, pattern or variant (messages name the arm), no ``[swarm]``
        section in swarm mode, or a seed count below 1.
    """
    if seed_count < 1:
        raise ScenarioError([f"--seeds {seed_count}: at least one seed is needed"])
    shared = tuple(overrides)
    base, _ = load(scenario_arg, list(shared))
    if swarm and base.swarm is None:
        raise ScenarioError([f"{scenario_arg}: --swarm needs a [swarm] section in the scenario "
                             "(see the swarm scenario)"])
    start = base.run.seed if first_seed is None else first_seed
    seeds = list(range(start, start + seed_count))
    arms = list(arms)
    if engine:  # an outside engine is one more arm, beside the built-in patterns it is compared with
        arms.append(Arm(engine_arm_name(engine), (f"engine.factory={engine}",)))
    arms = arms or [Arm(base.engine.pattern, ())]
    specs, drawn_faults, errors = [], {}, []
    for arm in arms:
        arm_overrides = (*shared, *arm.overrides)
        try:
            arm_scenario, _ = load(scenario_arg, list(arm_overrides))
        except ScenarioError as error:
            errors += [f"{arm.name}: {message}" for message in error.messages]
            continue
        for seed in seeds:
            run_overrides, scenario = arm_overrides, arm_scenario
            if swarm:
                # The base has a [swarm] section (checked above), and an override cannot remove a table.
                section = cast(SwarmSection, arm_scenario.swarm)
                drawn = draw_faults(section, seed)
                drawn_faults[(arm.name, seed)] = drawn
                run_overrides = (*arm_overrides, faults_override(
                    arm_scenario.faults, drawn, keep_scenario_faults=section.keep_scenario_faults))
                scenario, _ = load(scenario_arg, list(run_overrides))  # valid: bounds checked at every corner
            specs.append(RunSpec(arm.name, seed, scenario, scenario_arg, run_overrides))
    if errors:
        raise ScenarioError(errors)
    return Plan(base, arms, seeds, tuple(shared), specs, drawn_faults)
