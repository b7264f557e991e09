"""The canonical model: what every system's records mean, in one vocabulary.

Every record is a `NamedTuple`: immutable, compact (a tuple, no per-instance dict) and cheap to
create, so a run can hold millions. Money is always an integer amount in minor units next to an ISO
4217 currency code; every monetary record carries its legal entity and currency. Times are Unix
seconds (UTC) as floats; service periods are half-open ``[start_s, end_s)``.

Fakes build these records, the engine maps them to ERP documents, the oracle derives expectations
from them. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


class LegalEntity(NamedTuple):
    """A subsidiary that keeps its own books, in one functional currency."""

    id: str
    currency: str
    country: str


class Address(NamedTuple):
    """A billing address; tax is computed from it."""

    line1: str
    city: str
    region: str
    postal_code: str
    country: str


class Customer(NamedTuple):
    """A billing customer. Belongs to exactly one legal entity and bills in one currency."""

    id: str
    entity: str
    currency: str
    name: str
    email: str
    address: Address
    created_s: float


class Price(NamedTuple):
    """A recurring price of a plan in one currency."""

    id: str
    plan_id: str
    interval: str  # "month" | "year"
    currency: str
    unit_amount_minor: int


class Plan(NamedTuple):
    """A product tier; `rank` orders tiers so upgrades and downgrades are well defined."""

    id: str
    name: str
    interval: str
    rank: int


class Subscription(NamedTuple):
    """A snapshot of a subscription as billing reports it."""

    id: str
    customer_id: str
    entity: str
    currency: str
    price_id: str
    status: str
    current_period_start_s: float
    current_period_end_s: float
    cancel_at_period_end: bool


class InvoiceLine(NamedTuple):
    """One invoice line. `kind` is "subscription" or "proration"; amounts exclude tax."""

    description: str
    kind: str
    amount_minor: int
    tax_minor: int
    period_start_s: float
    period_end_s: float


class Invoice(NamedTuple):
    """A snapshot of an invoice. `finalized_s` is 0.0 while the invoice is a draft. `tax_status`
    is "complete", or "requires_location_inputs" when automatic tax could not locate the customer
    and the invoice went out with no tax at all (as Stripe does)."""

    id: str
    customer_id: str
    subscription_id: str
    entity: str
    currency: str
    status: str  # draft | open | paid | void | uncollectible
    lines: tuple[InvoiceLine, ...]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    amount_paid_minor: int
    created_s: float
    finalized_s: float
    tax_status: str = "complete"
    reopened: int = 0  # times a returned payment reopened it (paid -> open)


# `Charge.method` of a bank debit: it succeeds at once and the bank can return it days later.
ACH_DEBIT = "ach_debit"


class Charge(NamedTuple):
    """One payment attempt on an invoice. `status` is "succeeded", "failed", or "reversed" when a
    bank debit that was booked as paid came back from the bank (`reversed_s`, return code in
    `decline_code`). `method` is "card" or "ach_debit"."""

    id: str
    invoice_id: str
    customer_id: str
    entity: str
    currency: str
    amount_minor: int
    status: str
    decline_code: str  # "" when succeeded
    created_s: float
    method: str = "card"
    reversed_s: float = 0.0


class Event(NamedTuple):
    """A webhook event: an id unique per event (not per delivery), a type and an object snapshot;
    `data` is a wire payload (a dict, see `rehearse.sync.wire`) when the event was sent in an API
    version other than the canonical one."""

    id: str
    type: str
    created_s: float
    data: Customer | Subscription | Invoice | Charge | dict


class JournalLine(NamedTuple):
    """One side of a journal entry; exactly one of debit and credit is non-zero."""

    account: str
    debit_minor: int
    credit_minor: int


class ErpDocument(NamedTuple):
    """A document the engine asks the ERP to record.

    `doc_type` is one of `DOCUMENT_TYPES`. `external_id` is the idempotency handle (a pure
    function of the source id); it is "" when the engine posts without one. `source_id` is the
    billing/payments id, kept in a custom field as real connectors do. `parent_id` is the external
    id this document depends on: the customer of an invoice, the invoice a payment, void or
    write-off applies to, the payment a reversal takes back, the write-off a recovery undoes.
    `tran_date_s` is the business date; `posting_period` ("YYYY-MM") is where it lands, which
    differs from the date's period only when the engine routed a late posting out of a closed
    period.
    """

    doc_type: str
    external_id: str
    source_id: str
    parent_id: str
    entity: str
    currency: str
    amount_minor: int
    tax_minor: int
    tran_date_s: float
    posting_period: str
    lines: tuple[InvoiceLine, ...]
    journal: tuple[JournalLine, ...]
    name: str = ""


DOCUMENT_TYPES = ("customer", "invoice", "payment", "void", "writeoff", "reversal", "recovery")


# -- calendar vocabulary: accounting periods are calendar months, "YYYY-MM", in UTC ---------------

_SECONDS_PER_DAY = 86400
_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return year + (month <= 2), month, day


def days_in_month(year: int, month: int) -> int:
    """Number of days in a calendar month."""
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


_PERIOD_BY_DAY: dict[int, str] = {}  # a pure function's cache: day number -> "YYYY-MM"


def period_of(ts_s: float) -> str:
    """The accounting period "YYYY-MM" that contains a Unix time (UTC)."""
    day = int(ts_s // _SECONDS_PER_DAY)
    period = _PERIOD_BY_DAY.get(day)
    if period is None:
        year, month, _ = _civil_from_days(day)
        period = _PERIOD_BY_DAY[day] = f"{year:04d}-{month:02d}"
    return period


def next_period(period: str) -> str:
    """The period after "YYYY-MM"."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def period_start_s(period: str) -> float:
    """Unix time of the first instant of a period."""
    return float(_days_from_civil(int(period[:4]), int(period[5:7]), 1) * _SECONDS_PER_DAY)


