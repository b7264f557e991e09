"""Unit tests of the engine's decisions: every branch of `rehearse.sync.decisions` through its
public functions."""

from __future__ import annotations

import pytest

from rehearse.sync.decisions import (
    AMBIGUOUS,
    CLOSED_PERIOD,
    DUPLICATE,
    INVOICE_STATE_RANK,
    MISSING_REFERENCE,
    PERMANENT,
    TRANSIENT,
    RetryPolicy,
    age_bucket,
    classify_erp_error,
    is_newer,
    retry_delay_s,
)

DAY_S = 86400.0
NO_JITTER = RetryPolicy(base_s=1.0, cap_s=300.0, jitter_share=0.0)


# -- classify_erp_error ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "DUP_RCRD", DUPLICATE),
        (400, "CLOSED_TRAN_PRD", CLOSED_PERIOD),
        (400, "INVALID_KEY_OR_REF", MISSING_REFERENCE),
        (429, "SSS_REQUEST_LIMIT_EXCEEDED", TRANSIENT),
        (409, "RCRD_HAS_BEEN_CHANGED", TRANSIENT),
    ],
)
def test_known_erp_codes_decide_by_code(status: int, code: str, expected: str) -> None:
    assert classify_erp_error(status, code) == expected


def test_the_code_wins_over_the_status() -> None:
    # A duplicate answered with a 5xx is still a duplicate, not an ambiguous outcome.
    assert classify_erp_error(500, "DUP_RCRD") == DUPLICATE
    assert classify_erp_error(503, "INVALID_KEY_OR_REF") == MISSING_REFERENCE


@pytest.mark.parametrize("status", [429, 503])
def test_throttled_and_unavailable_statuses_are_transient(status: int) -> None:
    assert classify_erp_error(status, "") == TRANSIENT
    assert classify_erp_error(status, "SERVICE_UNAVAILABLE") == TRANSIENT


@pytest.mark.parametrize("status", [500, 502, 504, 599])
def test_other_server_errors_are_ambiguous(status: int) -> None:
    assert classify_erp_error(status, "UNEXPECTED_ERROR") == AMBIGUOUS


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "INVALID_FLD_VALUE"), (400, "INVALID_TRANS_AMT"), (404, "RCRD_DSNT_EXIST"), (401, ""), (499, "X")],
)
def test_client_errors_without_a_known_code_are_permanent(status: int, code: str) -> None:
    assert classify_erp_error(status, code) == PERMANENT


# -- retry_delay_s --------------------------------------------------------------------------------


def test_first_retry_waits_the_base_delay() -> None:
    assert retry_delay_s(NO_JITTER, 1, 0.0, None) == 1.0
    assert retry_delay_s(NO_JITTER._replace(base_s=2.5), 1, 0.7, None) == 2.5


def test_delay_doubles_with_each_failed_attempt() -> None:
    delays_s = [retry_delay_s(NO_JITTER, attempt, 0.0, None) for attempt in range(1, 8)]
    assert delays_s == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]


def test_delay_is_capped() -> None:
    assert retry_delay_s(NO_JITTER, 9, 0.0, None) == 256.0
    assert retry_delay_s(NO_JITTER, 10, 0.0, None) == 300.0
    assert retry_delay_s(NO_JITTER, 30, 0.0, None) == 300.0


def test_jitter_keeps_the_fixed_share_at_uniform_zero() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=300.0, jitter_share=0.5)
    assert retry_delay_s(policy, 4, 0.0, None) == 4.0  # half of 8 s is fixed


def test_jitter_approaches_the_full_delay_at_uniform_near_one() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=300.0, jitter_share=0.5)
    delay_s = retry_delay_s(policy, 4, 0.999999, None)
    assert 7.99 < delay_s < 8.0


def test_jitter_bounds_hold_at_the_cap() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=300.0, jitter_share=0.5)
    assert retry_delay_s(policy, 40, 0.0, None) == 150.0
    assert retry_delay_s(policy, 40, 0.999999, None) < 300.0


def test_full_jitter_share_can_retry_at_once() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=300.0, jitter_share=1.0)
    assert retry_delay_s(policy, 5, 0.0, None) == 0.0
    assert retry_delay_s(policy, 5, 0.5, None) == 8.0


def test_retry_after_is_a_floor_when_respected() -> None:
    assert retry_delay_s(NO_JITTER, 1, 0.0, 30.0) == 30.0


