"""Call an ASGI app in process, one request at a time, without a network or an HTTP client
library: how tests (and a user's CI) talk to a fake's app directly."""

from __future__ import annotations

import asyncio
import json
from typing import Any, NamedTuple
from urllib.parse import urlencode


class Answer(NamedTuple):
    status: int  # 0 when the app dropped the connection without answering
    headers: dict[str, str]
    body: Any
    returned: Any  # what the ASGI callable returned (the gate's DROPPED marker)


async def call(app, method: str, path: str, *, json_body: Any = None, raw: bytes | None = None,
               query: dict | None = None) -> Answer:
    body = raw if raw is not None else (json.dumps(json_body).encode() if json_body is not None else b"")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": urlencode(query or {}).encode(), "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1234),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    sent: list[dict] = []
    delivered = False

    async def receive() -> dict:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    returned = await app(scope, receive, send)
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    if start is None:
        return Answer(0, {}, None, returned)
    headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    parsed = (json.loads(payload) if payload and headers.get("content-type", "").startswith("application/json")
              else payload)
    return Answer(start["status"], headers, parsed, returned)


def request(app, method: str, path: str, **kwargs: Any) -> Answer:
    """Run one request through `app` on a fresh event loop."""
    return asyncio.run(call(app, method, path, **kwargs))
