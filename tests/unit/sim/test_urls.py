"""The http(s) URL check shared by `serve --webhook-url`, `contracts check --url` and the engine
config's endpoints."""

from __future__ import annotations

import pytest

from rehearse.sim.urls import host_problem, http_url_problem


@pytest.mark.parametrize("url", ["http://127.0.0.1:8704", "https://erp.example/api", "http://[::1]:80"])
def test_a_callable_url_has_no_problem(url):
    assert http_url_problem(url) is None


@pytest.mark.parametrize(("url", "says"), [
    ("ftp://x", "must start with http:// or https://"),
    ("http://", "names no host"),
    ("http://[::1", "Invalid IPv6 URL"),
    ("http://h:port", "Port could not be cast"),
    ("http://h:99999", "Port out of range"),
    ("http://a..b:80", "not a valid host name: label empty or too long"),
])
def test_a_url_no_client_could_call_is_named_with_why(url, says):
    problem = http_url_problem(url)
    assert problem is not None and says in problem


@pytest.mark.parametrize("host", ["a..b", ".", "x" * 64 + ".example"])
def test_a_host_no_resolver_could_look_up_is_named_with_why(host):
    """Such a name raised UnicodeError from the IDNA codec inside asyncio's resolver."""
    assert host_problem(host) == "not a valid host name: label empty or too long"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0", "localhost", "erp.example.", "bücher.example"])
def test_a_host_a_resolver_can_look_up_has_no_problem(host):
    assert host_problem(host) is None