def month_start_at_or_after_s(ts_s: float) -> float:
    """Unix time of the first 1st-of-month 00:00 UTC at or after a Unix time: `ts_s` itself when it
    is one, else the next month's start."""
    period = period_of(ts_s)
    month_start_s = period_start_s(period)
    return month_start_s if month_start_s == ts_s else period_start_s(next_period(period))


@lru_cache(maxsize=1 << 16)  # pure; a peak's subscriptions share one anchor, so most calls repeat
def add_months(ts_s: float, months: int) -> float:
    """The same day-of-month and time `months` later, clamped to the month's last day (as billing
    anchors do: Jan 31 + 1 month = Feb 28/29)."""
    days, seconds = divmod(ts_s, _SECONDS_PER_DAY)
    year, month, day = _civil_from_days(int(days))
    month_index = year * 12 + (month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(day, days_in_month(year, month))
    return float(_days_from_civil(year, month, day) * _SECONDS_PER_DAY) + seconds


def parse_utc(text: str) -> float:
    """Unix seconds of an ISO 8601 UTC timestamp "YYYY-MM-DDTHH:MM:SSZ" (or a date "YYYY-MM-DD")."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1]
    date, _, clock = text.partition("T")
    year, month, day = (int(part) for part in date.split("-"))
    if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month)):
        raise ValueError(f"not a calendar date: {date!r}")
    hours = minutes = 0
    seconds = 0.0
    if clock:
        parts = clock.split(":")
        if not 2 <= len(parts) <= 3:
            raise ValueError(f"not a time of day: {clock!r}")
        hours, minutes = int(parts[0]), int(parts[1])
        seconds = float(parts[2]) if len(parts) > 2 else 0.0
        if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 60):
            raise ValueError(f"not a time of day: {clock!r}")
    return _days_from_civil(year, month, day) * _SECONDS_PER_DAY + hours * 3600 + minutes * 60 + seconds


def format_utc(ts_s: float) -> str:
    """ISO 8601 "YYYY-MM-DDTHH:MM:SSZ" of a Unix time (whole seconds)."""
    days, seconds = divmod(int(ts_s), _SECONDS_PER_DAY)
    year, month, day = _civil_from_days(days)
    hours, rest = divmod(seconds, 3600)
    return f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"
