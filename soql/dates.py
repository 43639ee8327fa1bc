"""Relative date literals (TODAY, LAST_N_DAYS:n, ...) as half-open UTC date ranges.

Salesforce evaluates them in the running user's time zone and locale; the emulator
uses UTC and Sunday-started weeks (en_US), as the spec (§8.1) prescribes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from .nodes import RelativeDate

DateRange = tuple[date, date]  # start inclusive, end exclusive


def resolve(literal: RelativeDate, today: date) -> DateRange:
    """The [start, end) dates ``literal`` covers when evaluated on ``today``."""
    n = literal.n if literal.n is not None else 0
    return _RESOLVERS[literal.name](today, n)


def _days(start: date, count: int) -> DateRange:
    return start, start + timedelta(days=count)


def _week_start(today: date) -> date:
    # date.weekday(): Monday == 0 ... Sunday == 6; weeks start on Sunday.
    return today - timedelta(days=(today.weekday() + 1) % 7)


def _month_start(day: date, months_later: int) -> date:
    index = day.year * 12 + (day.month - 1) + months_later
    return date(index // 12, index % 12 + 1, 1)


def _months(first: date, count: int) -> DateRange:
    return first, _month_start(first, count)


def _quarter_start(today: date) -> date:
    return date(today.year, (today.month - 1) // 3 * 3 + 1, 1)


def _year_start(today: date, years_later: int) -> date:
    return date(today.year + years_later, 1, 1)


def _weeks(today: date, first_week: int, count: int) -> DateRange:
    start = _week_start(today) + timedelta(weeks=first_week)
    return start, start + timedelta(weeks=count)


def _month_span(today: date, first_month: int, count: int) -> DateRange:
    return _months(_month_start(today, first_month), count)


def _quarter_span(today: date, first_quarter: int, count: int) -> DateRange:
    return _months(_month_start(_quarter_start(today), 3 * first_quarter), 3 * count)


def _year_span(today: date, first_year: int, count: int) -> DateRange:
    return _year_start(today, first_year), _year_start(today, first_year + count)


_Resolver = Callable[[date, int], DateRange]

# Each entry maps (today, n) to a range; n is 0 for the literals without ":n".
# LAST_N_DAYS:n includes today (start = today - n), NEXT_N_DAYS:n starts tomorrow.
_RESOLVERS: dict[str, _Resolver] = {
    "YESTERDAY": lambda t, n: _days(t - timedelta(days=1), 1),
    "TODAY": lambda t, n: _days(t, 1),
    "TOMORROW": lambda t, n: _days(t + timedelta(days=1), 1),
    "LAST_N_DAYS": lambda t, n: (t - timedelta(days=n), t + timedelta(days=1)),
    "LAST_90_DAYS": lambda t, n: (t - timedelta(days=90), t + timedelta(days=1)),
    "NEXT_N_DAYS": lambda t, n: _days(t + timedelta(days=1), n),
    "NEXT_90_DAYS": lambda t, n: _days(t + timedelta(days=1), 90),
    "N_DAYS_AGO": lambda t, n: _days(t - timedelta(days=n), 1),
    "THIS_WEEK": lambda t, n: _weeks(t, 0, 1),
    "LAST_WEEK": lambda t, n: _weeks(t, -1, 1),
    "NEXT_WEEK": lambda t, n: _weeks(t, 1, 1),
    "LAST_N_WEEKS": lambda t, n: _weeks(t, -n, n),
    "NEXT_N_WEEKS": lambda t, n: _weeks(t, 1, n),
    "N_WEEKS_AGO": lambda t, n: _weeks(t, -n, 1),
    "THIS_MONTH": lambda t, n: _month_span(t, 0, 1),
    "LAST_MONTH": lambda t, n: _month_span(t, -1, 1),
    "NEXT_MONTH": lambda t, n: _month_span(t, 1, 1),
    "LAST_N_MONTHS": lambda t, n: _month_span(t, -n, n),
    "NEXT_N_MONTHS": lambda t, n: _month_span(t, 1, n),
    "N_MONTHS_AGO": lambda t, n: _month_span(t, -n, 1),
    "THIS_QUARTER": lambda t, n: _quarter_span(t, 0, 1),
    "LAST_QUARTER": lambda t, n: _quarter_span(t, -1, 1),
    "NEXT_QUARTER": lambda t, n: _quarter_span(t, 1, 1),
    "LAST_N_QUARTERS": lambda t, n: _quarter_span(t, -n, n),
    "NEXT_N_QUARTERS": lambda t, n: _quarter_span(t, 1, n),
    "N_QUARTERS_AGO": lambda t, n: _quarter_span(t, -n, 1),
    "THIS_YEAR": lambda t, n: _year_span(t, 0, 1),
    "LAST_YEAR": lambda t, n: _year_span(t, -1, 1),
    "NEXT_YEAR": lambda t, n: _year_span(t, 1, 1),
    "LAST_N_YEARS": lambda t, n: _year_span(t, -n, n),
    "NEXT_N_YEARS": lambda t, n: _year_span(t, 1, n),
    "N_YEARS_AGO": lambda t, n: _year_span(t, -n, 1),
}
