"""Loading scenario files: the built-ins, `--set` overrides, and every kind of bad input rejected
with a `ScenarioError` whose messages name the file, the dotted key and the reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rehearse.sim.scenario import ScenarioError, builtin_dir, builtin_names, load, parse_override, resolve_path

# A small valid scenario; each bad case below changes one piece of it.
VALID = '''\
name = "tiny"

[run]
start = "2026-02-01T00:00:00Z"
traffic_days = 1
seed = 3

[[entities]]
id = "US01"
currency = "USD"
countries = ["US"]
share = 0.6

[[entities]]
id = "EU01"
currency = "EUR"
countries = ["DE"]
share = 0.4

[[plans]]
id = "starter"
interval = "month"
rank = 0
prices_minor = { USD = 1000, EUR = 900 }

[[plans]]
id = "growth"
interval = "month"
rank = 1
prices_minor = { USD = 1500, EUR = 1400 }

[traffic]
subscriptions = 10
annual_share = 0.0

[billing]
webhook_latency_ms_p50 = 400
webhook_latency_ms_p95 = 3000

[erp]
concurrency_limit = 15
other_load_max = 3

[engine]
retry_base_s = 1.0
retry_cap_s = 300.0

[gates]
missing_max = 0
'''


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def variant(old: str, new: str) -> str:
    """The valid scenario with every `old` replaced by `new`."""
    assert old in VALID, old
    return VALID.replace(old, new)


def rejection(path_or_name: str | Path, overrides: list[str] = ()) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load(str(path_or_name), list(overrides))
    assert info.value.messages, "a ScenarioError must say why"
    assert str(info.value) == "\n".join(info.value.messages)
    return info.value.messages


def assert_one_message_names(messages: list[str], path: Path, key: str, *reason: str) -> str:
    """Exactly one message, naming the file, the dotted key and the reason."""
    [message] = messages
    assert message.startswith(str(path)), message
    assert f" {key}" in message, message  # the key stands on its own, not as the tail of another one
    for fragment in reason:
        assert fragment in message, message
    return message


# -- what loads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["smoke", "month-end"])
def test_the_built_in_scenarios_load_by_name_and_by_path(name: str) -> None:
    scenario, path = load(name)
    assert scenario.name == name and path == builtin_dir() / f"{name}.toml"
    again, same_path = load(str(path))
    assert again == scenario and same_path == path


def test_the_built_in_names_are_listed_sorted() -> None:
    names = builtin_names()
    assert {"smoke", "month-end"} <= set(names) and names == sorted(names)


def test_a_small_valid_file_loads_with_defaults_filled_in(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    scenario, loaded_from = load(str(path))
    assert loaded_from == path
    assert [entity.id for entity in scenario.entities] == ["US01", "EU01"]
    assert scenario.run.start_s == 1_769_904_000.0  # 2026-02-01T00:00:00Z
    assert scenario.billing.dunning_retry_days == [1, 3, 5, 7, 9, 11, 13]
    assert scenario.gates == {"missing_max": 0.0}


def test_a_path_without_toml_suffix_that_exists_is_read_as_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID, name="tiny.scenario")
    assert load(str(path))[0].name == "tiny"


# -- --set overrides ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "keys", "value"), [
    ("erp.concurrency_limit=5", ["erp", "concurrency_limit"], 5),
    ("payments.success_probability=0.25", ["payments", "success_probability"], 0.25),
    ("engine.dedupe=false", ["engine", "dedupe"], False),
    ("billing.dunning_retry_days=[1, 3]", ["billing", "dunning_retry_days"], [1, 3]),
    ('description="two words"', ["description"], "two words"),
    ("name=bare-word", ["name"], "bare-word"),
    ("name = spaced ", ["name"], "spaced"),
    ("entities.0.share=0.5", ["entities", "0", "share"], 0.5),
    ("run.start=2026-03-01T00:00:00Z", ["run", "start"], "2026-03-01T00:00:00Z"),
    ("erp.period_closes.0.period=2026-01", ["erp", "period_closes", "0", "period"], "2026-01"),
    ("description=", ["description"], ""),
])
def test_parse_override_reads_toml_literals_and_bare_strings(text: str, keys: list[str], value: object) -> None:
    assert parse_override(text) == (keys, value)


@pytest.mark.parametrize("text", ["no-equals-sign", "=1", "a..b=1", ".a=1", "a.=1", " =1"])
def test_parse_override_rejects_malformed_text_naming_it(text: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_override(text)
    [message] = info.value.messages
    assert repr(text) in message and "dotted.key=value" in message


def test_overrides_of_every_type_apply(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    scenario, _ = load(str(path), [
        "traffic.subscriptions=25",
        "payments.success_probability=0.5",
        "engine.dedupe=false",
        "billing.dunning_retry_days=[1, 2, 4]",
        "name=renamed",
        'description="a quoted string"',
        "entities.0.share=0.5",
        "entities.1.share=0.5",
        "run.start=2026-03-01T00:00:00Z",
        'faults=[{kind="webhook_duplicate", probability=0.1}]',  # a key the file does not have
        "gates.duplicated_max=0",
    ])
    assert scenario.traffic.subscriptions == 25
    assert scenario.payments.success_probability == 0.5
    assert scenario.engine.dedupe is False
    assert scenario.billing.dunning_retry_days == [1, 2, 4]
    assert (scenario.name, scenario.description) == ("renamed", "a quoted string")
    assert [entity.share for entity in scenario.entities] == [0.5, 0.5]
    assert scenario.run.start == "2026-03-01T00:00:00Z"
    assert [(fault.kind, fault.probability) for fault in scenario.faults] == [("webhook_duplicate", 0.1)]
    assert scenario.gates == {"missing_max": 0.0, "duplicated_max": 0.0}


def test_overrides_apply_in_order_and_never_touch_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    scenario, _ = load(str(path), ["traffic.subscriptions=25", "traffic.subscriptions=30"])
    assert scenario.traffic.subscriptions == 30
    assert path.read_text(encoding="utf-8") == VALID
    assert load(str(path))[0].traffic.subscriptions == 10


def test_a_list_of_tables_can_be_replaced_whole(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    scenario, _ = load(str(path), ['erp.period_closes=[{ period = "2026-02", at = "2026-03-01T06:00:00Z" }]'])
    [close] = scenario.erp.period_closes
    assert (close.period, close.at, close.entity) == ("2026-02", "2026-03-01T06:00:00Z", "*")


@pytest.mark.parametrize(("override", "key", "reason"), [
    ("bogus=1", "bogus", "unknown key"),
    ("traffic.bogus=1", "traffic.bogus", "unknown key"),
    ("entities.0.bogus=1", "entities.0.bogus", "unknown key"),
    ("bogus.deeper=1", "bogus", "unknown key"),
    ("traffic.subscriptions=ten", "traffic.subscriptions", "valid integer"),
    ("traffic.subscriptions=2.5", "traffic.subscriptions", "valid integer"),
    ("payments.success_probability=1.5", "payments.success_probability", "less than or equal to 1"),
    ("payments.success_probability=true", "payments.success_probability", "valid number"),
    ("gates.bogus_max=1", "gates", "bogus_max"),
    ("run.traffic_days=inf", "run.traffic_days", "finite number"),
    ("run.drain_limit_days=nan", "run.drain_limit_days", "finite number"),
    ("erp.latency_ms_p50=inf", "erp.latency_ms_p50", "finite number"),
    ("payments.success_probability=nan", "payments.success_probability", "finite number"),
    # A run must stay inside the four-digit calendar its periods are written in.
    ("run.traffic_days=1e308", "run", "the run would end after 9999-01-01T00:00:00Z"),
    ('run.start="9998-12-25T00:00:00Z"', "run", "the run would end after 9999-01-01T00:00:00Z"),
    ('run.start="1969-12-31T00:00:00Z"', "run", "is before 1970-01-01T00:00:00Z"),
])
def test_a_bad_override_is_rejected_naming_the_key(tmp_path: Path, override: str, key: str, reason: str) -> None:
    path = write(tmp_path, VALID)
    message = assert_one_message_names(rejection(path, [override]), path, key, reason)
    assert message.startswith(f"{path} (--set {override}): "), message  # the value came from --set


def test_a_bad_value_is_blamed_on_the_override_that_wrote_it_not_on_another(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    [message] = rejection(path, ["traffic.subscriptions=0", "run.seed=3"])
    assert message.startswith(f"{path} (--set traffic.subscriptions=0): traffic.subscriptions: "), message
    [message] = rejection(path, ["traffic.subscriptions=5", "traffic.subscriptions=0"])
    assert message.startswith(f"{path} (--set traffic.subscriptions=0): "), message
    [message] = rejection(path, ['traffic={subscriptions=0}'])  # a whole section set at once
    assert message.startswith(f"{path} (--set traffic={{subscriptions=0}}): traffic.subscriptions: "), message
    [message] = rejection(path, ["run.seed=4", "faults=[{kind=\"webhook_duplicate\", probability=0.5}]",
                                 "faults.0.probability=1.5"])  # pydantic names the variant: still this --set
    assert message.startswith(f"{path} (--set faults.0.probability=1.5): faults.0.webhook_duplicate."), message
    # A check of a whole section blames the override it names, not another one in the section.
    [message] = rejection(path, ["billing.webhook_latency_ms_p95=10", "billing.finalize_delay_s=60"])
    assert message.startswith(f"{path} (--set billing.webhook_latency_ms_p95=10): billing: "), message
    [message] = rejection(path, ["billing.webhook_latency_ms_p50=999999", "billing.finalize_delay_s=60"])
    assert message.startswith(f"{path} (--set billing.webhook_latency_ms_p50=999999): billing: "), message
    bad_file = write(tmp_path, VALID.replace("traffic_days = 1", "traffic_days = -1"), "bad.toml")
    [message] = rejection(bad_file, ["traffic.subscriptions=5", "run.seed=4"])  # the file's value is bad
    assert message.startswith(f"{bad_file}: run.traffic_days: "), message


@pytest.mark.parametrize(("override", "key", "reason"), [
    ("entities.2.share=0.5", "entities.2", "no item 2 (the list has 2)"),
    ("entities.x.share=0.5", "entities.x", "no item x"),
    ("entities.5=1", "entities.5", "no item 5"),
    ("entities.².share=0.5", "entities.²", "no item ²"),  # a digit to isdigit, not to int
    ("entities.²=1", "entities.²", "no item ²"),
    ("run.seed.deeper=1", "run.seed", "is a value, not a section"),
])
def test_an_override_into_a_missing_list_item_or_a_value_names_the_override(
    tmp_path: Path, override: str, key: str, reason: str,
) -> None:
    path = write(tmp_path, VALID)
    [message] = rejection(path, [override])
    assert message.startswith(f"{path} (--set {override}): {key}: "), message
    assert reason in message


# -- unknown keys, wrong types, impossible values in the file ----------------------------------------------


BAD_FILES = [
    # (test id, old, new, dotted key, reason fragments)
    ("unknown top-level key", 'name = "tiny"\n', 'name = "tiny"\ncolour = "blue"\n', "colour", ["unknown key"]),
    ("unknown nested key", "subscriptions = 10", "subscriptions = 10\nsubscribers = 5", "traffic.subscribers",
     ["unknown key"]),
    ("unknown key in a list item", "share = 0.4", "share = 0.4\nweight = 1", "entities.1.weight", ["unknown key"]),
    ("unknown section", "[gates]", "[ledger]\nx = 1\n\n[gates]", "ledger", ["unknown key"]),
    ("missing required key", 'name = "tiny"\n', "", "name", ["required key is missing"]),
    ("string for an int", "subscriptions = 10", 'subscriptions = "10"', "traffic.subscriptions",
     ["valid integer", "'10'"]),
    ("float for an int", "seed = 3", "seed = 3.0", "run.seed", ["valid integer", "3.0"]),
    ("bool for an int", "seed = 3", "seed = true", "run.seed", ["valid integer", "True"]),
    ("bool for a float", "traffic_days = 1", "traffic_days = true", "run.traffic_days", ["valid number", "True"]),
    ("string for a float", "retry_cap_s = 300.0", 'retry_cap_s = "300"', "engine.retry_cap_s", ["valid number"]),
    ("table for a section value", "traffic_days = 1", "traffic_days = { days = 1 }", "run.traffic_days",
     ["valid number"]),
    ("probability above 1", "annual_share = 0.0", "annual_share = 1.5", "traffic.annual_share",
     ["less than or equal to 1"]),
    ("negative latency", "webhook_latency_ms_p50 = 400", "webhook_latency_ms_p50 = -400",
     "billing.webhook_latency_ms_p50", ["greater than 0"]),
    ("negative seed", "seed = 3", "seed = -1", "run.seed", ["greater than or equal to 0"]),
    ("zero subscriptions", "subscriptions = 10", "subscriptions = 0", "traffic.subscriptions",
     ["greater than or equal to 1"]),
    ("billing p95 below p50", "webhook_latency_ms_p95 = 3000", "webhook_latency_ms_p95 = 100", "billing",
     ["webhook_latency_ms_p95 must be at least webhook_latency_ms_p50"]),
    ("erp p95 below p50", "concurrency_limit = 15",
     "concurrency_limit = 15\nlatency_ms_p50 = 500\nlatency_ms_p95 = 100", "erp",
     ["latency_ms_p95 must be at least latency_ms_p50"]),
    ("shares not adding up to 1", "share = 0.4", "share = 0.3", "entities", ["shares must add up to 1", "0.9"]),
    ("duplicate entity ids", 'id = "EU01"', 'id = "US01"', "entities", ["ids must be unique"]),
    ("entity share above 1", "share = 0.6", "share = 1.6", "entities.0.share", ["less than or equal to 1"]),
    ("unknown currency code", 'currency = "EUR"', 'currency = "euro"', "entities.1.currency", ["pattern"]),
    ("unknown country", 'countries = ["DE"]', 'countries = ["XX"]', "entities.1.countries",
     ["unknown countries", "XX"]),
    ("no countries", 'countries = ["DE"]', "countries = []", "entities.1.countries", ["at least 1 item"]),
    ("plan tiers more than 2x apart", "USD = 1500", "USD = 2500", "plans",
     ["at most twice", "'starter' -> 'growth'", "USD 1000 -> 2500"]),
    ("plan tier not above the one below", "EUR = 1400", "EUR = 900", "plans", ["must cost more", "EUR 900 -> 900"]),
    ("plan without a price in an entity currency", "{ USD = 1500, EUR = 1400 }", "{ USD = 1500 }", "plans",
     ["'growth' has no price in ['EUR']"]),
    ("duplicate plan ids", 'id = "growth"', 'id = "starter"', "plans", ["plan ids must be unique"]),
    ("non-positive price", "USD = 1000", "USD = 0", "plans.0.prices_minor.USD", ["greater than 0"]),
    ("unknown interval", 'interval = "month"\nrank = 1', 'interval = "week"\nrank = 1', "plans.1.interval",
     ["'month'"]),
    ("no monthly plan", 'interval = "month"', 'interval = "year"', "plans", ["at least one monthly plan"]),
    ("annual share without an annual plan", "annual_share = 0.0", "annual_share = 0.2", "traffic.annual_share",
     ["needs at least one annual plan"]),
    ("bad period", "other_load_max = 3",
     'other_load_max = 3\nperiod_closes = [{ period = "2026-13", at = "2026-02-01T06:00:00Z" }]',
     "erp.period_closes.0.period", ["pattern"]),
    ("bad close timestamp", "other_load_max = 3",
     'other_load_max = 3\nperiod_closes = [{ period = "2026-01", at = "first thing" }]',
     "erp.period_closes.0.at", ["not a UTC timestamp"]),
    ("bad start timestamp", 'start = "2026-02-01T00:00:00Z"', 'start = "2026-02-30T00:00:00Z"', "run.start",
     ["not a UTC timestamp", "not a calendar date"]),
    ("bad start time of day", 'start = "2026-02-01T00:00:00Z"', 'start = "2026-02-01T25:00:00Z"', "run.start",
     ["not a UTC timestamp", "not a time of day"]),
    ("start that is not a date at all", 'start = "2026-02-01T00:00:00Z"', 'start = "soon"', "run.start",
     ["not a UTC timestamp"]),
    ("start written as a TOML datetime", 'start = "2026-02-01T00:00:00Z"', "start = 2026-02-01T00:00:00Z",
     "run.start", ["valid string"]),
    ("unknown gate name", "missing_max = 0", "bogus_max = 0", "gates", ["unknown gates", "bogus_max"]),
    ("non-numeric gate", "missing_max = 0", 'missing_max = "zero"', "gates", ["'missing_max' must be a number"]),
    ("bool gate", "missing_max = 0", "missing_max = false", "gates", ["'missing_max' must be a number"]),
    ("other load filling the ERP", "other_load_max = 3", "other_load_max = 15", "erp",
     ["other_load_max must leave at least one slot of concurrency_limit"]),
    ("retry cap below retry base", "retry_cap_s = 300.0", "retry_cap_s = 0.5", "engine",
     ["retry_cap_s must be at least retry_base_s"]),
    ("unknown exhausted action", "webhook_latency_ms_p95 = 3000",
     'webhook_latency_ms_p95 = 3000\nexhausted_action = "forgive"', "billing.exhausted_action",
     ["must be one of", "unpaid"]),
    ("retry days not increasing", "webhook_latency_ms_p95 = 3000",
     "webhook_latency_ms_p95 = 3000\ndunning_retry_days = [1, 5, 3]", "billing.dunning_retry_days",
     ["strictly increasing"]),
    ("unknown engine pattern", "retry_base_s = 1.0", 'retry_base_s = 1.0\npattern = "choreographed"', "engine.pattern",
     ["'orchestrated'"]),
]


@pytest.mark.parametrize(("old", "new", "key", "reason"), [case[1:] for case in BAD_FILES],
                         ids=[case[0] for case in BAD_FILES])
def test_a_bad_file_is_rejected_naming_file_key_and_reason(
    tmp_path: Path, old: str, new: str, key: str, reason: list[str],
) -> None:
    path = write(tmp_path, variant(old, new))
    assert_one_message_names(rejection(path), path, key, *reason)


def test_cross_section_messages_name_the_section_and_both_fields(tmp_path: Path) -> None:
    path = write(tmp_path, variant("webhook_latency_ms_p95 = 3000", "webhook_latency_ms_p95 = 100"))
    [message] = rejection(path)
    assert message == f"{path}: billing: webhook_latency_ms_p95 must be at least webhook_latency_ms_p50"


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = variant("subscriptions = 10", 'subscriptions = "10"\nsubscribers = 1')
    text = text.replace("seed = 3", "seed = 3.5").replace("share = 0.4", "share = 0.3")
    path = write(tmp_path, text)
    messages = rejection(path)
    assert all(message.startswith(f"{path}: ") for message in messages)
    keys = sorted(message.removeprefix(f"{path}: ").split(":")[0] for message in messages)
    assert keys == ["entities", "run.seed", "traffic.subscribers", "traffic.subscriptions"]


def test_plan_checks_wait_for_valid_entities(tmp_path: Path) -> None:
    # With the entities themselves invalid, the plans are not checked against their currencies.
    path = write(tmp_path, variant('currency = "EUR"', 'currency = "eur"'))
    [message] = rejection(path)
    assert "entities.1.currency" in message


# -- files that cannot be read ---------------------------------------------------------------------------


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    [message] = rejection(path)
    assert message == f"{path}: no such scenario file"


def test_a_directory_is_not_a_scenario_file(tmp_path: Path) -> None:
    [message] = rejection(tmp_path)
    assert message.startswith(f"{tmp_path}: a folder, not a scenario file (built-in: ")


def test_a_folder_named_like_a_built_in_does_not_hide_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").mkdir()  # what `rehearse run smoke --out smoke` leaves behind
    assert resolve_path("smoke") == builtin_dir() / "smoke.toml"


def test_a_file_named_like_a_built_in_is_taken_as_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").write_text(VALID)
    assert resolve_path("smoke") == Path("smoke")


def test_invalid_toml_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, variant("subscriptions = 10", "subscriptions = = 10"))
    [message] = rejection(path)
    assert message.startswith(f"{path}: not valid TOML: ") and "line" in message


def test_a_file_that_is_not_utf8_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(VALID.replace("tiny", "caf\u00e9").encode("latin-1"))
    [message] = rejection(path)
    assert message.startswith(f"{path}: cannot read: ")


def test_a_name_that_is_neither_a_file_nor_a_built_in_lists_the_built_ins(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # so that no file of that name can exist
    [message] = rejection("no-such-scenario")
    assert message.startswith("no-such-scenario: not a file and not a built-in scenario")
    for name in builtin_names():
        assert name in message
    assert ", ".join(builtin_names()) in message


def test_a_missing_subsidiary_for_every_entity_is_refused(tmp_path: Path) -> None:
    """The existing book was synced to the ERP before the run, so some entity must exist there; with
    none, loading the book used to fail with a traceback."""
    path = write(tmp_path, VALID)
    both = 'faults=[{kind="missing_subsidiary", entity="US01"}, {kind="missing_subsidiary", entity="EU01"}]'
    message = assert_one_message_names(rejection(path, [both]), path, "faults", "every entity",
                                       "at least one entity must be set up")
    assert "missing_subsidiary" in message
    load(str(path), ['faults=[{kind="missing_subsidiary", entity="EU01"}]'])  # one of two is fine


def test_a_fault_window_recurring_too_often_is_refused_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    every_second = ('faults=[{kind="maintenance", system="erp", '
                    'window={start="2026-01-01T00:00:00Z", every_s=1, duration_s=0.5}}]')
    [message] = rejection(path, [every_second, "run.traffic_days=2"])
    assert message.startswith(f"{path} (--set {every_second}): faults.0.window: recurs 172,800 times"), message
    assert "at most 100,000" in message
    every_minute = every_second.replace("every_s=1, duration_s=0.5", "every_s=60, duration_s=20")
    scenario, _ = load(str(path), [every_minute, "run.traffic_days=60"])  # 86,400: allowed
    assert scenario.faults[0].window is not None
    # Stretches long over before the run do not count: only those in the traffic window.
    long_ago = every_second.replace("2026-01-01T00:00:00Z", "2020-01-01T00:00:00Z").replace("every_s=1,", "every_s=2,")
    load(str(path), [long_ago, "run.traffic_days=1"])


@pytest.mark.parametrize("name", ["../../../tmp/evil", "/abs", ".hidden", "a/b", ""])
def test_a_scenario_name_that_would_leave_the_output_folder_is_refused(name):
    """The name makes the default output folder, runs/NAME-seedN: '../../x' wrote outside it."""
    with pytest.raises(ScenarioError) as error:
        load("smoke", [f"name={json.dumps(name)}"])
    assert "name: " in error.value.messages[0]


def test_something_else_than_a_file_is_named_for_what_it_is(tmp_path: Path) -> None:
    """`/dev/null` and a FIFO were called "a folder", and a FIFO named .toml "no such scenario file"."""
    [message] = rejection("/dev/null")
    assert message.startswith("/dev/null: a character device, not a scenario file (built-in: ")
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    [message] = rejection(fifo)
    assert message.startswith(f"{fifo}: a FIFO (named pipe), not a scenario file (built-in: ")


def test_an_empty_name_is_called_empty(tmp_path: Path, monkeypatch) -> None:
    """`rehearse run ""` was refused as "a folder" (the empty path is the current folder)."""
    monkeypatch.chdir(tmp_path)
    [message] = rejection("")
    assert message.startswith("'': an empty name: give a built-in scenario or a .toml file (built-in: ")
