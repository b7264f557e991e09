"""`rehearse run --live`: the engine against the fakes served over HTTP on loopback, signed webhooks,
SQLite Store (or PostgreSQL given a URL); the same reports as a simulated run, from the live trace,
and no secret in them."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from rehearse.sim import live
from rehearse.sim.scenario import load

SECRET = "a-known-secret-for-this-test-0f3e9a"


@pytest.mark.slow
def test_live_small_peak_matches_everything_and_writes_the_usual_reports(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live.secrets, "token_hex", lambda nbytes=32: SECRET)
    # At 1200x every wall millisecond of real HTTP is 1.2 scenario seconds; the peak's
    # burst of ~2,500 requests on one event loop takes a few wall seconds, hours of scenario time, so
    # the latency gate is widened here: this test is about the wiring, bench/live.py about speed.
    scenario, _ = load("small-peak", ["run.traffic_days=0.2", 'engine.store="sqlite"',
                                      "gates.invoice_to_erp_p95_s_max=86400"])
    out = tmp_path / "live"
    result = live.run(scenario, 1, speedup=1200.0, out_dir=out)
    metrics = result.metrics
    # Wall-clock latencies move with the machine's load; what must hold is nothing lost or doubled.
    assert metrics["reconciliation"]["missing"] == metrics["reconciliation"]["duplicated"] == 0
    invoices = metrics["reconciliation"]["invoices"]
    assert invoices["expected"] > 400 and invoices["matched"] == invoices["expected"]
    assert sorted(path.name for path in out.iterdir()) == ["metrics.json", "report.html", "trace.parquet"]
    # Every document in the ERP came through a request that reached the served fake.
    posted = invoices["matched"] + metrics["reconciliation"]["payments"]["matched"]
    assert metrics["live"]["http_requests_to_fakes"] >= posted
    assert all(url.startswith("http://127.0.0.1:") for url in metrics["live"]["urls"].values())
    trace = pl.read_parquet(out / "trace.parquet")
    assert trace.filter(pl.col("kind") == "erp.call").height == metrics["resilience"]["erp_calls"]
    for path in out.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path.name
    assert SECRET not in json.dumps(metrics)


@pytest.mark.slow
def test_live_engine_crashes_and_restarts_from_a_postgresql_store(tmp_path: Path, postgres_url: str) -> None:
    import psycopg

    password = "pw-that-must-not-leak"  # the test server trusts loopback, so any password connects
    url = postgres_url.replace("://rehearse@", f"://rehearse:{password}@")
    scenario, _ = load("engine-crash", ["run.traffic_days=0.2", 'engine.store="postgres"',
                                        "gates.invoice_to_erp_p95_s_max=86400"])
    out = tmp_path / "live"
    metrics = live.run(scenario, 1, speedup=1200.0, out_dir=out, store_url=url).metrics
    # What must hold whatever the machine's load does to wall-clock latencies: nothing lost or doubled.
    recon = metrics["reconciliation"]
    invoices, payments = recon["invoices"], recon["payments"]
    assert invoices["expected"] > 400 and invoices["matched"] == invoices["expected"]
    assert payments["matched"] == payments["expected"] and recon["duplicated"] == 0
    trace = pl.read_parquet(out / "trace.parquet")
    # At 3600x the wall's jitter can land the second crash while the engine is still down (then it is
    # skipped); every crash that came was followed by a restart that reread the Store.
    crashes = trace.filter(pl.col("code") == "engine_crash").height
    assert crashes >= 1 and trace.filter(pl.col("kind") == "engine.restarted").height == crashes
    for path in out.iterdir():
        assert password.encode() not in path.read_bytes() and b"postgresql://" not in path.read_bytes(), path.name
    assert password not in trace.write_csv() and "127.0.0.1:" + url.rsplit(":", 1)[1] not in trace.write_csv()
    with psycopg.connect(postgres_url) as connection:  # the run's own schema is gone with the run
        assert connection.execute("SELECT count(*) FROM information_schema.schemata "
                                  "WHERE schema_name LIKE 'rehearse_live_%'").fetchone() == (0,)
