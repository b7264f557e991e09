"""`rehearse engine --config`: the engine as a service against served fakes, over HTTP only."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from rehearse.sim.cli import main
from rehearse.sim.engine_config import ConfigError, load_config
from rehearse.sim.engine_service import EndpointUnavailable, initial_load, run_engine
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import load
from rehearse.sim.serve import serve
from rehearse.sync.errors import ErpConnectError
from rehearse.sync.model import Address, Customer
from rehearse.sync.postgres_store import PostgresStore
from rehearse.sync.store import POSTED

SECRET = "whsec_engine_service_test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(tmp_path: Path, urls: dict[str, str], port: int, store: str = 'path = "store.sqlite3"') -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(f"""
[erp]
url = "{urls['erp']}"
[billing]
url = "{urls['billing']}"
[payments]
url = "{urls['payments']}"
[webhooks]
port = {port}
secret_env = "TEST_SECRET"
[store]
{store}
[engine]
concurrency = 5
store = "sqlite"
""")
    return path


def _serve_and_run_engine(tmp_path: Path, trace: TraceRecorder, store: str = 'path = "store.sqlite3"'):
    """The served small peak and the engine service against it, until three invoices are in the ERP."""
    scenario, _ = load("small-peak", ["faults=[]", "traffic.subscriptions=50", "traffic.new_deals_per_day=20000"])
    port = _free_port()

    async def scenario_run():
        async with serve(scenario, 1, speedup=600.0, webhook_urls=(f"http://127.0.0.1:{port}/webhooks",),
                         webhook_secret=SECRET) as served:
            config = load_config(_config(tmp_path, served.urls, port, store))
            stop = asyncio.Event()
            engine_task = asyncio.create_task(run_engine(config, SECRET, trace=trace, stop=stop))
            for _ in range(150):
                await asyncio.sleep(0.1)
                if len(served.world.erp.invoices) >= 3:
                    break
            stop.set()
            return await engine_task, served.world

    return asyncio.run(scenario_run())


def test_engine_service_posts_what_the_served_fakes_send(tmp_path: Path) -> None:
    trace = TraceRecorder()
    engine, world = _serve_and_run_engine(tmp_path, trace)
    assert len(world.erp.invoices) >= 3 and len(world.erp.customers) > 50  # the book plus new customers
    assert engine.receiver.accepted > 0 and engine.receiver.refused == {}
    kinds = set(trace.frame()["kind"].to_list())
    assert {"engine.received", "engine.posted", "erp.call"} <= kinds
    assert (tmp_path / "store.sqlite3").exists()


def test_engine_service_keeps_its_store_in_postgresql_when_given_a_url(tmp_path: Path, postgres_url: str) -> None:
    schema = f"test_service_{uuid.uuid4().hex[:8]}"
    engine, world = _serve_and_run_engine(tmp_path, TraceRecorder(), f'url = "{postgres_url}"\nschema = "{schema}"')
    assert len(world.erp.invoices) >= 3 and engine.receiver.accepted > 0
    store = PostgresStore.open(postgres_url, schema=schema)  # what a restarted service would find
    try:
        # Everything the service knew when it stopped was written through...
        assert {key: p.state for key, p in store.postings.items()} == \
            {key: p.state for key, p in engine.store.postings.items()}
        assert store.seen_event_ids == engine.store.seen_event_ids and store.seen_event_ids
        # ...and what it holds as posted is in the ERP (a stop can leave a call's reply unread: not the reverse).
        posted = {key for key, posting in store.postings.items() if posting.state == POSTED}
        assert {key for key in posted if key.startswith("in_")} <= set(world.erp.invoices)
        assert any(key.startswith("in_") for key in posted)
        assert not (tmp_path / "store.sqlite3").exists()
    finally:
        store.drop()


def test_a_store_url_that_is_not_postgresql_is_refused_by_file_and_key(tmp_path: Path) -> None:
    path = _config(tmp_path, {"erp": "http://e", "billing": "http://b", "payments": "http://p"}, 1,
                   'url = "mysql://app:s3cret@db/books"')
    result = CliRunner().invoke(main, ["engine", "--config", str(path)], env={"TEST_SECRET": SECRET})
    assert result.exit_code == 2 and f"{path}: store.url: Value error, must start with postgresql://" in result.output
    assert "s3cret" not in result.output


def test_an_unreachable_store_is_exit_2_naming_the_url_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://app:s3cret@127.0.0.1:{_free_port()}/books"
    path = _config(tmp_path, {"erp": "http://e", "billing": "http://b", "payments": "http://p"}, _free_port(),
                   f'url = "{url}"')
    result = CliRunner().invoke(main, ["engine", "--config", str(path)], env={"TEST_SECRET": SECRET})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "store.url: cannot connect to PostgreSQL at postgresql://app@127.0.0.1:" in result.output
    assert "s3cret" not in result.output


def test_bad_config_names_file_key_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "engine.toml"
    path.write_text('[erp]\nurl = "ftp://x"\n[billing]\nurl = "http://[::1"\n[webhooks]\nport = 99999\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    messages = "\n".join(raised.value.messages)
    assert "erp.url: Value error, must start with http://" in messages
    assert "billing.url: Value error, Invalid IPv6 URL" in messages  # it raised once the engine ran
    assert "payments: Field required" in messages and "webhooks.port" in messages
    result = CliRunner().invoke(main, ["engine", "--config", str(path)])
    assert result.exit_code == 2 and "erp.url" in result.output


def test_a_webhook_host_no_resolver_could_look_up_is_refused(tmp_path: Path) -> None:
    """`host = "a..b"` raised UnicodeError from the IDNA codec once the endpoint was opened."""
    path = _config(tmp_path, {"erp": "http://e", "billing": "http://b", "payments": "http://p"}, _free_port())
    path.write_text(path.read_text().replace("[webhooks]\n", '[webhooks]\nhost = "a..b"\n'))
    result = CliRunner().invoke(main, ["engine", "--config", str(path)], env={"TEST_SECRET": SECRET})
    assert result.exit_code == 2, result.output
    assert f"{path}: webhooks.host: Value error, not a valid host name: label empty or too long" in result.output


def _unreachable_config(tmp_path: Path, extra: str = "", store: str = 'path = "store.sqlite3"') -> Path:
    path = _config(tmp_path, {"erp": "http://127.0.0.1:9", "billing": "http://127.0.0.1:9",
                              "payments": "http://127.0.0.1:9"}, _free_port(), store)
    path.write_text(path.read_text() + extra)
    return path


def _engine(path: Path):
    return CliRunner().invoke(main, ["engine", "--config", str(path)], env={"TEST_SECRET": SECRET})


def test_a_store_path_that_is_a_folder_or_not_a_database_is_exit_2_naming_the_key(tmp_path: Path) -> None:
    """sqlite3 raised OperationalError or DatabaseError: a traceback."""
    (tmp_path / "folder").mkdir()
    path = _unreachable_config(tmp_path, store='path = "folder"')
    result = _engine(path)
    assert result.exit_code == 2, result.output
    assert f"{path}: store.path: {tmp_path / 'folder'}: is a folder, not a file" in result.output
    (tmp_path / "notes.txt").write_text("not a database, but notes kept for years")
    path = _unreachable_config(tmp_path, "[run]\ninitial_load = false\nduration_s = 1\n", store='path = "notes.txt"')
    result = _engine(path)
    assert result.exit_code == 2, result.output
    assert f"{path}: store.path: cannot open the SQLite store {tmp_path / 'notes.txt'}: file is not a database" \
        in result.output
    assert (tmp_path / "notes.txt").read_text() == "not a database, but notes kept for years"


def test_a_trace_under_a_missing_folder_is_refused_before_the_run(tmp_path: Path) -> None:
    """It failed only after the whole run, writing the trace."""
    path = _unreachable_config(tmp_path, '[run]\ntrace = "no-such-folder/trace.parquet"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.messages == [
        f"{path}: run.trace: {tmp_path / 'no-such-folder/trace.parquet'}: no folder {tmp_path / 'no-such-folder'}"]


@pytest.mark.parametrize(("key", "value", "says"), [
    ("factory", '"examples/toy_engine.py:create"', "an outside engine runs in virtual time"),
    ("options", "{ workers = 4 }", "an outside engine runs in virtual time"),
    ("pattern", '"p2p"', "the engine service runs the orchestrated pattern"),
])
def test_engine_keys_of_another_engine_are_refused_not_ignored(tmp_path: Path, key: str, value: str,
                                                                 says: str) -> None:
    """`[engine] factory` was accepted and ignored: the service ran the orchestrated engine regardless."""
    path = _unreachable_config(tmp_path)
    path.write_text(path.read_text().replace("[engine]\n", f"[engine]\n{key} = {value}\n"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert any(message.startswith(f"{path}: engine.{key}: Value error, ") and says in message
               for message in raised.value.messages), raised.value.messages
    path.write_text(path.read_text().replace(f"{key} = {value}\n", "pattern = \"orchestrated\"\n"))
    assert load_config(path).engine.pattern == "orchestrated"


def test_a_config_that_is_not_a_regular_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    """A FIFO blocked the command until something wrote to it."""
    fifo = tmp_path / "engine.toml"
    os.mkfifo(fifo)
    result = _engine(fifo)
    assert result.exit_code == 2, result.output
    assert f"{fifo}: is a FIFO (named pipe), not a file" in result.output


def test_billing_that_cannot_be_reached_is_named_not_the_webhooks(tmp_path: Path) -> None:
    result = _engine(_unreachable_config(tmp_path))
    assert result.exit_code == 2, result.output
    assert ": billing.url: cannot list billing's customers: Cannot connect to host 127.0.0.1:9" in result.output
    assert "webhooks" not in result.output


def test_an_erp_that_cannot_be_reached_is_named_not_the_webhooks() -> None:
    """The initial load's lookups raised ErpConnectError: a traceback (and billing's failure was
    reported as the webhook endpoint's)."""
    customer = Customer("cus_1", "US01", "USD", "Acme", "ap@acme.test",
                        Address("1 Main", "Austin", "TX", "73301", "US"), 0.0)

    class Billing:
        async def list_customers(self, since_s: float) -> list[Customer]:
            return [customer]

    class Erp:
        async def lookup(self, doc_type: str, external_id: str) -> str | None:
            raise ErpConnectError("could not connect to the ERP: Connect call failed ('127.0.0.1', 9)")

    engine = SimpleNamespace(store=SimpleNamespace(postings={}), billing=Billing(), erp=Erp(),
                             settings=SimpleNamespace(concurrency=5))
    with pytest.raises(EndpointUnavailable) as raised:
        asyncio.run(initial_load(engine, 1.0))  # type: ignore[arg-type]
    assert raised.value.key == "erp.url"
    assert str(raised.value) == ("erp.url: cannot look up billing's customers in the ERP: could not connect to the "
                                 "ERP: Connect call failed ('127.0.0.1', 9)")


def test_an_endless_duration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "engine.toml"
    path.write_text('[erp]\nurl = "http://e"\n[billing]\nurl = "http://b"\n[payments]\nurl = "http://p"\n'
                    '[run]\nduration_s = inf\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert any("run.duration_s: Input should be a finite number" in message for message in raised.value.messages)


def test_a_webhook_port_in_use_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    path = _config(tmp_path, {"erp": "http://127.0.0.1:9", "billing": "http://127.0.0.1:9",
                              "payments": "http://127.0.0.1:9"}, port)
    path.write_text(path.read_text() + "[run]\ninitial_load = false\nduration_s = 1\n")
    try:
        result = CliRunner().invoke(main, ["engine", "--config", str(path)], env={"TEST_SECRET": SECRET})
    finally:
        taken.close()
    assert result.exit_code == 2, result.output
    assert f"{path}: webhooks: Address already in use" in result.output and "Traceback" not in result.output
