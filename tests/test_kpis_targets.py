"""Golden tests of target_achievement_rate, target_pacing and pipeline_coverage.
Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest
from kpi_builders import kpi_row, kpi_value, make_inputs, opportunities, sales, targets

from kpis import targets as target_kpis
from kpis.inputs import KpiInputs, compact

D = dt.date
ACH = "target_achievement_rate"


def company_inputs(as_of: dt.date, target_rows: list[dict[str, object]]) -> KpiInputs:
    """Jan 2024: 200 revenue; Feb: 300 (EU 50, US 250 incl. a return on Feb 29); Mar 1: 90.
    Won deals: Jan 15 (100, EU), Feb 10 (150, US), Mar 20 (after some as-of dates)."""
    orders, lines = sales(
        [
            {"order_id": "j1", "order_date": D(2024, 1, 8), "customer_id": "c1", "region": "EU",
             "net_amount": 200.0},
            {"order_id": "f1", "order_date": D(2024, 2, 3), "customer_id": "c1", "region": "EU",
             "net_amount": 50.0},
            {"order_id": "f2", "order_date": D(2024, 2, 12), "customer_id": "c2", "region": "US",
             "net_amount": 270.0},
            {"order_id": "fx", "order_date": D(2024, 2, 14), "customer_id": "c3", "region": "US",
             "status": "cancelled", "net_amount": 500.0},
            {"order_id": "f3", "order_date": D(2024, 2, 29), "customer_id": "c2", "region": "US",
             "net_amount": -20.0},
            {"order_id": "m1", "order_date": D(2024, 3, 1), "customer_id": "c4", "net_amount": 90.0},
        ]
    )
    opps = opportunities(
        [
            {"opportunity_id": "w1", "stage": "won", "amount": 100.0, "region": "EU",
             "created_at": D(2023, 12, 1), "close_date": D(2024, 1, 15)},
            {"opportunity_id": "w2", "stage": "won", "amount": 150.0, "region": "US",
             "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 10)},
            {"opportunity_id": "x1", "stage": "lost", "amount": 999.0, "region": "US",
             "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 11)},
            {"opportunity_id": "w3", "stage": "won", "amount": 70.0, "region": "EU",
             "created_at": D(2024, 1, 1), "close_date": D(2024, 3, 20)},
        ]
    )
    return make_inputs(as_of, orders=orders, order_lines=lines, opportunities=opps,
                       targets=targets(target_rows))


# --- target_achievement_rate -------------------------------------------------------------


def test_achievement_per_metric_and_level() -> None:
    feb = D(2024, 2, 1)
    inputs = company_inputs(
        D(2024, 3, 15),
        [
            {"period_start": feb, "target_value": 400.0},  # revenue, company
            {"period_start": feb, "level": "region", "level_value": "EU", "target_value": 100.0},
            {"period_start": feb, "level": "region", "level_value": "APAC", "target_value": 80.0},
            {"period_start": feb, "metric": "bookings", "target_value": 200.0},
            {"period_start": feb, "metric": "deals_won", "target_value": 2.0},
            {"period_start": feb, "metric": "new_customers", "target_value": 4.0},
        ],
    )
    values = target_kpis.target_achievement_rate(inputs)
    revenue = kpi_row(values, ACH, "month", feb)
    # Feb revenue 50 + 270 - 20 = 300 (fx cancelled) -> 300 / 400
    assert (revenue["value"], revenue["numerator"], revenue["denominator"]) == (0.75, 300.0, 400.0)
    assert kpi_value(values, ACH, "month", feb, "region", "EU") == 0.5  # 50 / 100
    assert kpi_value(values, ACH, "month", feb, "region", "APAC") == 0.0  # no sales
    assert kpi_value(values, f"{ACH}.bookings", "month", feb) == 0.75  # w2 150 / 200 (x1 lost)
    assert kpi_value(values, f"{ACH}.deals_won", "month", feb) == 0.5  # 1 won / 2
    # new in Feb: c2 (c1 first bought in Jan, c3 only cancelled) -> 1 / 4
    assert kpi_value(values, f"{ACH}.new_customers", "month", feb) == 0.25
    # no target for January: no row
    assert values.filter(pl.col("period_start") == D(2024, 1, 1)).is_empty()
    assert values.height == 6
    assert set(values.get_column("unit")) == {"ratio"}


def test_achievement_of_quarter_and_year_targets() -> None:
    q1 = D(2024, 1, 1)
    inputs = company_inputs(
        D(2024, 3, 15),
        [
            {"period_start": q1, "grain": "quarter", "target_value": 1180.0},
            {"period_start": q1, "grain": "year", "metric": "bookings", "target_value": 1000.0},
        ],
    )
    values = target_kpis.target_achievement_rate(inputs)
    # Q1 to Mar 15: 200 + 300 + 90 = 590 -> 590 / 1180
    assert kpi_value(values, ACH, "quarter", q1) == 0.5
    # 2024 bookings to Mar 15: 100 + 150 (w3 closes Mar 20, after as_of) -> 250 / 1000
    assert kpi_value(values, f"{ACH}.bookings", "year", q1) == 0.25


def test_zero_target_is_null_and_future_targets_have_no_row() -> None:
    inputs = company_inputs(
        D(2024, 2, 15),
        [
            {"period_start": D(2024, 1, 1), "target_value": 0.0},
            {"period_start": D(2024, 6, 1), "target_value": 500.0},  # not started yet
        ],
    )
    values = target_kpis.target_achievement_rate(inputs)
    jan = kpi_row(values, ACH, "month", D(2024, 1, 1))
    assert (jan["value"], jan["numerator"], jan["denominator"]) == (None, 200.0, 0.0)
    assert values.height == 1


def test_unknown_level_value_matches_unknown_actuals() -> None:
    # m1 (Mar 1, 90) has no region -> 'unknown'; a target for region null is 'unknown' too
    inputs = company_inputs(
        D(2024, 3, 31),
        [{"period_start": D(2024, 3, 1), "level": "region", "level_value": None, "target_value": 90.0}],
    )
    values = target_kpis.target_achievement_rate(inputs)
    assert kpi_value(values, ACH, "month", D(2024, 3, 1), "region", "unknown") == 1.0


def test_new_customers_from_won_opportunities_without_orders() -> None:
    opps = opportunities(
        [
            {"opportunity_id": "a", "customer_id": "k1", "stage": "won", "created_at": D(2023, 11, 1),
             "close_date": D(2023, 12, 5)},
            {"opportunity_id": "b", "customer_id": "k1", "stage": "won", "created_at": D(2024, 1, 1),
             "close_date": D(2024, 1, 5)},  # k1's second win: not new
            {"opportunity_id": "c", "customer_id": "k2", "stage": "won", "created_at": D(2024, 1, 1),
             "close_date": D(2024, 1, 9)},
            {"opportunity_id": "d", "customer_id": "k3", "stage": "lost", "created_at": D(2024, 1, 1),
             "close_date": D(2024, 1, 9)},
        ]
    )
    inputs = make_inputs(
        D(2024, 1, 31),
        opportunities=opps,
        targets=targets([{"period_start": D(2024, 1, 1), "metric": "new_customers",
                          "target_value": 2.0}]),
    )
    values = target_kpis.target_achievement_rate(inputs)
    assert kpi_value(values, f"{ACH}.new_customers", "month", D(2024, 1, 1)) == 0.5  # k2 / 2


# --- target_pacing -----------------------------------------------------------------------


def test_pacing_mid_month_in_a_leap_february() -> None:
    feb = D(2024, 2, 1)
    inputs = company_inputs(
        D(2024, 2, 15),
        [
            {"period_start": feb, "target_value": 580.0},
            {"period_start": D(2024, 1, 1), "target_value": 100.0},  # closed period: no pacing
        ],
    )
    values = target_kpis.target_pacing(inputs)
    row = kpi_row(values, "target_pacing", "month", feb)
    # to Feb 15: 50 + 270 = 320; expected = 580 x 15 elapsed days / 29 days = 300 -> 320 / 300
    assert row["denominator"] == pytest.approx(300.0)
    assert row["numerator"] == 320.0
    assert row["value"] == pytest.approx(320 / 300)
    assert values.height == 1


def test_pacing_on_leap_day_and_for_a_quarter() -> None:
    inputs = company_inputs(
        D(2024, 2, 29),
        [
            {"period_start": D(2024, 2, 1), "target_value": 600.0},
            {"period_start": D(2024, 1, 1), "grain": "quarter", "target_value": 910.0},
        ],
    )
    values = target_kpis.target_pacing(inputs)
    # Feb 29: 29 of 29 days elapsed -> expected = the whole 600; actual 300 -> 0.5
    assert kpi_value(values, "target_pacing", "month", D(2024, 2, 1)) == 0.5
    quarter = kpi_row(values, "target_pacing", "quarter", D(2024, 1, 1))
    # Q1 2024 has 31 + 29 + 31 = 91 days, 31 + 29 = 60 elapsed: 910 x 60 / 91 = 600; actual 500
    assert quarter["denominator"] == pytest.approx(600.0)
    assert quarter["value"] == pytest.approx(500 / 600)


def test_pacing_zero_target_is_null() -> None:
    inputs = company_inputs(D(2024, 2, 15), [{"period_start": D(2024, 2, 1), "target_value": 0.0}])
    assert kpi_value(target_kpis.target_pacing(inputs), "target_pacing", "month",
                     D(2024, 2, 1)) is None


# --- pipeline_coverage -------------------------------------------------------------------


def test_pipeline_coverage() -> None:
    feb = D(2024, 2, 1)
    base = company_inputs(
        D(2024, 2, 15),
        [
            {"period_start": feb, "target_value": 420.0},  # revenue: 320 to date, 100 left
            {"period_start": feb, "metric": "bookings", "target_value": 100.0},  # 150 booked: met
            {"period_start": feb, "level": "region", "level_value": "EU", "target_value": 150.0},
            {"period_start": feb, "metric": "deals_won", "target_value": 5.0},  # no pipeline KPI
        ],
    )
    pipeline = opportunities(
        [
            {"opportunity_id": "p1", "stage": "proposal", "amount": 100.0, "probability": 0.6,
             "region": "EU", "created_at": D(2024, 2, 1), "close_date": D(2024, 2, 20)},
            {"opportunity_id": "p2", "stage": "qualification", "amount": 50.0, "probability": 0.2,
             "region": "US", "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 1)},  # overdue
            {"opportunity_id": "p3", "stage": "negotiation", "amount": 200.0, "probability": 0.5,
             "region": "EU", "created_at": D(2024, 2, 1), "close_date": D(2024, 3, 5)},  # next month
            {"opportunity_id": "p4", "stage": "proposal", "amount": 300.0,
             "created_at": D(2024, 2, 1)},  # no expected close date
        ]
    )
    # the open pipeline was created before as_of: no cut needed
    inputs = dataclasses.replace(
        base, opportunities=pl.concat([base.opportunities, compact("opportunities", pipeline)])
    )
    values = target_kpis.pipeline_coverage(inputs)
    revenue = kpi_row(values, "pipeline_coverage", "month", feb)
    # pipeline closing in Feb: p1 100 x 0.6 + p2 50 x 0.2 = 70; remaining 420 - 320 = 100
    assert (revenue["numerator"], revenue["denominator"]) == (pytest.approx(70.0), 100.0)
    assert revenue["value"] == pytest.approx(0.7)
    # EU: p1 only (60); remaining 150 - 50 = 100
    assert kpi_value(values, "pipeline_coverage", "month", feb, "region", "EU") == (
        pytest.approx(0.6)
    )
    # bookings target met (150 >= 100): remaining 0 -> null
    bookings = kpi_row(values, "pipeline_coverage.bookings", "month", feb)
    assert (bookings["value"], bookings["denominator"]) == (None, 0.0)
    assert "pipeline_coverage.deals_won" not in set(values.get_column("kpi"))
