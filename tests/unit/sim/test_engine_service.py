"""`rehearse engine --config`: the engine as a service against served fakes, over HTTP only."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from rehearse.sim.cli import main
from rehearse.sim.engine_config import ConfigError, load_config
from rehearse.sim.engine_service import run_engine
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import load
from rehearse.sim.serve import serve

SECRET = "whsec_engine_service_test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(tmp_path: Path, urls: dict[str, str], port: int) -> Path:
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
path = "store.sqlite3"
[engine]
concurrency = 5
store = "sqlite"
""")
    return path


def test_engine_service_posts_what_the_served_fakes_send(tmp_path: Path) -> None:
    scenario, _ = load("small-peak", ["faults=[]", "traffic.subscriptions=50", "traffic.new_deals_per_day=20000"])
    port = _free_port()
    trace = TraceRecorder()

    async def scenario_run():
        async with serve(scenario, 1, speedup=600.0, webhook_urls=(f"http://127.0.0.1:{port}/webhooks",),
                         webhook_secret=SECRET) as served:
            config = load_config(_config(tmp_path, served.urls, port))
            stop = asyncio.Event()
            engine_task = asyncio.create_task(run_engine(config, SECRET, trace=trace, stop=stop))
            for _ in range(150):
                await asyncio.sleep(0.1)
                if len(served.world.erp.invoices) >= 3:
                    break
            stop.set()
            return await engine_task, served.world

    engine, world = asyncio.run(scenario_run())
    assert len(world.erp.invoices) >= 3 and len(world.erp.customers) > 50  # the book plus new customers
    assert engine.receiver.accepted > 0 and engine.receiver.refused == {}
    kinds = set(trace.frame()["kind"].to_list())
    assert {"engine.received", "engine.posted", "erp.call"} <= kinds
    assert (tmp_path / "store.sqlite3").exists()


def test_bad_config_names_file_key_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "engine.toml"
    path.write_text('[erp]\nurl = "ftp://x"\n[billing]\nurl = "http://b"\n[webhooks]\nport = 99999\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    messages = "\n".join(raised.value.messages)
    assert "erp.url: Value error, must start with http://" in messages
    assert "payments: Field required" in messages and "webhooks.port" in messages
    result = CliRunner().invoke(main, ["engine", "--config", str(path)])
    assert result.exit_code == 2 and "erp.url" in result.output
