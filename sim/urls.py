"""The one check of an http(s) URL, and of a host name, given on the command line or in a config
file."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["host_problem", "http_url_problem"]


def http_url_problem(url: str) -> str | None:
    """Why `url` cannot be called as an http(s) URL, or None: the scheme, a host, and a host and
    port that parse (a bracket left open or a port that is not a number raised deep in a client).

    Examples
    --------
    >>> http_url_problem("http://127.0.0.1:8704") is None
    True
    >>> http_url_problem("http://[::1")
    'Invalid IPv6 URL'
    """
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    try:
        parts = urlsplit(url)
        if not parts.hostname:
            return "names no host"
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as error:
        return str(error)
    return host_problem(parts.hostname)


def host_problem(host: str) -> str | None:
    """Why `host` is no name a resolver could look up, or None: a label that is empty or longer
    than 63 characters (``a..b``) raised UnicodeError from the IDNA codec deep in the resolver
    (``serve --host``, the engine config's ``webhooks.host``, a client's URL). Whether the name
    exists is for the resolver to say: it fails with an OSError that the commands report.

    Examples
    --------
    >>> host_problem("127.0.0.1") is None and host_problem("erp.example") is None
    True
    >>> host_problem("a..b")
    'not a valid host name: label empty or too long'
    """
    try:
        host.encode("idna")
    except UnicodeError as error:
        return f"not a valid host name: {error.__cause__ or error}"
    return None
