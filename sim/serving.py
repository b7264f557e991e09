"""Serve ASGI apps on uvicorn inside the running event loop, on loopback by default, and stop them:
what ``rehearse serve``, the live mode and the tests that need real sockets use."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from rehearse.fakes.http import quiet_dropped_connections

LOOPBACK = "127.0.0.1"
# Idle keep-alive connections stay open longer than clients keep theirs (aiohttp: 15 s), so a client
# never sends a request on a connection the server is closing (uvicorn's default is 5 s: that race
# surfaces as a disconnect after the request went out, an unknown outcome, for no reason).
KEEP_ALIVE_S = 75
# How long a stopping server waits for requests still being answered before it cancels them: a
# request stuck on the other side must not hold a shutdown forever (its client retries or looks up).
GRACEFUL_SHUTDOWN_S = 5


@contextlib.asynccontextmanager
async def serving(app: Any, *, host: str = LOOPBACK, port: int = 0) -> AsyncIterator[str]:
    """Serve `app` at ``http://host:port`` (port 0: a free one) while the block runs; yields the
    base URL. The server is stopped, and its connections closed, when the block ends."""
    quiet_dropped_connections()
    # No proxy stands in front of these servers: X-Forwarded-* headers are not trusted (nor parsed,
    # which saves a middleware layer per request).
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
                            timeout_keep_alive=KEEP_ALIVE_S, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                            proxy_headers=False)
    server = uvicorn.Server(config)
    listening = listen(host, port)
    task = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it (a port in use, ...)
                raise RuntimeError(f"server on {host}:{port} stopped before it started")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        await task
        listening.close()


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one), for uvicorn to serve on.

    Bound here rather than by uvicorn, which answers an address it cannot bind (a port in use, a
    host that does not resolve) by logging and exiting the process from inside its task; here that
    is an `OSError` (``socket.gaierror`` for a name) that callers turn into a clear message."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        listening.bind(address)
    except OSError:
        listening.close()
        raise
    return listening
