"""Golden tests of customer activity (active_customers, logo_churn_rate) where a short
churn window lets a customer churn, come back and churn again within one period, and a
check of every period against a day-by-day count written independently below."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import kpi_builders as kb
import polars as pl
import pytest

from kpis import customers
from kpis.inputs import KpiInputs
from schemas.config import KpiSettings

D = dt.date


def order(order_id: str, day: dt.date, customer: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "order_date": day,
        "customer_id": customer,
        "net_amount": 10.0,
    }


def value(frame: pl.DataFrame, kpi: str, grain: str, start: dt.date, column: str) -> Any:
    row = frame.filter(
        (pl.col("kpi") == kpi)
        & (pl.col("grain") == grain)
        & (pl.col("period_start") == start)
        & (pl.col("dimension") == "all")
    )
    assert row.height == 1, row
    return row.item(0, column)


@pytest.fixture
def comebacks() -> KpiInputs:
    """W = 30 days, as_of 2024-12-31.

    a: buys 2023-12-20 (active on 2023-12-31), inactive from 2024-01-19, buys again
       2024-06-01, inactive again from 2024-07-01: churned in 2024 despite coming back.
    b: buys 2023-12-20 and 2024-12-15: active on 2023-12-31 and on 2024-12-31.
    c: buys 2023-12-25 and 2024-01-10 (one spell), inactive from 2024-02-09.
    """
    return kb.make_inputs(
        D(2024, 12, 31),
        orders=kb.orders(
            [
                order("1", D(2023, 12, 20), "a"),
                order("2", D(2024, 6, 1), "a"),
                order("3", D(2023, 12, 20), "b"),
                order("4", D(2024, 12, 15), "b"),
                order("5", D(2023, 12, 25), "c"),
                order("6", D(2024, 1, 10), "c"),
            ]
        ),
    )


def test_churned_after_coming_back_within_the_period(comebacks: KpiInputs) -> None:
    out = customers.kpi_values(comebacks, KpiSettings(churn_window_days=30))
    # year 2024: a, b, c active on 2023-12-31; only b on 2024-12-31; a and c churned
    assert value(out, "logo_churn_rate", "year", D(2024, 1, 1), "denominator") == 3
    assert value(out, "logo_churn_rate", "year", D(2024, 1, 1), "numerator") == 2
    assert value(out, "active_customers", "year", D(2024, 1, 1), "value") == 1
    # January: a, b, c active on Dec 31; on Jan 31 a and b (42 days) are not, c (21 days) is
    assert value(out, "logo_churn_rate", "month", D(2024, 1, 1), "numerator") == 2
    assert value(out, "active_customers", "month", D(2024, 1, 1), "value") == 1
    # February: c active on Jan 31, not on Feb 29 (50 days)
    assert value(out, "logo_churn_rate", "month", D(2024, 2, 1), "value") == 1.0
    # June: a active again on Jun 30 (29 days), nobody active on May 31 -> null rate
    assert value(out, "active_customers", "month", D(2024, 6, 1), "value") == 1
    assert value(out, "logo_churn_rate", "month", D(2024, 6, 1), "value") is None
    # Q3: a active on Jun 30, not on Sep 30 -> 1 / 1
    assert value(out, "logo_churn_rate", "quarter", D(2024, 7, 1), "value") == 1.0


def _day_by_day(
    purchases: dict[str, list[dt.date]], grid: pl.DataFrame, window: int
) -> dict[tuple[str, dt.date], tuple[int, int, int]]:
    """(grain, period_start) -> (active at start, active at end, churned), by checking
    every customer on the two days (docs/kpis.md, independently of the kpis code)."""

    def active(days: list[dt.date], on: dt.date) -> bool:
        return any(0 <= (on - p).days < window for p in days)

    counts = {}
    for row in grid.iter_rows(named=True):
        start = {c for c, days in purchases.items() if active(days, row["start_day"])}
        end = {c for c, days in purchases.items() if active(days, row["end_day"])}
        counts[(row["grain"], row["period_start"])] = (
            len(start),
            len(end),
            len(start - end),
        )
    return counts


@pytest.mark.parametrize("window", [1, 7, 30, 91, 365])
def test_activity_counts_match_a_day_by_day_count(window: int) -> None:
    rng = random.Random(window)
    as_of = D(2024, 8, 17)
    purchases = {
        f"c{n}": sorted(
            D(2022, 1, 1) + dt.timedelta(days=rng.randrange(0, 960))
            for _ in range(rng.randrange(1, 8))
        )
        for n in range(40)
    }
    rows = [
        order(f"{customer}-{k}", day, customer)
        for customer, days in purchases.items()
        for k, day in enumerate(days)
        if day <= as_of
    ]
    shop = kb.make_inputs(as_of, orders=kb.orders(rows))
    grains = customers.ACTIVITY_GRAINS
    counts = customers.activity_counts(
        shop, KpiSettings(churn_window_days=window), grains, {}
    ).filter(pl.col("dimension") == "all")

    first_day = min(r["order_date"] for r in rows)
    grid = customers.evaluation_grid(grains, first_day, as_of)
    seen = {c: [d for d in days if d <= as_of] for c, days in purchases.items()}
    expected = _day_by_day(seen, grid, window)
    got = {
        (r["grain"], r["period_start"]): (r["active_start"], r["active_end"], r["churned"])
        for r in counts.iter_rows(named=True)
    }
    assert got == expected
