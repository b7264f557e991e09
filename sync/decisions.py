"""The engine's decisions: plain functions over frozen data, tested exhaustively.

How an ERP error is handled, how long to wait before a retry, whether an event is newer than what
is already known. The async workflows in `rehearse.sync.orchestrated` only sequence these.
"""

from __future__ import annotations

from typing import NamedTuple

# What to do about a failed ERP call.
DUPLICATE = "duplicate"  # the record exists already: look it up and carry on
CLOSED_PERIOD = "closed_period"  # post into the next open period, keep the dates
MISSING_REFERENCE = "missing_reference"  # a parent is not in the ERP (yet): wait and retry
TRANSIENT = "transient"  # throttled, locked, unavailable: back off and retry
AMBIGUOUS = "ambiguous"  # may have been applied: look up before retrying
PERMANENT = "permanent"  # a person must look: exception queue

_BY_CODE = {
    "DUP_RCRD": DUPLICATE,
    "CLOSED_TRAN_PRD": CLOSED_PERIOD,
    "INVALID_KEY_OR_REF": MISSING_REFERENCE,
    "SSS_REQUEST_LIMIT_EXCEEDED": TRANSIENT,
    "RCRD_HAS_BEEN_CHANGED": TRANSIENT,
}


def classify_erp_error(status: int, code: str) -> str:
    """Classify an ERP error answer by its code first, then by its HTTP status."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in (429, 503):
        return TRANSIENT
    if status >= 500:
        return AMBIGUOUS  # a 500 may come after the write was applied
    return PERMANENT


class RetryPolicy(NamedTuple):
    """Capped exponential backoff with jitter. `jitter_share` of each delay is randomized."""

    base_s: float = 1.0
    cap_s: float = 300.0
    jitter_share: float = 0.5
    attempts_max: int = 12
    respect_retry_after: bool = True


def retry_delay_s(policy: RetryPolicy, attempt: int, uniform: float, retry_after_s: float | None) -> float:
    """Delay before attempt `attempt + 1`, after `attempt` failed attempts (attempt >= 1).

    The exponential delay ``min(cap, base * 2**(attempt-1))`` keeps ``1 - jitter_share`` of itself
    and randomizes the rest with `uniform` in [0, 1) ("equal jitter"), so a crowd of retries spreads
    out. A server's Retry-After is a floor when the policy respects it.
    """
    exponential_s = min(policy.cap_s, policy.base_s * (2.0 ** min(attempt - 1, 62)))
    delay_s = exponential_s * (1.0 - policy.jitter_share) + exponential_s * policy.jitter_share * uniform
    if policy.respect_retry_after and retry_after_s is not None and retry_after_s > delay_s:
        return retry_after_s
    return delay_s


# Order of invoice states for a consumer that never trusts arrival order: a later state never goes
# back to an earlier one (draft < open < uncollectible < paid | void).
INVOICE_STATE_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}


def invoice_rank(invoice) -> int:
    """The rank of an invoice snapshot: its state's rank, within the number of times a returned
    payment reopened it, so that a reopened invoice (paid -> open) outranks every snapshot from
    before the return, and a late ``invoice.paid`` from before it changes nothing."""
    return invoice.reopened * 10 + INVOICE_STATE_RANK[invoice.status]


def is_newer(rank_seen: int | None, rank_now: int) -> bool:
    """Whether a snapshot of state rank `rank_now` moves an object forward from `rank_seen`.
    Arrival order is never trusted: an older state arriving late changes nothing."""
    return rank_seen is None or rank_now > rank_seen


class Breaker(NamedTuple):
    """A circuit breaker's state: closed (calls flow), open (no calls until `open_until_s`), or
    half_open (one probe is out; its outcome decides)."""

    state: str = "closed"
    failures: int = 0
    open_until_s: float = 0.0


def breaker_admits(breaker: Breaker, now_s: float) -> tuple[Breaker, float]:
    """Whether a call may go now: (new state, 0.0) to go, or (state, seconds to wait) to hold it.
    After the cooldown the first call through is the half-open probe; the others keep waiting."""
    if breaker.state == "closed":
        return breaker, 0.0
    if breaker.state == "open" and now_s >= breaker.open_until_s:
        return breaker._replace(state="half_open"), 0.0
    if breaker.state == "open":
        return breaker, breaker.open_until_s - now_s
    return breaker, 1.0  # half open: the probe is out; look again in a second


CLOSED = Breaker()  # shared: a success, every ERP call's usual outcome, needs no new state


def breaker_after(breaker: Breaker, failed: bool, now_s: float, failures_max: int, cooldown_s: float) -> Breaker:
    """The state after a call's outcome: `failures_max` failures in a row, or a failed probe,
    open the circuit for `cooldown_s`; a success closes it."""
    if not failed:
        return CLOSED
    failures = breaker.failures + 1
    if breaker.state == "half_open" or failures >= failures_max:
        return Breaker("open", failures, now_s + cooldown_s)
    return breaker._replace(failures=failures)


def age_bucket(age_s: float) -> str:
    """The exception-aging bucket of DOMAIN.md section 11."""
    days = age_s / 86400.0
    if days < 1:
        return "0-1d"
    if days < 3:
        return "1-3d"
    if days < 7:
        return "3-7d"
    return ">7d"
