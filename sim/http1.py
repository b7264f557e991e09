"""A lean HTTP/1.1 client for the live mode's hot paths, the fakes' webhook sender and the engine's
ERP client: one request at a time per keep-alive connection, the answer parsed by httptools (the
parser uvicorn uses), a pool of connections per origin.

Why not aiohttp there: at a billing peak the fakes sign and POST tens of thousands of webhooks and
the engine makes an ERP call per posting, and aiohttp's client spends about 160 to 225
microseconds of CPU per request on the 2-core box (request and response objects, cookie and
header machinery, a timer context, a connection pool that resolves per request), against about 30
to 55 for this client (`bench/http_client.py` measures both against the same server). Those paths
need only: send a body with a few headers, read the status, headers and body, and tell "could not
connect" (nothing was sent) from "sent but no whole answer" (the other side may have acted on it).

Errors, all `Http1Error`:
- `ConnectFailed`: no connection could be made (refused, unreachable, TLS failed); nothing sent.
- `AnswerLost`: the request was written, but the connection closed or sent something that is not
  HTTP before a whole answer came back.
- `AnswerTimeout`: no whole answer within the timeout (the connection is dropped, not reused).

A connection is reused only after a whole answer that allows keep-alive, and not after it has been
idle for `IDLE_S` (a server may be closing it: a request sent then would be lost for nothing).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from typing import NamedTuple, cast
from urllib.parse import urlsplit

import httptools

IDLE_S = 15.0  # reuse an idle connection up to this long (aiohttp's default; uvicorn keeps its own 75 s here)
CONNECT_TIMEOUT_S = 10.0


class Http1Error(Exception):
    """A request that got no answer (see the module docstring for the kinds)."""


class ConnectFailed(Http1Error):
    """No connection could be made: nothing was sent."""


class AnswerLost(Http1Error):
    """The request went out but the connection ended before a whole answer."""


class AnswerTimeout(Http1Error):
    """No whole answer within the timeout."""


class Response(NamedTuple):
    """An answer: status, headers (names lower-cased, the last value of a repeated name wins), body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Origin(NamedTuple):
    """Where a URL's requests go: scheme, host, port, and the ``Host`` header value."""

    scheme: str
    host: str
    port: int
    host_header: bytes


