"""The tax fake over HTTP, Stripe-Tax-style: ``POST /v1/tax/calculations`` computes exclusive tax on
line amounts (integer minor units) for an address. An address that cannot be located answers 400
``customer_tax_location_invalid`` (Avalara's code 176 in the message), never a silent zero."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from rehearse.fakes.stripe import ERRORS_LIST, AddressBody, error, install_stripe_errors
from rehearse.fakes.tax.engine import TaxAddressError, TaxEngine
from rehearse.sync.model import Address

_Strict = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
AMOUNT_MINOR_MAX = 10**12  # a trillion minor units per line: beyond any invoice line


class LineItemBody(BaseModel):
    model_config = _Strict
    reference: Annotated[str, Field(max_length=200)] = ""
    amount_minor: Annotated[int, Field(ge=-AMOUNT_MINOR_MAX, le=AMOUNT_MINOR_MAX)]


class CalculationCreate(BaseModel):
    model_config = ConfigDict(**_Strict, json_schema_extra={"examples": [{
        "currency": "USD", "address": {"postal_code": "73301", "region": "TX", "country": "US"},
        "line_items": [{"reference": "basic", "amount_minor": 1000}]}]})
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    address: AddressBody
    line_items: Annotated[list[LineItemBody], Field(min_length=1, max_length=100)]


class LineItemOut(BaseModel):
    reference: str
    amount_minor: int
    tax_minor: int


class CalculationOut(BaseModel):
    object: Literal["tax.calculation"]
    currency: str
    rate_bps: int
    line_items: list[LineItemOut]
    tax_amount_exclusive_minor: int
    amount_total_minor: int


def create_app(tax: TaxEngine) -> FastAPI:
    """The HTTP app over `tax`."""
    app = FastAPI(title="rehearse tax (Stripe-Tax-like)", version="1.0.0", description=__doc__,
                  docs_url=None, redoc_url=None)
    install_stripe_errors(app)

    @app.post("/v1/tax/calculations", response_model=CalculationOut, operation_id="create_calculation",
              responses=ERRORS_LIST)
    async def create_calculation(body: CalculationCreate) -> Any:
        """Compute exclusive tax for each line at the rate of the address."""
        address = body.address
        try:
            rate_bps = tax.rate_bps(Address(address.line1, address.city, address.region, address.postal_code,
                                            address.country))
        except TaxAddressError as refused:
            return error(400, "customer_tax_location_invalid", f"{refused.message} (code {refused.code})",
                         param="address")
        lines: list[dict[str, Any]] = [{"reference": item.reference, "amount_minor": item.amount_minor,
                                        "tax_minor": tax.tax_minor(item.amount_minor, rate_bps)}
                                       for item in body.line_items]
        tax_minor = sum(line["tax_minor"] for line in lines)
        return {"object": "tax.calculation", "currency": body.currency, "rate_bps": rate_bps, "line_items": lines,
                "tax_amount_exclusive_minor": tax_minor,
                "amount_total_minor": sum(item.amount_minor for item in body.line_items) + tax_minor}

    return app
