"""What the Stripe-like apps (billing, payments, tax) share: the error shape
``{"error": {"type": ..., "code": ..., "message": ...}}``, list envelopes with cursor pagination,
the malformed-request handler, the address a request carries, and record serialization.

Objects are served with the canonical field names of ``rehearse.sync.model`` (money in integer
minor units, times in Unix seconds) plus Stripe's ``object`` tag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rehearse.fakes.http import (
    answer_http_errors, error_responses, request_error_message, retry_after_header, tidy_openapi,
)
from rehearse.sync.model import Address

ErrorType = Literal["api_error", "card_error", "idempotency_error", "invalid_request_error", "rate_limit_error"]

LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 10


class AddressBody(BaseModel):
    """A postal address in a request (a customer's, or the one a tax calculation is for)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    line1: Annotated[str, Field(max_length=200)] = ""
    city: Annotated[str, Field(max_length=100)] = ""
    region: Annotated[str, Field(max_length=100)] = ""
    postal_code: Annotated[str, Field(max_length=20)] = ""
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class StripeErrorDetail(BaseModel):
    type: ErrorType
    code: str
    message: str
    param: str | None = None


class StripeError(BaseModel):
    """A Stripe error: ``{"error": {"type": "invalid_request_error", "code": "resource_missing", ...}}``."""

    error: StripeErrorDetail


_TYPE_BY_STATUS = {400: "invalid_request_error", 404: "invalid_request_error", 405: "invalid_request_error",
                   409: "idempotency_error", 429: "rate_limit_error"}


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """The JSON of a Stripe error answer; the type follows from the status."""
    detail: dict[str, Any] = {"type": _TYPE_BY_STATUS.get(status, "api_error"), "code": code, "message": message}
    if param is not None:
        detail["param"] = param
    return {"error": detail}


def error(status: int, code: str, message: str, *, param: str | None = None,
          retry_after_s: float | None = None) -> JSONResponse:
    """A Stripe error response."""
    headers = {"Retry-After": retry_after_header(retry_after_s)} if retry_after_s is not None else None
    return JSONResponse(error_body(status, code, message, param), status_code=status, headers=headers)


def missing(kind: str, object_id: str, param: str | None = None) -> JSONResponse:
    """Stripe's 404 (or, for a reference in a body, 400) ``resource_missing``."""
    return error(400 if param else 404, "resource_missing", f"No such {kind}: '{object_id}'", param=param)


_DESCRIBED = {
    400: "invalid_request_error: a malformed request (parameter_invalid_*, parameter_unknown, "
         "parameter_missing) or a reference to something that does not exist (resource_missing).",
    404: "resource_missing: no object with that id.",
    429: "rate_limit_error: too many requests; Retry-After says when to come back.",
    500: "api_error: a server error; nothing was applied.",
    502: "api_error: a bad gateway; nothing was applied.",
    503: "api_error: the service is unavailable; nothing was applied.",
    504: "api_error: a gateway timeout; nothing was applied.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Documented error answers, each in Stripe's shape."""
    return error_responses(StripeError, _DESCRIBED, statuses)


ERRORS_READ = responses(400, 404, 429, 500, 502, 503, 504)
ERRORS_LIST = responses(400, 429, 500, 502, 503, 504)
ERRORS_WRITE = responses(400, 404, 429, 500, 502, 503, 504)

T = TypeVar("T")


class ListOf(BaseModel, Generic[T]):
    """Stripe's list envelope: a page of objects and whether more follow (page on with
    ``starting_after`` = the last id)."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    url: str


Limit = Annotated[int, Field(ge=1, le=LIST_LIMIT_MAX)]
Cursor = Annotated[str | None, Field(max_length=255)]


def page(items: Iterable[Any], *, limit: int, starting_after: str | None, url: str,
         as_json: Callable[[Any], dict[str, Any]]) -> dict[str, Any] | JSONResponse:
    """One page of `items` (in the platform's creation order) after the id `starting_after`."""
    started = starting_after is None
    data: list[dict[str, Any]] = []
    has_more = False
    for item in items:
        if not started:
            started = item.id == starting_after
            continue
        if len(data) == limit:
            has_more = True
            break
        data.append(as_json(item))
    if not started:
        return missing("object", starting_after or "", param="starting_after")
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def record_json(kind: str, record: Any) -> dict[str, Any]:
    """A canonical record (a NamedTuple of `rehearse.sync.model`) as a Stripe-like object."""
    body: dict[str, Any] = {"object": kind}
    for name, value in record._asdict().items():
        if isinstance(value, Address):
            value = value._asdict()
        elif name == "lines":
            value = [line._asdict() for line in value]
        body[name] = value
    return body


def install_stripe_errors(app: FastAPI) -> None:
    """Malformed requests and unknown routes answer in Stripe's shape; the generated 422 goes."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        param = ".".join(str(item) for item in errors[0].get("loc", ())[1:]) if errors else None
        return error(400, "parameter_invalid", request_error_message(errors), param=param or None)

    answer_http_errors(app, error=error, codes={404: "resource_missing", 405: "method_not_allowed"},
                       fallback="api_error")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            app.openapi_schema = tidy_openapi(get_openapi(title=app.title, version=app.version,
                                                          description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
