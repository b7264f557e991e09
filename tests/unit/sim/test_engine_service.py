"""`rehearse engine --config`: the engine as a service against served fakes, over HTTP only."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from rehearse.sim.cli import main
from rehearse.sim.engine_config import ConfigError, load_config
from rehearse.sim.engine_service import run_engine
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import load
from rehearse.sim.serve import serve
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
