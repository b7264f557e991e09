"""What is PostgreSQL's own in its Store: URLs, the password kept out of messages, failures to
connect, and stores side by side in one database. No server is needed except for the last test."""

from __future__ import annotations

import socket
import uuid

import pytest

from rehearse.sync.postgres_store import PostgresStore, StoreUnavailable, redact, schema_problem, url_problem
from rehearse.sync.store import POSTED, Posting


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_only_postgresql_urls_are_accepted():
    assert url_problem("postgresql://u@h/db") is None and url_problem("postgres://h") is None
    assert "postgresql://" in url_problem("mysql://u@h/db") and "no scheme" in url_problem("h:5432/db")
    with pytest.raises(ValueError, match=r"store URL mysql://u@h/db: must start with postgresql://"):
        PostgresStore("mysql://u:hunter2@h/db")


def test_redaction_drops_the_password_wherever_it_is():
    assert redact("postgresql://app:s3cret@db.example:5433/books") == "postgresql://app@db.example:5433/books"
    assert redact("postgresql://db/books?user=app&password=s3cret&sslmode=require") == \
        "postgresql://db/books?user=app&password=***&sslmode=require"
    assert redact("postgresql://app@db/books") == "postgresql://app@db/books"


@pytest.mark.parametrize("url", ["postgresql://u:S3CRETPW@[::1/db", "postgresql://u:S3CRETPW@h:port/db"])
def test_a_url_that_cannot_be_parsed_is_refused_without_showing_its_password(url):
    """It used to raise from inside the redaction, in a traceback that printed the password."""
    problem = url_problem(url)
    assert problem is not None and "cannot be parsed" in problem and "S3CRETPW" not in problem
    assert "S3CRETPW" not in redact(url) and redact(url).startswith("postgresql://")


def test_schema_names_are_plain_identifiers():
    assert schema_problem("rehearse_live_01") is None
    assert schema_problem("Robert'); DROP") and schema_problem("1st") and schema_problem("x" * 64)


def test_an_unreachable_server_is_a_clear_error_without_the_password():
    url = f"postgresql://app:s3cret@127.0.0.1:{_closed_port()}/books"
    with pytest.raises(StoreUnavailable) as raised:
        PostgresStore.open(url)
    message = str(raised.value)
    assert message.startswith(f"cannot connect to PostgreSQL at {redact(url)}: ") and "s3cret" not in message


def test_stores_in_different_schemas_do_not_see_each_other(postgres_url):
    first, second = (f"test_{uuid.uuid4().hex[:12]}" for _ in range(2))
    store = PostgresStore.open(postgres_url, schema=first)
    posting = Posting("in_1", None, POSTED, 1.0)
    store.postings["in_1"] = posting
    store.save(posting)
    store.close()
    other = PostgresStore.open(postgres_url, schema=second)
    assert other.postings == {}
    other.drop()
    again = PostgresStore.open(postgres_url, schema=first)
    assert again.is_posted("in_1")
    again.drop()
