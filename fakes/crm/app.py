"""The CRM fake over HTTP, Salesforce-style: ``/services/data/v60.0/sobjects/Account`` and
``.../Opportunity``. Creating an opportunity wins the deal (the account becomes a customer),
PATCHing its ``Price__c`` amends it, PATCHing an account's ``Status__c`` to ``churned`` churns it.
Errors are Salesforce's: a JSON array ``[{"message": ..., "errorCode": "NOT_FOUND", "fields": []}]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, RootModel

from rehearse.fakes.crm.accounts import Crm
from rehearse.fakes.http import (
    answer_http_errors, error_responses, request_error_message, retry_after_header, tidy_openapi,
)
from rehearse.fakes.machine import IllegalTransition

API = "/services/data/v60.0/sobjects"
SalesforceId = Annotated[str, Field(pattern=r"^[a-zA-Z0-9]{15,18}$")]


class SalesforceErrorItem(BaseModel):
    message: str
    errorCode: str
    fields: list[str] = []


class SalesforceErrors(RootModel[list[SalesforceErrorItem]]):
    """Salesforce's error answer: a list of errors."""


def error_body(status: int, code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    """The JSON of a Salesforce error answer (`fields`: the fields it is about)."""
    return [{"message": message, "errorCode": code, "fields": fields or []}]


def _error(status: int, code: str, message: str, fields: list[str] | None = None,
           retry_after_s: float | None = None) -> JSONResponse:
    headers = {"Retry-After": retry_after_header(retry_after_s)} if retry_after_s is not None else None
    return JSONResponse(error_body(status, code, message, fields), status_code=status, headers=headers)


_DESCRIBED = {
    400: "INVALID_FIELD, JSON_PARSER_ERROR, REQUIRED_FIELD_MISSING or FIELD_INTEGRITY_EXCEPTION.",
    404: "NOT_FOUND: no record with that id.",
    429: "REQUEST_LIMIT_EXCEEDED: too many requests; Retry-After says when to come back.",
    500: "UNKNOWN_EXCEPTION: a server error; nothing was applied.",
    502: "UNKNOWN_EXCEPTION: a bad gateway; nothing was applied.",
    503: "SERVER_UNAVAILABLE: nothing was applied.",
    504: "UNKNOWN_EXCEPTION: a gateway timeout; nothing was applied.",
}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(SalesforceErrors, _DESCRIBED, statuses)


ERRORS = _responses(400, 404, 429, 500, 502, 503, 504)
_Strict = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class AccountCreate(BaseModel):
    model_config = ConfigDict(**_Strict, json_schema_extra={"examples": [{"Name": "Acme Corp",
                                                                                 "Entity__c": "US01"}]})
    Name: Annotated[str, Field(min_length=1, max_length=255)]
    Entity__c: Annotated[str, Field(min_length=1, max_length=40)]


class AccountUpdate(BaseModel):
    model_config = _Strict
    Status__c: Literal["churned"]


class OpportunityCreate(BaseModel):
    """A won deal for one price (``StageName`` is always ``Closed Won`` here)."""

    model_config = _Strict
    AccountId: SalesforceId
    Price__c: Annotated[str, Field(min_length=1, max_length=255)]
    StageName: Literal["Closed Won"] = "Closed Won"


class OpportunityUpdate(BaseModel):
    model_config = _Strict
    Price__c: Annotated[str, Field(min_length=1, max_length=255)]


class Created(BaseModel):
    id: str
    success: Literal[True]
    errors: list[str]


class Attributes(BaseModel):
    type: Literal["Account", "Opportunity"]


class AccountOut(BaseModel):
    attributes: Attributes
    Id: str
    Name: str
    Entity__c: str
    Status__c: Literal["prospect", "customer", "churned"]


class OpportunityOut(BaseModel):
    attributes: Attributes
    Id: str
    AccountId: str
    Price__c: str
    StageName: Literal["Open", "Closed Won", "Closed Lost"]
    Amendments__c: int


_STAGE_NAMES = {"open": "Open", "closed_won": "Closed Won", "closed_lost": "Closed Lost"}


def _link(operation_id: str, parameter: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": {parameter: "$response.body#/id"}}


def create_app(crm: Crm, *, clock: Callable[[], float]) -> FastAPI:
    """The HTTP app over `crm`; `clock` gives the time (Unix seconds) of every change."""
    app = FastAPI(title="rehearse CRM (Salesforce-like)", version="1.0.0", description=__doc__,
                  docs_url=None, redoc_url=None)
    account_ids: dict[str, str] = {}  # Salesforce id -> CRM account id
    salesforce_ids: dict[str, str] = {}  # CRM account id -> Salesforce id
    opportunity_ids: dict[str, str] = {}

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        code = "JSON_PARSER_ERROR" if any(e.get("type") == "json_invalid" for e in errors) else "INVALID_FIELD"
        fields = sorted({str(e["loc"][-1]) for e in errors if e.get("loc") and len(e["loc"]) > 1})
        return _error(400, code, request_error_message(errors), fields)

    answer_http_errors(app, error=_error, codes={404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"},
                       fallback="UNKNOWN_EXCEPTION")

    def _account_json(salesforce_id: str) -> dict[str, Any]:
        account = crm.accounts[account_ids[salesforce_id]]
        return {"attributes": {"type": "Account"}, "Id": salesforce_id, "Name": account.name,
                "Entity__c": account.entity, "Status__c": account.status}

    def _opportunity_json(salesforce_id: str) -> dict[str, Any]:
        opportunity = crm.opportunities[opportunity_ids[salesforce_id]]
        account_sf_id = salesforce_ids[opportunity.account_id]
        return {"attributes": {"type": "Opportunity"}, "Id": salesforce_id, "AccountId": account_sf_id,
                "Price__c": opportunity.price_id, "StageName": _STAGE_NAMES[opportunity.stage],
                "Amendments__c": opportunity.amendments}

    @app.post(f"{API}/Account", status_code=201, response_model=Created, operation_id="create_account",
              responses={201: {"description": "Created.", "links": {"GetAccount": _link("get_account", "account_id")}},
                         **_responses(400, 429, 500, 502, 503, 504)})
    async def create_account(body: AccountCreate) -> Any:
        """Create an account (a prospect) in a legal entity."""
        salesforce_id = f"001{len(account_ids) + 1:015d}"
        account_ids[salesforce_id] = f"acct_sf_{len(account_ids) + 1}"
        salesforce_ids[account_ids[salesforce_id]] = salesforce_id
        crm.ensure_account(account_ids[salesforce_id], body.Name, body.Entity__c)
        return JSONResponse({"id": salesforce_id, "success": True, "errors": []}, status_code=201)

    @app.get(f"{API}/Account/{{account_id}}", response_model=AccountOut, operation_id="get_account",
             responses=ERRORS)
    async def get_account(account_id: SalesforceId) -> Any:
        """Read an account."""
        if account_id not in account_ids:
            return _error(404, "NOT_FOUND",
                          f"Provided external ID field does not exist or is not accessible: {account_id}")
        return _account_json(account_id)

    @app.patch(f"{API}/Account/{{account_id}}", status_code=204, response_class=Response, response_model=None,
               operation_id="update_account", responses=ERRORS)
    async def update_account(account_id: SalesforceId, body: AccountUpdate) -> Any:
        """Churn an account: its subscriptions end at period end."""
        if account_id not in account_ids:
            return _error(404, "NOT_FOUND", f"no account {account_id}")
        try:
            crm.churn(account_ids[account_id], clock())
        except IllegalTransition as refused:
            return _error(400, "FIELD_INTEGRITY_EXCEPTION", f"an account in status {refused.state} cannot churn",
                          ["Status__c"])
        return Response(status_code=204)

    @app.post(f"{API}/Opportunity", status_code=201, response_model=Created, operation_id="create_opportunity",
              responses={201: {"description": "Created (the deal is won).",
                               "links": {"GetOpportunity": _link("get_opportunity", "opportunity_id")}},
                         **_responses(400, 429, 500, 502, 503, 504)})
    async def create_opportunity(body: OpportunityCreate) -> Any:
        """Win a deal for a price: the account becomes a customer."""
        account_id = account_ids.get(body.AccountId)
        if account_id is None:
            return _error(400, "INVALID_CROSS_REFERENCE_KEY", f"no account {body.AccountId}", ["AccountId"])
        try:
            opportunity = crm.win_deal(account_id, body.Price__c, clock())
        except IllegalTransition as refused:
            return _error(400, "FIELD_INTEGRITY_EXCEPTION", f"an account in status {refused.state} cannot win "
                          "a deal", ["AccountId"])
        salesforce_id = f"006{len(opportunity_ids) + 1:015d}"
        opportunity_ids[salesforce_id] = opportunity.id
        return JSONResponse({"id": salesforce_id, "success": True, "errors": []}, status_code=201)

    @app.get(f"{API}/Opportunity/{{opportunity_id}}", response_model=OpportunityOut,
             operation_id="get_opportunity", responses=ERRORS)
    async def get_opportunity(opportunity_id: SalesforceId) -> Any:
        """Read an opportunity."""
        if opportunity_id not in opportunity_ids:
            return _error(404, "NOT_FOUND", f"no opportunity {opportunity_id}")
        return _opportunity_json(opportunity_id)

    @app.patch(f"{API}/Opportunity/{{opportunity_id}}", status_code=204, response_class=Response, response_model=None,
               operation_id="update_opportunity", responses=ERRORS)
    async def update_opportunity(opportunity_id: SalesforceId, body: OpportunityUpdate) -> Any:
        """Amend a won deal to another price."""
        if opportunity_id not in opportunity_ids:
            return _error(404, "NOT_FOUND", f"no opportunity {opportunity_id}")
        try:
            crm.amend(opportunity_ids[opportunity_id], body.Price__c, clock())
        except IllegalTransition as refused:
            return _error(400, "FIELD_INTEGRITY_EXCEPTION", f"an opportunity in stage {refused.state} cannot be "
                          "amended", ["StageName"])
        return Response(status_code=204)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            app.openapi_schema = tidy_openapi(get_openapi(title=app.title, version=app.version,
                                                          description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
