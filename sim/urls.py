"""The one check of an http(s) URL given on the command line or in a config file."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["http_url_problem"]


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
    return None