def test_retry_after_below_the_backoff_changes_nothing() -> None:
    assert retry_delay_s(NO_JITTER, 5, 0.0, 3.0) == 16.0


def test_retry_after_is_ignored_when_not_respected() -> None:
    policy = NO_JITTER._replace(respect_retry_after=False)
    assert retry_delay_s(policy, 1, 0.0, 30.0) == 1.0


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert retry_delay_s(NO_JITTER, 10**6, 0.0, None) == 300.0
    assert retry_delay_s(NO_JITTER._replace(cap_s=float("inf")), 10**6, 0.0, None) == 2.0**62


# -- is_newer and the state ranking ---------------------------------------------------------------


def test_anything_is_newer_than_nothing_seen() -> None:
    assert is_newer(None, INVOICE_STATE_RANK["draft"])


def test_a_later_state_is_newer() -> None:
    assert is_newer(INVOICE_STATE_RANK["open"], INVOICE_STATE_RANK["paid"])
    assert is_newer(INVOICE_STATE_RANK["uncollectible"], INVOICE_STATE_RANK["void"])


def test_the_same_or_an_earlier_state_is_not_newer() -> None:
    assert not is_newer(INVOICE_STATE_RANK["paid"], INVOICE_STATE_RANK["paid"])
    assert not is_newer(INVOICE_STATE_RANK["paid"], INVOICE_STATE_RANK["open"])
    assert not is_newer(INVOICE_STATE_RANK["void"], INVOICE_STATE_RANK["paid"])


def test_invoice_states_are_ranked_draft_open_uncollectible_then_final() -> None:
    rank = INVOICE_STATE_RANK
    assert rank["draft"] < rank["open"] < rank["uncollectible"] < rank["paid"] == rank["void"]


# -- age_bucket -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_s", "bucket"),
    [
        (0.0, "0-1d"),
        (DAY_S - 1.0, "0-1d"),
        (DAY_S, "1-3d"),
        (3 * DAY_S - 1.0, "1-3d"),
        (3 * DAY_S, "3-7d"),
        (7 * DAY_S - 1.0, "3-7d"),
        (7 * DAY_S, ">7d"),
        (365 * DAY_S, ">7d"),
    ],
)
def test_age_buckets_are_closed_on_the_left(age_s: float, bucket: str) -> None:
    assert age_bucket(age_s) == bucket


# -- circuit breaker -------------------------------------------------------------------------------

from rehearse.sync.decisions import Breaker, breaker_admits, breaker_after  # noqa: E402


def test_a_closed_breaker_admits_and_opens_after_enough_failures_in_a_row():
    breaker = Breaker()
    for _ in range(4):
        breaker = breaker_after(breaker, True, 100.0, failures_max=5, cooldown_s=30.0)
        assert breaker_admits(breaker, 100.0) == (breaker, 0.0)
    breaker = breaker_after(breaker, True, 100.0, failures_max=5, cooldown_s=30.0)
    assert breaker == Breaker("open", 5, 130.0)
    assert breaker_admits(breaker, 110.0) == (breaker, 20.0)


def test_a_success_resets_the_count():
    breaker = breaker_after(Breaker("closed", 4), False, 0.0, failures_max=5, cooldown_s=30.0)
    assert breaker == Breaker()


def test_after_the_cooldown_one_probe_goes_and_decides():
    opened = Breaker("open", 5, 130.0)
    probing, wait_s = breaker_admits(opened, 130.0)
    assert probing.state == "half_open" and wait_s == 0.0
    assert breaker_admits(probing, 131.0) == (probing, 1.0)  # the others wait for the probe
    assert breaker_after(probing, True, 131.0, failures_max=5, cooldown_s=30.0) == Breaker("open", 6, 161.0)
    assert breaker_after(probing, False, 131.0, failures_max=5, cooldown_s=30.0) == Breaker()


def test_a_reopened_invoice_outranks_anything_from_before_the_return() -> None:
    from rehearse.sync.decisions import invoice_rank
    from rehearse.sync.model import Invoice

    paid = Invoice("in_1", "cus_1", "sub_1", "US01", "USD", "paid", (), 100, 0, 100, 100, 0.0, 1.0)
    reopened = paid._replace(status="open", amount_paid_minor=0, reopened=1)
    assert is_newer(invoice_rank(paid), invoice_rank(reopened))
    assert not is_newer(invoice_rank(reopened), invoice_rank(paid))
    for later in ("paid", "uncollectible", "void"):
        assert is_newer(invoice_rank(reopened), invoice_rank(reopened._replace(status=later)))
