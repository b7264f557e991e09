"""What every fake's HTTP app shares: the call-fault gate and OpenAPI tidying.

Each fake's app (``rehearse.fakes.<system>.app``) is a thin FastAPI wrapper: parse the request,
call the state machine, shape the answer in the modelled system's own error format. Call faults act
in front of it, in `FaultGate`, a plain ASGI wrapper: the fakes know nothing of the fault catalogue
(it lives in ``rehearse.sim.faults``); the gate asks a `CallFaults` object, built by the caller, what
happens to each request, and carries the answer out:

- ``delay_s``: wait first (latency, a connect timeout);
- ``drop``: close the connection without a byte of answer, the call never reaching the system
  (an outage or a connect timeout as a client sees it when the server is there: its request may
  have gone out, no answer comes back; uvicorn closes the socket when the app returns a value,
  see `DROPPED`);
- ``status``: answer an error (429 or 503 with Retry-After, a 5xx, a 409) without applying;
- ``lose_reply``: apply the call, then drop the connection after ``reply_delay_s``: the ambiguous
  outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple, Protocol

# The ASGI types as Starlette spells them, so a FastAPI app is an `Asgi` and a gate can wrap it.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[Any]]

# What the gate returns to the server to close the connection with no answer at all: uvicorn closes
# the transport when an ASGI callable returns anything but None (logged, and filtered out below).
DROPPED = "rehearse: connection dropped by an injected fault"

UNGATED_PREFIXES = ("/openapi.json", "/docs", "/admin/")  # never faulted: the documents and the admin API


class FaultAnswer(NamedTuple):
    """What happens to one request; the default is nothing at all."""

    delay_s: float = 0.0
    drop: bool = False
    latency_s: float = 0.0  # extra processing time, spent by the app inside its own gates
    status: int = 0  # 0: no injected error answer
    code: str = ""
    message: str = ""
    retry_after_s: float | None = None
    lose_reply: bool = False
    reply_delay_s: float = 0.0


NO_FAULT = FaultAnswer()


class CallFaults(Protocol):
    """Decides the fate of each request to a fake (``rehearse.sim.http_faults`` implements it)."""

    def decide(self, system: str, method: str, path: str) -> FaultAnswer:
        """The faults that strike this request now."""


ErrorBody = Callable[[int, str, str], Any]  # (status, code, message) -> JSON body
EXTRA_LATENCY_KEY = "rehearse.extra_latency_s"  # set in the ASGI scope for the app to spend


class FaultGate:
    """An ASGI wrapper that applies a `CallFaults` decision to every request of one system."""

    def __init__(self, app: Asgi, *, system: str, faults: CallFaults, error_body: ErrorBody) -> None:
        self.app = app
        self.system = system
        self.faults = faults
        self.error_body = error_body

    def __getattr__(self, name: str) -> Any:  # `openapi()`, `state`... of the wrapped app
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http" or scope["path"].startswith(UNGATED_PREFIXES):
            return await self.app(scope, receive, send)
        answer = self.faults.decide(self.system, scope["method"], scope["path"])
        if answer is NO_FAULT:
            return await self.app(scope, receive, send)
        if answer.delay_s > 0:
            await asyncio.sleep(answer.delay_s)
        if answer.latency_s:
            scope = {**scope, EXTRA_LATENCY_KEY: answer.latency_s}
        if answer.drop:
            return DROPPED
        if answer.status:
            await send_json(send, answer.status, self.error_body(answer.status, answer.code, answer.message),
                            retry_after_s=answer.retry_after_s)
            return None
        if not answer.lose_reply:
            return await self.app(scope, receive, send)

        async def swallow(message: MutableMapping[str, Any]) -> None:
            return None

        await self.app(scope, receive, swallow)  # applied; the answer never leaves
        await asyncio.sleep(answer.reply_delay_s)
        return DROPPED


async def send_json(send: Send, status: int, body: Any, *, retry_after_s: float | None = None) -> None:
    """Send a complete JSON answer on a raw ASGI `send`."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if retry_after_s is not None:
        headers.append((b"retry-after", retry_after_header(retry_after_s).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


RETRY_AFTER_REQUIRED = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"},
                                        "required": True}}


def error_responses(model: Any, described: dict[int, str], statuses: tuple[int, ...],
                    headers: dict[int, dict[str, Any]] | None = None) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of an operation, for FastAPI's ``responses=``: each status with
    its description in one system's error shape (`model`), and the headers it carries (by default
    a required Retry-After on 429)."""
    headers = {429: RETRY_AFTER_REQUIRED} if headers is None else headers
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": model, "description": described[status]}
        if status in headers:
            entry["headers"] = headers[status]
        out[status] = entry
    return out


def retry_after_header(retry_after_s: float) -> str:
    """Retry-After in whole seconds, rounded up (HTTP allows only integers), at least 1."""
    whole = int(retry_after_s)
    return str(max(1, whole + (whole < retry_after_s)))


class _DroppedFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.args and DROPPED in tuple(str(arg) for arg in record.args))


def quiet_dropped_connections() -> None:
    """Keep uvicorn from logging an error for every connection dropped on purpose."""
    logging.getLogger("uvicorn.error").addFilter(_DroppedFilter())


def tidy_openapi(document: dict[str, Any], *, validation_status: int = 400) -> dict[str, Any]:
    """FastAPI documents a 422 for every operation with a body or parameters; the fakes answer
    malformed requests the way the modelled system does (`validation_status`, in its own error
    shape, documented per operation), so the generated 422 and its schemas go."""
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if validation_status != 422:
                responses.pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    if validation_status != 422:
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document


def request_error_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line naming each invalid field and why, from pydantic's error list."""
    parts = []
    for error in errors[:5]:
        location = ".".join(str(item) for item in error.get("loc", ()) if item != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def allowed_methods(app: Any, scope: Scope) -> str:
    """The Allow header for a 405: every method some route serves at this path (Starlette only
    lists the one route it tried)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**scope, "method": "__none__"})
        if match is not Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def answer_http_errors(app: Any, *, error: Callable[[int, str, str], Any], codes: dict[int, str],
                       fallback: str) -> None:
    """Answer the framework's own errors (an unknown path, a method the path does not serve) in the
    fake's error shape: `error(status, code, message)` builds the response, `codes` names the code
    per status (`fallback` for the others); a 405 lists every method the path serves in Allow."""
    from starlette.exceptions import HTTPException

    @app.exception_handler(HTTPException)
    async def _http_error(request: Any, exc: HTTPException) -> Any:
        response = error(exc.status_code, codes.get(exc.status_code, fallback), str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(app, request.scope)
        return response
