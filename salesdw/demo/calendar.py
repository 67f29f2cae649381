"""The demo company's calendar: data window, months, seasonality and growth.

Days are int64 day numbers (days since 1970-01-01) so that the generator can do date
arithmetic on whole numpy arrays.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

START = dt.date(2024, 1, 1)
END = dt.date(2026, 10, 31)  # last data day (inclusive)
EXPORT_EARLY = dt.date(2026, 9, 30)  # first Salesforce opportunity export
EXPORT_LATE = END  # second export (and the only one of HubSpot / Fxiaoke)

#: Relative monthly activity, January..December: Q4 peak, August dip.
SEASON = np.array([0.86, 0.90, 1.05, 0.97, 1.00, 1.04, 0.92, 0.70, 1.05, 1.12, 1.22, 1.38])
#: Year-over-year growth of the business.
GROWTH = 1.20


def day(d: dt.date) -> int:
    """Day number of a date."""
    return (d - dt.date(1970, 1, 1)).days


def month_starts(start: dt.date = START, end: dt.date = END) -> np.ndarray:
    """Day numbers of the first days of the months start..end, plus the month after end."""
    firsts = np.arange(
        np.datetime64(start, "M"), np.datetime64(end, "M") + 2, dtype="datetime64[M]"
    )
    return firsts.astype("datetime64[D]").astype(np.int64)


def month_weights(starts: np.ndarray) -> np.ndarray:
    """Relative activity per month (season × growth), one value per month of ``starts[:-1]``."""
    months = starts[:-1].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    month_of_year = months % 12
    years_since_start = (months - months[0]) / 12.0
    activity: np.ndarray = SEASON[month_of_year] * GROWTH**years_since_start
    return activity


def to_date64(days: np.ndarray) -> np.ndarray:
    """Day numbers as numpy datetime64[D] (for polars Date columns)."""
    return days.astype("datetime64[D]")


def random_days_in_months(
    rng: np.random.Generator, starts: np.ndarray, weights: np.ndarray, n: int
) -> np.ndarray:
    """``n`` day numbers, months drawn by weight, days uniform within the month, sorted."""
    month = rng.choice(len(weights), size=n, p=weights / weights.sum())
    lo = starts[month]
    span = starts[month + 1] - lo
    return np.sort(lo + (rng.random(n) * span).astype(np.int64))
