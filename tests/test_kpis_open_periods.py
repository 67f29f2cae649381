"""Open periods compare like with like (docs/kpis.md): for the period that contains the as-of
date, revenue_growth, revenue_yoy, gross and net revenue retention set the period to
date against the previous period to the same day; kpi_values marks such rows
``is_partial``. Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest
from kpi_builders import kpi_row, make_inputs, sales

from kpis import compute, retention, revenue
from kpis.inputs import KpiInputs
from kpis.values import KPI_VALUES_SCHEMA
from schemas.config import KpiSettings

D = dt.date
AS_OF = D(2024, 11, 15)  # day 46 of Q4; the same day of Q3 is August 15


@pytest.fixture
def half_quarter() -> KpiInputs:
    orders, lines = sales(
        [
            # Q3
            {"order_id": "1", "order_date": D(2024, 7, 10), "customer_id": "c1", "net_amount": 100.0},
            {"order_id": "2", "order_date": D(2024, 8, 15), "customer_id": "c2", "net_amount": 50.0},
            {"order_id": "3", "order_date": D(2024, 9, 1), "customer_id": "c3", "net_amount": 80.0},
            {"order_id": "4", "order_date": D(2024, 9, 20), "customer_id": "c1", "net_amount": 200.0},
            # Q4 to date
            {"order_id": "5", "order_date": D(2024, 10, 5), "customer_id": "c1", "net_amount": 150.0},
            {"order_id": "6", "order_date": D(2024, 11, 1), "customer_id": "c4", "net_amount": 60.0},
            {"order_id": "7", "order_date": D(2024, 11, 15), "customer_id": "c2", "net_amount": 20.0},
        ]
    )
    return make_inputs(AS_OF, orders=orders, order_lines=lines)


def test_open_quarter_growth_against_the_previous_quarter_to_the_same_day(
    half_quarter: KpiInputs,
) -> None:
    values = revenue.revenue_growth(half_quarter)
    q4 = kpi_row(values, "revenue_growth", "quarter", D(2024, 10, 1))
    # Q4 to Nov 15: 150 + 60 + 20 = 230; Q3 to Aug 15: 100 + 50 = 150 (orders 3 and 4 are
    # after Aug 15); 230 / 150 − 1 = 0.5333 (against the whole Q3, 430, it would be −0.465)
    assert (q4["numerator"], q4["denominator"]) == (230.0, 150.0)
    assert q4["value"] == pytest.approx(230 / 150 - 1)
    assert q4["is_partial"] is True
    # November to the 15th: 60 + 20 = 80; October 1–15: 150; 80 / 150 − 1
    nov = kpi_row(values, "revenue_growth", "month", D(2024, 11, 1))
    assert (nov["numerator"], nov["denominator"]) == (80.0, 150.0)
    # a closed quarter against the whole previous one: Q3 430; Q2 is before the data -> null
    q3 = kpi_row(values, "revenue_growth", "quarter", D(2024, 7, 1))
    assert (q3["numerator"], q3["denominator"], q3["is_partial"]) == (430.0, None, False)


def test_open_quarter_retention_to_the_same_day(half_quarter: KpiInputs) -> None:
    values = retention.kpi_values(half_quarter, KpiSettings())
    # base: customers with positive revenue in Q3 to Aug 15: c1 100, c2 50 (c3 bought on
    # Sep 1: not in it); their Q4 to date: c1 150, c2 20; c4 is new (not in the base)
    nrr = kpi_row(values, "net_revenue_retention", "quarter", D(2024, 10, 1))
    assert (nrr["numerator"], nrr["denominator"]) == (170.0, 150.0)
    assert nrr["value"] == pytest.approx(170 / 150)  # 1.133
    # GRR: min(150, 100) + min(20, 50) = 120 over 150 = 0.8
    grr = kpi_row(values, "gross_revenue_retention", "quarter", D(2024, 10, 1))
    assert (grr["numerator"], grr["denominator"]) == (120.0, 150.0)
    assert grr["is_partial"] is True
    # Q3 is closed: its base is the whole Q2 (nobody): null, not partial
    q3 = kpi_row(values, "net_revenue_retention", "quarter", D(2024, 7, 1))
    assert (q3["value"], q3["is_partial"]) == (None, False)


def test_a_period_ending_on_the_as_of_date_is_whole() -> None:
    orders, lines = sales(
        [
            {"order_id": "1", "order_date": D(2024, 1, 31), "net_amount": 100.0},
            {"order_id": "2", "order_date": D(2024, 2, 29), "net_amount": 50.0},
        ]
    )
    values = revenue.revenue_growth(make_inputs(D(2024, 2, 29), orders=orders, order_lines=lines))
    # February is complete on the 29th: against the whole January (Jan 31 included)
    feb = kpi_row(values, "revenue_growth", "month", D(2024, 2, 1))
    assert (feb["numerator"], feb["denominator"], feb["is_partial"]) == (50.0, 100.0, False)
    # Q1 is open: Jan 1 – Feb 29 against Oct 1 – Nov 29, 2023 (no data: null)
    q1 = kpi_row(values, "revenue_growth", "quarter", D(2024, 1, 1))
    assert (q1["value"], q1["is_partial"]) == (None, True)


def test_kpi_history_gains_is_partial() -> None:
    """A kpi_history written before the column existed gets it (null in its old rows)."""
    con = duckdb.connect()
    con.execute("create schema kpi")
    old_columns = ", ".join(
        f"null::{'date' if name in ('period_start', 'period_end', 'as_of') else 'double' if name in ('value', 'numerator', 'denominator') else 'varchar'} as {name}"
        for name in KPI_VALUES_SCHEMA
        if name != "is_partial"
    )
    con.execute(f"create table kpi.kpi_history as select {old_columns}, 'r0' as run_id")
    row = pl.DataFrame(
        {
            "kpi": ["revenue"], "grain": ["month"], "period_start": [D(2024, 11, 1)],
            "period_end": [D(2024, 12, 1)], "dimension": ["all"], "dimension_value": ["all"],
            "value": [1.0], "numerator": [None], "denominator": [None], "unit": ["currency"],
            "as_of": [AS_OF], "is_partial": [True],
        },
        schema=KPI_VALUES_SCHEMA,
    )
    compute._append_history(con, row, AS_OF, "r1")
    flags = con.execute("select run_id, is_partial from kpi.kpi_history order by run_id").fetchall()
    assert flags == [("r0", None), ("r1", True)]
