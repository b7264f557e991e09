"""Where a PostgreSQL Store lives, said safely: the URL checked, printed without its password, and
the error for a server that cannot be reached. Apart from `rehearse.sync.postgres_store` so the
command line can check a URL without importing the driver.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a plain PostgreSQL identifier, no quoting needed
SECRET_PARAMETERS = ("password", "sslpassword")


class StoreUnavailable(Exception):
    """The store's database could not be reached or used; the message has no password in it."""


def url_problem(url: str) -> str | None:
    """Why `url` is not a PostgreSQL URL, or None when it is one."""
    scheme, found, _ = url.partition("://")
    if not found or scheme not in SCHEMES:
        return f"must start with postgresql:// or postgres:// (got {scheme + '://' if found else 'no scheme'})"
    try:
        urlsplit(url).port  # parses the host and port: a bracket left open, a port that is not a number
    except ValueError as error:
        return f"cannot be parsed: {error}"  # the reason only: the URL may hold a password
    return None


def schema_problem(schema: str) -> str | None:
    """Why `schema` cannot name the store's PostgreSQL schema, or None."""
    if not SCHEMA_NAME.fullmatch(schema):
        return "must be lower-case letters, digits and _ (not first a digit), at most 63 characters"
    return None


def redact(url: str) -> str:
    """`url` without its password (in the user part or as a query parameter), fit to print. A URL
    that cannot be parsed is shown as its scheme only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.partition("://")[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = urlencode([(key, "***" if key in SECRET_PARAMETERS else value)
                       for key, value in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(message: str, url: str) -> str:
    """A driver's message with any password of `url` blotted out (libpq does not echo it; belt and braces)."""
    parts = urlsplit(url)
    secrets = [parts.password or ""] + [value for key, value in parse_qsl(parts.query) if key in SECRET_PARAMETERS]
    for secret in filter(None, secrets):
        message = message.replace(secret, "***")
    return message.strip()
