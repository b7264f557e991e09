"""The payments fake over HTTP, Stripe-style: charges, read one by one or listed by creation time
and status (the engine's gap-fill lists succeeded charges, and reversed ones by when the bank
returned them; it re-reads one charge before it posts a second payment of an invoice). Charges are
made by billing when it collects an invoice, so this API only reads. Errors are Stripe's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

from rehearse.fakes.payments.gateway import PaymentsGateway
from rehearse.fakes.stripe import (
    ERRORS_LIST, ERRORS_READ, LIST_LIMIT_DEFAULT, Cursor, Limit, ListOf, install_stripe_errors, missing, page,
    record_json,
)


class ChargeOut(BaseModel):
    object: Literal["charge"]
    id: str
    invoice_id: str
    customer_id: str
    entity: str
    currency: str
    amount_minor: int
    status: Literal["succeeded", "failed", "reversed"]
    decline_code: str
    created_s: float
    method: Literal["card", "ach_debit"]
    reversed_s: float = Field(description="When the bank returned the debit (Unix s); 0 when it was not.")


def create_app(payments: PaymentsGateway) -> FastAPI:
    """The HTTP app over `payments`."""
    app = FastAPI(title="rehearse payments (Stripe-Payments-like)", version="1.0.0", description=__doc__,
                  docs_url=None, redoc_url=None)
    install_stripe_errors(app)
    charge_json = lambda charge: record_json("charge", charge)  # noqa: E731

    @app.get("/v1/charges/{charge_id}", response_model=ChargeOut, operation_id="get_charge", responses=ERRORS_READ)
    async def get_charge(charge_id: Annotated[str, Field(min_length=1, max_length=255)]) -> Any:
        """Retrieve a charge."""
        charge = payments.charges.get(charge_id)
        return missing("charge", charge_id) if charge is None else charge_json(charge)

    @app.get("/v1/charges", response_model=ListOf[ChargeOut], operation_id="list_charges", responses=ERRORS_LIST)
    async def list_charges(
        created_gte: Annotated[float, Query(
            allow_inf_nan=False, description="Only charges created at or after (Unix s).")] = 0.0,
        status: Literal["succeeded", "failed", "reversed"] | None = None,
        reversed_gte: Annotated[float, Query(
            allow_inf_nan=False, description="Only charges returned by the bank at or after (Unix s).")] = 0.0,
        limit: Limit = LIST_LIMIT_DEFAULT, starting_after: Cursor = None,
    ) -> Any:
        """Charges in creation order, optionally of one status."""
        items = (c for c in payments.charges.values()
                 if c.created_s >= created_gte and (status is None or c.status == status)
                 and (not reversed_gte or c.reversed_s >= reversed_gte))
        return page(items, limit=limit, starting_after=starting_after, url="/v1/charges", as_json=charge_json)

    return app
