"""Unit tests and properties of the model's calendar helpers: periods, month arithmetic, UTC text.

`datetime` appears only here, as the reference the helpers must agree with.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rehearse.sync.model import (
    add_months, days_in_month, format_utc, month_start_at_or_after_s, next_period, parse_utc, period_of,
    period_start_s,
)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DAY_S = 86400.0


def utc_s(*parts: int) -> float:
    """Unix seconds of a UTC datetime, via the standard library."""
    return (datetime(*parts, tzinfo=timezone.utc) - EPOCH).total_seconds()


# -- period_of / period_start_s / next_period -----------------------------------------------------


def test_period_of_a_mid_month_time() -> None:
    assert period_of(1_770_000_000.0) == "2026-02"  # 2026-02-02T02:40:00Z


def test_period_of_month_boundaries() -> None:
    assert period_of(utc_s(2026, 3, 1)) == "2026-03"
    assert period_of(utc_s(2026, 3, 1) - 0.001) == "2026-02"


def test_period_of_the_epoch_and_before() -> None:
    assert period_of(0.0) == "1970-01"
    assert period_of(-1.0) == "1969-12"


def test_period_start_is_the_first_instant_of_the_month() -> None:
    assert period_start_s("2026-02") == utc_s(2026, 2, 1)
    assert period_start_s("2024-03") == utc_s(2024, 3, 1)
    assert period_start_s("1970-01") == 0.0


@pytest.mark.parametrize(
    ("period", "following"),
    [("2026-01", "2026-02"), ("2026-09", "2026-10"), ("2026-11", "2026-12"), ("2026-12", "2027-01"),
     ("1999-12", "2000-01")],
)
def test_next_period(period: str, following: str) -> None:
    assert next_period(period) == following


def test_next_period_starts_where_the_period_ends() -> None:
    for period in ("2024-01", "2024-02", "2025-02", "2026-12"):
        start_s = period_start_s(period)
        end_s = period_start_s(next_period(period))
        year, month = int(period[:4]), int(period[5:])
        assert end_s - start_s == days_in_month(year, month) * DAY_S


# -- days_in_month and add_months -----------------------------------------------------------------


@pytest.mark.parametrize(("year", "days"), [(2024, 29), (2023, 28), (2000, 29), (1900, 28), (2100, 28)])
def test_february_length_follows_the_gregorian_leap_rule(year: int, days: int) -> None:
    assert days_in_month(year, 2) == days


def test_month_lengths_outside_february() -> None:
    assert [days_in_month(2026, month) for month in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)] == [
        31, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def test_add_months_keeps_the_day_and_time() -> None:
    assert add_months(utc_s(2026, 1, 15, 9, 30, 5), 1) == utc_s(2026, 2, 15, 9, 30, 5)


def test_add_months_clamps_to_the_last_day_of_a_short_month() -> None:
    assert add_months(utc_s(2026, 1, 31, 12), 1) == utc_s(2026, 2, 28, 12)
    assert add_months(utc_s(2026, 3, 31), 1) == utc_s(2026, 4, 30)


def test_add_months_clamps_to_february_29_in_a_leap_year() -> None:
    assert add_months(utc_s(2024, 1, 31), 1) == utc_s(2024, 2, 29)
    assert add_months(utc_s(2024, 2, 29), 12) == utc_s(2025, 2, 28)
    assert add_months(utc_s(2024, 2, 29), 48) == utc_s(2028, 2, 29)


def test_add_months_crosses_december_into_january() -> None:
    assert add_months(utc_s(2026, 12, 15), 1) == utc_s(2027, 1, 15)
    assert add_months(utc_s(2026, 11, 30), 3) == utc_s(2027, 2, 28)


def test_add_months_backwards_and_by_zero() -> None:
    assert add_months(utc_s(2026, 1, 15), -1) == utc_s(2025, 12, 15)
    assert add_months(utc_s(2026, 3, 31), -1) == utc_s(2026, 2, 28)
    assert add_months(utc_s(2026, 3, 31, 7), 0) == utc_s(2026, 3, 31, 7)


def test_clamping_does_not_accumulate_from_the_original_anchor() -> None:
    # Billing computes every period from the anchor: Jan 31 + 2 months is Mar 31, not Mar 28.
    anchor_s = utc_s(2026, 1, 31)
    assert add_months(anchor_s, 2) == utc_s(2026, 3, 31)
    assert add_months(add_months(anchor_s, 1), 1) == utc_s(2026, 3, 28)


# -- parse_utc / format_utc -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_s"),
    [
        ("2026-02-02T02:40:00Z", 1_770_000_000.0),
        ("2026-02-02T02:40:00", 1_770_000_000.0),
        ("  2026-02-02T02:40:00Z\n", 1_770_000_000.0),
        ("2026-02-01", utc_s(2026, 2, 1)),
        ("2026-02-01T02:40", utc_s(2026, 2, 1, 2, 40)),
        ("2024-02-29T23:59:59.5Z", utc_s(2024, 2, 29, 23, 59, 59) + 0.5),
        ("1970-01-01T00:00:00Z", 0.0),
    ],
)
def test_parse_utc_accepts_timestamps_and_dates(text: str, expected_s: float) -> None:
    assert parse_utc(text) == expected_s


@pytest.mark.parametrize("text", ["2026-13-01", "2026-00-10", "2026-02-29", "2026-04-31", "2026-01-00",
                                  "1900-02-29"])
def test_parse_utc_rejects_impossible_dates(text: str) -> None:
    with pytest.raises(ValueError, match="not a calendar date"):
        parse_utc(text)


@pytest.mark.parametrize("clock", ["24:00:00", "12:60:00", "12:00:60", "-1:00:00", "12:-5:00"])
def test_parse_utc_rejects_impossible_times(clock: str) -> None:
    with pytest.raises(ValueError, match="not a time of day"):
        parse_utc(f"2026-02-01T{clock}Z")


@pytest.mark.parametrize("text", ["", "2026-02", "Feb 1 2026", "2026-02-01Tnoon", "2026-02-01T12Z",
                                  "2026-02-01T12:00:00:00Z"])
def test_parse_utc_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_utc(text)


def test_format_utc() -> None:
    assert format_utc(1_770_000_000.0) == "2026-02-02T02:40:00Z"
    assert format_utc(0.0) == "1970-01-01T00:00:00Z"
    assert format_utc(utc_s(2024, 2, 29, 23, 59, 59) + 0.9) == "2024-02-29T23:59:59Z"  # whole seconds


def test_format_then_parse_round_trips() -> None:
    for ts_s in (0.0, 1_770_000_000.0, utc_s(2024, 2, 29, 23, 59, 59), utc_s(2099, 12, 31, 23, 59, 59)):
        assert parse_utc(format_utc(ts_s)) == ts_s


# -- properties against datetime ------------------------------------------------------------------

# 1900-01-01 .. 2199-12-31 in whole seconds: centuries with and without a leap year.
instants_s = st.integers(min_value=int(utc_s(1900, 1, 1)), max_value=int(utc_s(2199, 12, 31, 23, 59, 59)))
periods = st.builds(lambda year, month: f"{year:04d}-{month:02d}",
                    st.integers(min_value=1900, max_value=2199), st.integers(min_value=1, max_value=12))


@given(periods)
def test_period_of_its_own_start_is_the_period(period: str) -> None:
    assert period_of(period_start_s(period)) == period
    assert period_of(period_start_s(next_period(period)) - 1.0) == period


@given(instants_s)
def test_period_of_agrees_with_datetime(ts_s: int) -> None:
    moment = EPOCH + timedelta(seconds=ts_s)
    assert period_of(float(ts_s)) == f"{moment.year:04d}-{moment.month:02d}"


@given(instants_s)
def test_format_utc_agrees_with_datetime_and_round_trips(ts_s: int) -> None:
    moment = EPOCH + timedelta(seconds=ts_s)
    text = format_utc(float(ts_s))
    assert text == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_utc(text) == ts_s


@given(instants_s, st.integers(min_value=-240, max_value=240))
def test_add_months_agrees_with_datetime(ts_s: int, months: int) -> None:
    moment = EPOCH + timedelta(seconds=ts_s)
    month_index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    expected = moment.replace(year=year, month=month, day=day)
    assert add_months(float(ts_s), months) == (expected - EPOCH).total_seconds()



# -- month_start_at_or_after_s: the billing peak's instant -----------------------------------------

# The whole calendar a scenario may use (1970 to 9998), in whole seconds: far from 1970, a float's
# spacing grows past a microsecond (from 2514 on), so no step may rely on subtracting one.
calendar_instants_s = st.integers(min_value=0, max_value=int(utc_s(9998, 12, 31, 23, 59, 59)))


@pytest.mark.parametrize(("moment", "expected"), [
    ((2026, 2, 1), (2026, 2, 1)),
    ((2026, 2, 1, 0, 0, 1), (2026, 3, 1)),
    ((2026, 12, 15), (2027, 1, 1)),
    ((2515, 2, 1), (2515, 2, 1)),
    ((9997, 2, 1), (9997, 2, 1)),
    ((9998, 12, 31, 23, 59, 59), (9999, 1, 1)),
])
def test_month_start_at_or_after(moment: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert month_start_at_or_after_s(utc_s(*moment)) == utc_s(*expected)


@given(calendar_instants_s)
def test_month_start_at_or_after_agrees_with_datetime(ts_s: int) -> None:
    moment = EPOCH + timedelta(seconds=ts_s)
    start = moment.replace(day=1, hour=0, minute=0, second=0)
    if start != moment:
        start = (start + timedelta(days=32)).replace(day=1)
    assert month_start_at_or_after_s(float(ts_s)) == (start - EPOCH).total_seconds()
