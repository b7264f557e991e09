"""The fault catalogue: windows, validation with file/key/reason, the plan's view over time."""

import pytest

from rehearse.sim.faults import CATALOGUE, FaultPlan, Throttle, Window
from rehearse.sim.scenario import ScenarioError, load
from rehearse.sync.model import parse_utc

T0 = parse_utc("2026-02-01T02:00:00Z")


def test_an_absolute_window_is_half_open():
    window = Window(start="2026-02-01T02:00:00Z", end="2026-02-01T03:00:00Z")
    assert not window.active(T0 - 1) and window.active(T0) and not window.active(T0 + 3600)
    assert window.remaining_s(T0 + 600) == 3000 and window.progress(T0 + 900) == 0.25


def test_a_recurring_window_repeats_and_reports_what_is_left():
    window = Window(start="2026-02-01T02:00:00Z", every_s=86400.0, duration_s=1800.0)
    day = 86400.0
    assert window.active(T0 + 2 * day + 60) and not window.active(T0 + 2 * day + 1800)
    assert window.remaining_s(T0 + day + 600) == 1200
    assert window.remaining_s(T0 + 7200) == 0.0 and window.progress(T0 + 7200) == 0.0


def test_every_catalogue_entry_has_a_family_and_a_description():
    assert {family for family, _ in CATALOGUE.values()} == {"call", "delivery", "domain", "process"}
    assert all(description for _, description in CATALOGUE.values())
    assert {"maintenance", "reply_lost", "receiver_down", "engine_crash"} <= set(CATALOGUE)


def test_the_plan_heals_every_fault_at_its_heal_time():
    plan = FaultPlan([Throttle(kind="throttle", probability=0.5)], heal_s=T0)
    assert len(plan.active("throttle", T0 - 1)) == 1
    assert plan.active("throttle", T0) == () and plan.active("outage", T0 - 1) == ()


def test_an_empty_plan_says_so_by_name_and_stays_the_plan_it_is():
    plan = FaultPlan([])
    assert plan.empty and (plan or None) is plan  # truthy: `faults or FaultPlan([])` keeps it
    plan.add(Throttle(kind="throttle", probability=0.5))
    assert not plan.empty and len(plan.active("throttle", T0)) == 1
    plan.remove(plan.of("throttle")[0])
    assert plan.empty


@pytest.mark.parametrize(("fault", "key", "reason"), [
    ('{kind="throttle", probability=1.5}', "faults.0.throttle.probability", "less than or equal to 1"),
    ('{kind="maintenance", window={start="2026-02-01T02:00:00Z", end="2026-02-01T01:00:00Z"}}',
     "faults.0.maintenance.window", "ends before it starts"),
    ('{kind="outage", window={start="2026-02-01T02:00:00Z"}}', "faults.0.outage.window", "needs an end"),
    ('{kind="meteor"}', "faults.0", "does not match any of the expected tags"),
    ('{kind="throttle", probability=0.1, system="billing"}', "faults.0.throttle.system", "erp"),
    ('{kind="latency", distribution="lognormal", latency_ms_p50=100}', "faults.0.latency",
     "latency_ms_p95 above 0"),
    ('{kind="engine_crash"}', "faults.0.engine_crash", "needs `at` times"),
    ('{kind="webhook_drop", probability=0.1, window={start="2026-02-01T02:00:00Z", every_s=60.0}}',
     "faults.0.webhook_drop.window", "both every_s and duration_s"),
])
def test_bad_faults_are_rejected_naming_file_key_and_reason(fault, key, reason):
    with pytest.raises(ScenarioError) as raised:
        load("small-peak", [f"faults=[{fault}]"])
    message = "\n".join(raised.value.messages)
    assert "small-peak.toml" in message and key in message and reason in message


def test_a_scenario_extends_another_and_overrides_tables_key_by_key(tmp_path):
    child = tmp_path / "child.toml"
    child.write_text('extends = "smoke"\nname = "child"\n[traffic]\nsubscriptions = 7\n')
    scenario, _ = load(str(child))
    base, _ = load("smoke")
    assert scenario.name == "child" and scenario.traffic.subscriptions == 7
    assert scenario.traffic.annual_share == base.traffic.annual_share  # kept from the base
    assert scenario.plans == base.plans


def test_extends_cycles_and_unknown_bases_are_rejected(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\nname = "b"\n')
    with pytest.raises(ScenarioError) as raised:
        load(str(tmp_path / "a.toml"))
    assert "a cycle" in raised.value.messages[0]
    (tmp_path / "c.toml").write_text('extends = "nowhere"\nname = "c"\n')
    with pytest.raises(ScenarioError) as raised:
        load(str(tmp_path / "c.toml"))
    assert "c.toml: extends: nowhere" in raised.value.messages[0]


def test_window_occurrences_cover_the_run_and_stop_at_its_end():
    recurring = Window(start="2026-02-01T02:00:00Z", every_s=86400.0, duration_s=1800.0)
    assert recurring.occurrences(T0 + 2 * 86400.0) == [(T0, T0 + 1800.0), (T0 + 86400.0, T0 + 88200.0)]
    once = Window(start="2026-02-01T02:00:00Z", end="2026-02-01T03:00:00Z")
    assert once.occurrences(T0 + 1) == [(T0, T0 + 3600.0)] and once.occurrences(T0) == []


def test_window_occurrences_since_skip_what_ended_before_the_run():
    """A window recurring every minute since a month before the run used to list (and trace, and
    report on) every stretch of that month: a 2-day run of 20 subscriptions took 32 s."""
    recurring = Window(start="2026-02-01T02:00:00Z", every_s=60.0, duration_s=10.0)
    since_s = T0 + 30 * 86400.0 + 5.0  # inside a stretch: that one still counts
    stretches = recurring.occurrences(since_s + 125.0, since_s=since_s)
    assert stretches == [(since_s - 5.0, since_s + 5.0), (since_s + 55.0, since_s + 65.0),
                         (since_s + 115.0, since_s + 125.0)]
    assert recurring.occurrences(T0 + 130.0) == recurring.occurrences(T0 + 130.0, since_s=T0 - 1.0)
    once = Window(start="2026-02-01T02:00:00Z", end="2026-02-01T03:00:00Z")
    assert once.occurrences(T0 + 7200.0, since_s=T0 + 3600.0) == []
    assert once.occurrences(T0 + 7200.0, since_s=T0 + 3599.0) == [(T0, T0 + 3600.0)]


@pytest.mark.parametrize("override, key", [
    ('faults=[{kind="missing_subsidiary", entity="XX01"}]', "faults.0.entity"),
    ('erp.period_closes=[{period="2026-01", at="2026-02-01T06:00:00Z", entity="XX01"}]',
     "erp.period_closes.0.entity"),
])
def test_references_to_unknown_entities_are_rejected_at_load(override, key):
    with pytest.raises(ScenarioError) as raised:
        load("small-peak", [override])
    message = "\n".join(raised.value.messages)
    assert key in message and "XX01" in message and "small-peak.toml" in message
