"""``rehearse serve``: the fakes on the wire, with an admin API for faults and a traffic driver.

Exit status: 0 when stopped (Ctrl-C or ``--duration-s``), 2 for bad input.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import secrets
import sys

import click
from rich.console import Console

from rehearse.sim.cli_types import FiniteFloatRange, HostName, NonEmptyPath
from rehearse.sim.preflight import memory_problem
from rehearse.sim.scenario import ScenarioError, load
from rehearse.sim.served import SYSTEMS
from rehearse.sim.serving import LOOPBACK
from rehearse.sim.urls import http_url_problem

SECRET_ENV = "REHEARSE_WEBHOOK_SECRET"


def _fail_input(messages: list[str]) -> None:
    console = Console(stderr=True)
    for message in messages:
        console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("serve")
@click.option("--systems", default=",".join(SYSTEMS), show_default=True,
              help="Comma-separated fakes to serve.")
@click.option("--host", type=HostName(), default=LOOPBACK, show_default=True,
              help="Address to bind; anything but loopback exposes the fakes and the admin API.")
@click.option("--port-base", type=click.IntRange(1024, 65000), default=8700, show_default=True,
              help="crm on N, billing N+1, payments N+2, tax N+3, erp N+4, admin API N+5.")
@click.option("--scenario", "scenario_name", default="smoke", show_default=True,
              help="Scenario whose fakes, faults and traffic to serve (a built-in name or a .toml path).")
@click.option("--seed", type=click.IntRange(min=0), default=None)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario value.")
@click.option("--speedup", type=FiniteFloatRange(min=0.001), default=1.0, show_default=True,
              help="Scenario seconds per wall second for the traffic driver (60: a peak hour in a minute).")
@click.option("--traffic/--no-traffic", default=True, show_default=True,
              help="Drive the scenario's traffic (existing book, renewals, new deals) in real time.")
@click.option("--webhook-url", "webhook_urls", multiple=True,
              help=f"Deliver billing and payments webhooks here, signed with ${SECRET_ENV} (repeatable).")
@click.option("--duration-s", type=FiniteFloatRange(min=0.0), default=None,
              help="Stop after this many wall seconds (default: until Ctrl-C).")
@click.option("--no-memory-check", "skip_memory_check", is_flag=True,
              help="Serve even when the scenario's book would exceed the memory this machine has available.")
def serve_command(systems: str, host: str, port_base: int, scenario_name: str, seed: int | None,
                  overrides: tuple[str, ...], speedup: float, traffic: bool, webhook_urls: tuple[str, ...],
                  duration_s: float | None, skip_memory_check: bool) -> None:
    """Serve a scenario's fakes over HTTP with an admin API (/admin/faults) and a traffic driver."""
    from rehearse.sim.serve import serve_until

    chosen = tuple(name.strip() for name in systems.split(",") if name.strip())
    unknown = [name for name in chosen if name not in SYSTEMS]
    if unknown or not chosen:
        _fail_input([f"--systems: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(SYSTEMS)}"])
    for url in webhook_urls:
        if (problem := http_url_problem(url)) is not None:
            _fail_input([f"--webhook-url {url!r}: {problem}"])
    try:
        scenario, _ = load(scenario_name, list(overrides))
    except ScenarioError as error:
        _fail_input(error.messages)
        return
    # The book is built in this process before anything is served: too big, it is killed minutes later.
    if not skip_memory_check and (problem := memory_problem(scenario)):
        _fail_input([f"{scenario_name}: {problem}"])
    console = Console(stderr=True)
    if not _is_loopback(host):
        console.print(f"[bold yellow]warning:[/] binding to {host}: the fakes and the admin API are reachable "
                      "from other machines, without authentication", highlight=False)
    secret = os.environ.get(SECRET_ENV, "")
    if webhook_urls and not secret:
        secret = "whsec_" + secrets.token_hex(24)
        # Shown once, like `stripe listen` does; never written to a trace or a report.
        console.print(f"webhook signing secret (set ${SECRET_ENV} to choose it): {secret}", highlight=False)

    def ready(served) -> None:
        for name, url in served.urls.items():
            console.print(f"{name:<9} {url}", highlight=False)
        console.print(f"serving scenario {scenario.name} seed {seed if seed is not None else scenario.run.seed}, "
                      f"speedup {speedup:g}, traffic {'on' if traffic else 'off'}; Ctrl-C stops", highlight=False)

    try:
        asyncio.run(serve_until(scenario, scenario.run.seed if seed is None else seed, duration_s=duration_s,
                                on_ready=ready, systems=chosen, host=host, port_base=port_base, speedup=speedup,
                                traffic=traffic, webhook_urls=webhook_urls, webhook_secret=secret))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        _fail_input([f"--host {host} --port-base {port_base}: {error.strerror or error}"])


@click.command("engine")
@click.option("--config", "config_path", type=NonEmptyPath(dir_okay=False, path_type=__import__("pathlib").Path),
              required=True, help="TOML file: the URLs of the ERP, billing and payments, the webhook endpoint, "
                                  "the Store (see rehearse.sim.engine_config).")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="The engine's jitter seed.")
def engine_command(config_path, seed: int) -> None:
    """Run the sync engine as a service against any URLs: fakes served by `rehearse serve`, or real
    sandboxes that speak the same APIs. Stops on Ctrl-C or after run.duration_s."""
    from rehearse.sim.engine_config import ConfigError, load_config
    from rehearse.sim.engine_service import EndpointUnavailable, run_engine
    from rehearse.sim.recorder import TraceRecorder
    from rehearse.sync.store_url import StoreUnavailable

    try:
        config = load_config(config_path)
    except ConfigError as error:
        _fail_input(error.messages)
        return
    secret = os.environ.get(config.webhooks.secret_env, "")
    if not secret:
        _fail_input([f"{config_path}: webhooks.secret_env: ${config.webhooks.secret_env} is not set; the engine "
                     "refuses unsigned webhooks, so it needs the sender's signing secret"])
    console = Console(stderr=True)
    if not _is_loopback(config.webhooks.host):
        console.print(f"[bold yellow]warning:[/] the webhook endpoint binds to {config.webhooks.host}", highlight=False)
    trace = TraceRecorder()
    try:
        engine = asyncio.run(run_engine(config, secret, trace=trace, seed=seed,
                                        on_ready=lambda url: console.print(f"engine listening for webhooks at {url}",
                                                                           highlight=False)))
    except KeyboardInterrupt:
        engine = None
    except StoreUnavailable as error:
        _fail_input([f"{config_path}: {'store.url' if config.store.url else 'store.path'}: {error}"])
        return
    except EndpointUnavailable as error:
        _fail_input([f"{config_path}: {error}"])
        return
    except OSError as error:  # what is left to fail with one: binding the webhook endpoint
        _fail_input([f"{config_path}: webhooks: {error.strerror or error}"])
        return
    frame = trace.frame()
    if config.run.trace:
        try:
            frame.write_parquet(config.run.trace)
        except OSError as error:  # checked before the run; a disk that filled up since
            _fail_input([f"{config_path}: run.trace: {config.run.trace}: cannot write: {error}"])
    posted = frame.filter(frame["kind"] == "engine.posted").height if frame.height else 0
    console.print(f"stopped: {posted:,} postings"
                  + (f" ({engine.initially_loaded:,} existing customers mapped first)" if engine else "")
                  + f", {frame.height:,} trace rows"
                  + (f", trace in {config.run.trace}" if config.run.trace else "")
                  + (f"; refused deliveries {engine.receiver.refused}" if engine and engine.receiver.refused else ""),
                  highlight=False)