def split_url(url: str) -> tuple[Origin, bytes]:
    """A URL's origin and its request target (path and query), or ValueError for one that is not
    an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    netloc = parts.netloc.rpartition("@")[2]  # never send credentials in a Host header
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, port, netloc.encode("idna")), target.encode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, parses its answer into a future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[Response] | None = None
        self.closed = False
        self.idle_since = 0.0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._head_done = False

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(AnswerLost(f"not an HTTP answer: {error}"))

    def eof_received(self) -> bool:
        return False  # close the transport: a server that half-closes is done with us

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        headers = self._headers
        if (self.answer is not None and self._head_done and "content-length" not in headers
                and "transfer-encoding" not in headers):
            self.on_message_complete()  # an answer without a length ends when the connection does
        self._fail(AnswerLost("connection closed before a whole answer"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        answer = self.answer
        self.answer = None
        if not self.parser.should_keep_alive():
            self.close()
        if answer is not None and not answer.done():
            answer.set_result(Response(self.parser.get_status_code(), self._headers, b"".join(self._body)))

    # ours
    def send(self, request: bytes, answer: asyncio.Future[Response]) -> None:
        self._headers = {}
        self._body = []
        self._head_done = False
        self.answer = answer
        # Set by `connection_made` before `create_connection` hands the connection to the pool.
        cast(asyncio.Transport, self.transport).write(request)

    def _fail(self, error: Http1Error) -> None:
        answer = self.answer
        self.answer = None
        if answer is not None and not answer.done():
            answer.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http1Client:
    """Keep-alive connections per origin, at most `connections_max` to each, each carrying one
    request at a time; a request waits for a free connection when all are busy."""

    def __init__(self, *, connections_max: int = 64, timeout_s: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if connections_max < 1:
            raise ValueError("connections_max must be at least 1")
        self.connections_max = connections_max
        self.timeout_s = timeout_s
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: dict[Origin, int] = {}
        self._waiters: dict[Origin, collections.deque[asyncio.Future[None]]] = {}
        self._all: set[_Connection] = set()
        self._closed = False

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Response:
        """POST `body` to `url` with `headers` (Host and Content-Length are added)."""
        origin, target = split_url(url)
        return await self.request(origin, b"POST", target, body, headers)

    async def request(self, origin: Origin, method: bytes, target: bytes, body: bytes,
                      headers: dict[str, str], timeout_s: float | None = None) -> Response:
        """One request on a pooled connection to `origin` (`target`: path and query, already
        percent-encoded); raises an `Http1Error` without an answer. `timeout_s` overrides the
        client's for this request."""
        if body or method not in (b"GET", b"HEAD"):
            head = [b"%b %b HTTP/1.1\r\nHost: %b\r\nContent-Length: %d\r\n"
                    % (method, target, origin.host_header, len(body))]
        else:
            head = [b"%b %b HTTP/1.1\r\nHost: %b\r\n" % (method, target, origin.host_header)]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} holds a line break")
            head.append(b"%b: %b\r\n" % (name.encode("latin-1"), value.encode("latin-1")))
        head.append(b"\r\n")
        head.append(body)
        connection = await self._acquire(origin)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Response] = loop.create_future()
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        timer = loop.call_later(timeout_s, _time_out, connection, answer, timeout_s)
        try:
            connection.send(b"".join(head), answer)
            return await answer
        finally:
            timer.cancel()
            self._release(origin, connection)

    async def _acquire(self, origin: Origin) -> _Connection:
        if self._closed:
            raise ConnectFailed("the client is closed")
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if (not connection.closed and not cast(asyncio.Transport, connection.transport).is_closing()  # see `send`
                    and now - connection.idle_since < IDLE_S):
                return connection
            connection.close()
            self._forget(origin, connection)
        while self._open.get(origin, 0) >= self.connections_max:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(origin, collections.deque()).append(waiter)
            await waiter
            idle = self._idle.get(origin)
            if idle:
                return await self._acquire(origin)
        self._open[origin] = self._open.get(origin, 0) + 1
        try:
            connection = await self._connect(origin)
        except BaseException:
            self._open[origin] -= 1
            self._wake(origin)
            raise
        self._all.add(connection)
        return connection

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        context = None
        if origin.scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
            # arrives as the connection completes, and a cancelled caller would then carry on.
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, connection = await loop.create_connection(_Connection, origin.host, origin.port, ssl=context)
        except (OSError, ssl.SSLError) as error:  # TimeoutError is an OSError
            reason = str(error) or type(error).__name__
            raise ConnectFailed(f"cannot connect to {origin.host}:{origin.port}: {reason}") from None
        return connection

    def _release(self, origin: Origin, connection: _Connection) -> None:
        if connection.closed or connection.answer is not None or self._closed:
            connection.close()
            self._forget(origin, connection)
        else:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(origin, []).append(connection)
        self._wake(origin)

    def _forget(self, origin: Origin, connection: _Connection) -> None:
        if connection in self._all:
            self._all.discard(connection)
            self._open[origin] -= 1

    def _wake(self, origin: Origin) -> None:
        waiters = self._waiters.get(origin)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        """Close every connection (requests under way fail with `AnswerLost`)."""
        self._closed = True
        for connection in list(self._all):
            connection.close()
        self._all.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports run their connection_lost


def _time_out(connection: _Connection, answer: asyncio.Future[Response], timeout_s: float) -> None:
    if not answer.done():
        connection._fail(AnswerTimeout(f"no answer within {timeout_s:g} s"))
