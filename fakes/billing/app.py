"""The billing fake over HTTP, Stripe-Billing-style: customers, prices, subscriptions (created,
moved to another price with proration, canceled at period end) and invoices, with list endpoints
that page by ``starting_after`` and filter by time (the engine's gap-fill reads them).

Thin: validate, call `rehearse.fakes.billing.Billing` at the clock's time, serialize the canonical
records. Errors are Stripe's ``{"error": {"type", "code", "message", "param"}}``. Webhooks are not
sent from here: the platform's `EventLog` hands every event to whatever sender the caller wired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from rehearse.fakes.billing.platform import Billing
from rehearse.fakes.machine import IllegalTransition
from rehearse.fakes.stripe import (
    ERRORS_LIST, ERRORS_READ, ERRORS_WRITE, LIST_LIMIT_DEFAULT, AddressBody, Cursor, Limit, ListOf, error,
    install_stripe_errors, missing, page, record_json,
)
from rehearse.sync.model import Address, Customer, Invoice

_Strict = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
Id = Annotated[str, Field(min_length=1, max_length=255)]


class CustomerCreate(BaseModel):
    """A new customer, billed in `currency` by legal entity `entity`."""

    model_config = ConfigDict(**_Strict, json_schema_extra={"examples": [{
        "entity": "US01", "currency": "USD", "name": "Acme Corp", "email": "billing@acme.example",
        "address": {"line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "73301", "country": "US"}}]})
    entity: Annotated[str, Field(min_length=1, max_length=40)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    name: Annotated[str, Field(max_length=200)] = ""
    email: Annotated[str, Field(max_length=200)] = ""
    address: AddressBody


class SubscriptionCreate(BaseModel):
    """Subscribe `customer` to `price` from now: the first invoice is finalized and charged at once."""

    model_config = ConfigDict(**_Strict, json_schema_extra={"examples": [{"customer": "cus_1",
                                                                                 "price": "starter:USD"}]})
    customer: Id
    price: Id


class SubscriptionUpdate(BaseModel):
    """Move to another `price` (prorated to the second; ``always_invoice`` bills it at once,
    ``create_prorations`` waits for the next invoice), or cancel at period end."""

    model_config = _Strict
    price: Id | None = None
    proration_behavior: Literal["always_invoice", "create_prorations"] = "create_prorations"
    cancel_at_period_end: Literal[True] | None = None


class AddressOut(BaseModel):
    line1: str
    city: str
    region: str
    postal_code: str
    country: str


class CustomerOut(BaseModel):
    object: Literal["customer"]
    id: str
    entity: str
    currency: str
    name: str
    email: str
    address: AddressOut
    created_s: float


class PriceOut(BaseModel):
    object: Literal["price"]
    id: str
    plan_id: str
    interval: Literal["month", "year"]
    currency: str
    unit_amount_minor: int


class SubscriptionOut(BaseModel):
    object: Literal["subscription"]
    id: str
    customer_id: str
    entity: str
    currency: str
    price_id: str
    status: str
    current_period_start_s: float
    current_period_end_s: float
    cancel_at_period_end: bool


class InvoiceLineOut(BaseModel):
    description: str
    kind: Literal["subscription", "proration"]
    amount_minor: int
    tax_minor: int
    period_start_s: float
    period_end_s: float


class InvoiceOut(BaseModel):
    object: Literal["invoice"]
    id: str
    customer_id: str
    subscription_id: str
    entity: str
    currency: str
    status: Literal["draft", "open", "paid", "void", "uncollectible"]
    lines: list[InvoiceLineOut]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    amount_paid_minor: int
    created_s: float
    finalized_s: float
    tax_status: Literal["complete", "requires_location_inputs"]
    reopened: int = Field(ge=0, description="Times a returned bank debit reopened the invoice (paid -> open).")


def _link(operation_id: str, parameter: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": {parameter: "$response.body#/id"}}


def create_app(billing: Billing, *, clock: Callable[[], float]) -> FastAPI:
    """The HTTP app over `billing`; `clock` gives the time (Unix seconds) of every change."""
    app = FastAPI(title="rehearse billing (Stripe-Billing-like)", version="1.0.0", description=__doc__,
                  docs_url=None, redoc_url=None)
    install_stripe_errors(app)
    customer_json = lambda record: record_json("customer", record)  # noqa: E731
    invoice_json = lambda record: record_json("invoice", record)  # noqa: E731

    def subscription_json(record) -> dict[str, Any]:
        return record_json("subscription", record.snapshot())

    @app.post("/v1/customers", response_model=CustomerOut, operation_id="create_customer",
              responses={200: {"description": "The customer.",
                               "links": {"GetCustomer": _link("get_customer", "customer_id")}},
                         **ERRORS_LIST})
    async def create_customer(body: CustomerCreate) -> Any:
        """Create a customer."""
        number = len(billing.customers) + 1
        while f"cus_{number}" in billing.customers:
            number += 1
        address = body.address
        customer = Customer(f"cus_{number}", body.entity, body.currency, body.name, body.email,
                            Address(address.line1, address.city, address.region, address.postal_code,
                                    address.country), clock())
        billing.create_customer(customer, customer.created_s)
        return customer_json(customer)

    @app.get("/v1/customers/{customer_id}", response_model=CustomerOut, operation_id="get_customer",
             responses=ERRORS_READ)
    async def get_customer(customer_id: Id) -> Any:
        """Retrieve a customer."""
        customer = billing.customers.get(customer_id)
        return missing("customer", customer_id) if customer is None else customer_json(customer)

    @app.get("/v1/customers", response_model=ListOf[CustomerOut], operation_id="list_customers",
             responses=ERRORS_LIST)
    async def list_customers(
        created_gte: Annotated[float, Query(
            allow_inf_nan=False, description="Only customers created at or after (Unix s).")] = 0.0,
        limit: Limit = LIST_LIMIT_DEFAULT, starting_after: Cursor = None,
    ) -> Any:
        """Customers in creation order, created at or after `created_gte`."""
        items = (c for c in billing.customers.values() if c.created_s >= created_gte)
        return page(items, limit=limit, starting_after=starting_after, url="/v1/customers", as_json=customer_json)

    @app.get("/v1/prices", response_model=ListOf[PriceOut], operation_id="list_prices", responses=ERRORS_LIST)
    async def list_prices(limit: Limit = LIST_LIMIT_DEFAULT, starting_after: Cursor = None) -> Any:
        """The prices subscriptions can use."""
        return page(billing.prices.values(), limit=limit, starting_after=starting_after, url="/v1/prices",
                    as_json=lambda price: record_json("price", price))

    @app.post("/v1/subscriptions", response_model=SubscriptionOut, operation_id="create_subscription",
              responses={200: {"description": "The subscription (incomplete until its first invoice is paid).",
                               "links": {"GetSubscription": _link("get_subscription", "subscription_id")}},
                         **ERRORS_LIST})
    async def create_subscription(body: SubscriptionCreate) -> Any:
        """Start a subscription now."""
        customer = billing.customers.get(body.customer)
        if customer is None:
            return missing("customer", body.customer, param="customer")
        price = billing.prices.get(body.price)
        if price is None:
            return missing("price", body.price, param="price")
        if price.currency != customer.currency:
            return error(400, "currency_mismatch", f"price {price.id} is in {price.currency}, customer "
                         f"{customer.id} is billed in {customer.currency}", param="price")
        return subscription_json(billing.create_subscription(customer.id, price.id, clock()))

    @app.get("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut,
             operation_id="get_subscription", responses=ERRORS_READ)
    async def get_subscription(subscription_id: Id) -> Any:
        """Retrieve a subscription."""
        record = billing.subscriptions.get(subscription_id)
        return missing("subscription", subscription_id) if record is None else subscription_json(record)

    @app.post("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut,
              operation_id="update_subscription", responses=ERRORS_WRITE)
    async def update_subscription(subscription_id: Id, body: SubscriptionUpdate) -> Any:
        """Change the price (prorated) or cancel at period end."""
        record = billing.subscriptions.get(subscription_id)
        if record is None:
            return missing("subscription", subscription_id)
        if (body.price is None) == (body.cancel_at_period_end is None):
            return error(400, "parameter_missing", "give exactly one of price and cancel_at_period_end")
        now_s = clock()
        if body.cancel_at_period_end:
            billing.cancel(subscription_id, now_s)
            return subscription_json(record)
        price = billing.prices.get(body.price or "")
        if price is None:
            return missing("price", body.price or "", param="price")
        if price.currency != record.customer.currency or price.interval != record.price.interval:
            return error(400, "price_incompatible", f"price {price.id} must be in {record.customer.currency} "
                         f"and billed every {record.price.interval}", param="price")
        if record.cancel_at_period_end:
            return error(400, "subscription_canceling", "the subscription is canceled at period end")
        try:
            billing.change_price(subscription_id, price.id, now_s, body.proration_behavior == "always_invoice")
        except IllegalTransition as refused:
            return error(400, "subscription_status", f"a subscription in status {refused.state} cannot "
                         "change price")
        return subscription_json(record)

    @app.get("/v1/invoices/{invoice_id}", response_model=InvoiceOut, operation_id="get_invoice",
             responses=ERRORS_READ)
    async def get_invoice(invoice_id: Id) -> Any:
        """Retrieve an invoice."""
        invoice = billing.invoices.get(invoice_id)
        return missing("invoice", invoice_id) if invoice is None else invoice_json(invoice)

    @app.get("/v1/invoices", response_model=ListOf[InvoiceOut], operation_id="list_invoices",
             responses=ERRORS_LIST)
    async def list_invoices(
        finalized_gte: Annotated[float | None, Query(
            allow_inf_nan=False,
            description="Only invoices finalized at or after (Unix s); drafts never match.")] = None,
        limit: Limit = LIST_LIMIT_DEFAULT, starting_after: Cursor = None,
    ) -> Any:
        """Invoices in creation order; with `finalized_gte`, only those finalized since."""
        items: Iterable[Invoice] = billing.invoices.values()
        if finalized_gte is not None:
            items = (i for i in items if i.finalized_s and i.finalized_s >= finalized_gte)
        return page(items, limit=limit, starting_after=starting_after, url="/v1/invoices", as_json=invoice_json)

    return app
