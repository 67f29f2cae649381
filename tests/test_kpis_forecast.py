"""Golden tests of the forecast (kpis.forecast): revenue_forecast, bookings_forecast,
forecast_accuracy, kpi.forecast. Expected numbers are worked out by hand in the
comments."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from kpi_builders import kpi_row, make_inputs, opportunities, opportunity_stages, sales, targets

from kpis import forecast
from kpis.inputs import KpiInputs

D = dt.date
T = dt.datetime
APRIL_10 = D(2024, 4, 10)


@pytest.fixture
def spring() -> KpiInputs:
    orders, lines = sales(
        [
            # n1 buys without a deal: the run-rate
            {"order_id": "1", "order_date": D(2024, 2, 1), "customer_id": "n1", "net_amount": 450.0},
            # k1 won W on Feb 15: its order of Mar 1 delivers that deal (linked)
            {"order_id": "2", "order_date": D(2024, 3, 1), "customer_id": "k1", "net_amount": 900.0},
            {"order_id": "3", "order_date": D(2024, 4, 5), "customer_id": "n1", "net_amount": 180.0},
            # after April 10: unknown to a forecast made then
            {"order_id": "4", "order_date": D(2024, 4, 20), "customer_id": "n1", "net_amount": 5000.0},
        ]
    )
    deals = opportunities(
        [
            {"opportunity_id": "W", "customer_id": "k1", "stage": "won", "amount": 900.0,
             "created_at": D(2024, 1, 10), "close_date": D(2024, 2, 15)},
            # P: proposal on April 10, negotiation (its own probability 0.9) since May 1
            {"opportunity_id": "P", "stage": "negotiation", "probability": 0.9,
             "amount": 1000.0, "created_at": D(2024, 3, 1), "close_date": D(2024, 6, 15)},
            # Q: a lead closing in Q3
            {"opportunity_id": "Q", "stage": "lead", "amount": 500.0,
             "created_at": D(2024, 3, 20), "close_date": D(2024, 8, 10)},
            # R: in qualification on April 10, won on May 20
            {"opportunity_id": "R", "stage": "won", "amount": 300.0,
             "created_at": D(2024, 3, 1), "close_date": D(2024, 5, 20)},
        ]
    )
    history = opportunity_stages(
        [
            {"opportunity_id": "W", "stage": "lead", "entered_at": T(2024, 1, 10),
             "exited_at": T(2024, 2, 15)},
            {"opportunity_id": "W", "stage": "won", "entered_at": T(2024, 2, 15)},
            {"opportunity_id": "P", "stage": "lead", "entered_at": T(2024, 3, 1),
             "exited_at": T(2024, 4, 1)},
            {"opportunity_id": "P", "stage": "proposal", "entered_at": T(2024, 4, 1),
             "exited_at": T(2024, 5, 1)},
            {"opportunity_id": "P", "stage": "negotiation", "entered_at": T(2024, 5, 1)},
            {"opportunity_id": "Q", "stage": "lead", "entered_at": T(2024, 3, 20)},
            {"opportunity_id": "R", "stage": "qualification", "entered_at": T(2024, 3, 1),
             "exited_at": T(2024, 5, 20)},
            {"opportunity_id": "R", "stage": "won", "entered_at": T(2024, 5, 20)},
        ]
    )
    return make_inputs(D(2024, 5, 31), orders=orders, order_lines=lines, opportunities=deals,
                       opportunity_stages=history)


def _row(frame: pl.DataFrame, kpi: str, grain: str, start: dt.date) -> dict[str, object]:
    rows = frame.filter(
        (pl.col("kpi") == kpi) & (pl.col("grain") == grain) & (pl.col("period_start") == start)
    )
    assert rows.height == 1
    return rows.row(0, named=True)


def test_forecast_as_of_a_past_date_ignores_later_changes(spring: KpiInputs) -> None:
    made = forecast.forecast_as_of(spring, APRIL_10)
    q2 = _row(made, "revenue_forecast", "quarter", D(2024, 4, 1))
    # actual to date: order 3 (180); order 4 (Apr 20) is after April 10
    assert q2["actual_to_date"] == 180.0
    # pipeline closing in Q2, with the stages of April 10: P in proposal (default 0.6,
    # not its later negotiation 0.9): 600; R in qualification (0.2; won later): 60
    assert q2["pipeline"] == pytest.approx(660.0)
    # run-rate: orders of Jan 12 – Apr 10 not linked to a deal: 450 + 180 (order 2 is
    # k1's delivery of W, won 15 days before): 630 / 90 = 7 a day; Q2 has 91 days, 81 left
    assert q2["run_rate_daily"] == pytest.approx(7.0)
    assert (q2["days_left"], q2["run_rate"]) == (81, pytest.approx(567.0))
    assert q2["value"] == pytest.approx(180 + 660 + 567)  # 1407
    # bookings: nothing won in Q2 by April 10; the same pipeline, no run-rate
    bookings = _row(made, "bookings_forecast", "quarter", D(2024, 4, 1))
    assert (bookings["actual_to_date"], bookings["value"]) == (0.0, pytest.approx(660.0))
    # April: 180 + no deal closing in April + 7 × 20 days left = 320
    assert _row(made, "revenue_forecast", "month", D(2024, 4, 1))["value"] == pytest.approx(320.0)
    # Q3 (the next period): Q (lead, 0.1 × 500) + 7 × 92 days = 50 + 644
    assert _row(made, "revenue_forecast", "quarter", D(2024, 7, 1))["value"] == pytest.approx(694.0)
    # three periods per grain: the open one and the next two
    assert sorted(made.filter(pl.col("grain") == "quarter")["period_start"].unique()) == [
        D(2024, 4, 1), D(2024, 7, 1), D(2024, 10, 1),
    ]


def test_forecast_today_uses_today_s_stages(spring: KpiInputs) -> None:
    made = forecast.forecast_as_of(spring, spring.as_of)  # May 31
    q2 = _row(made, "bookings_forecast", "quarter", D(2024, 4, 1))
    # R won on May 20 (300 booked); P in negotiation with its own 0.9: 900
    assert (q2["actual_to_date"], q2["pipeline"]) == (300.0, pytest.approx(900.0))


def test_forecast_table_carries_the_company_target(spring: KpiInputs) -> None:
    inputs = make_inputs(
        spring.as_of,
        orders=None,
        targets=targets([{"period_start": D(2024, 4, 1), "grain": "quarter", "target_value": 2000.0}]),
    )
    table = forecast.forecast_table(inputs)
    q2 = _row(table, "revenue_forecast", "quarter", D(2024, 4, 1))
    assert (q2["target"], q2["as_of"]) == (2000.0, D(2024, 5, 31))
    assert _row(table, "bookings_forecast", "quarter", D(2024, 4, 1))["target"] is None


def test_forecast_accuracy_of_a_closed_quarter() -> None:
    orders, lines = sales(
        [
            {"order_id": "1", "order_date": D(2024, 1, 15), "customer_id": "n", "net_amount": 450.0},
            {"order_id": "2", "order_date": D(2024, 4, 20), "customer_id": "n", "net_amount": 300.0},
            {"order_id": "3", "order_date": D(2024, 5, 15), "customer_id": "n", "net_amount": 600.0},
        ]
    )
    deals = opportunities(
        [{"opportunity_id": "B", "customer_id": "k", "stage": "won", "amount": 200.0,
          "created_at": D(2024, 4, 5), "close_date": D(2024, 5, 10)}]
    )
    history = opportunity_stages(
        [
            {"opportunity_id": "B", "stage": "qualification", "entered_at": T(2024, 4, 5),
             "exited_at": T(2024, 5, 10)},
            {"opportunity_id": "B", "stage": "won", "entered_at": T(2024, 5, 10)},
        ]
    )
    inputs = make_inputs(D(2024, 7, 15), orders=orders, order_lines=lines, opportunities=deals,
                         opportunity_stages=history)
    values = forecast.forecast_accuracy(inputs)
    q2 = D(2024, 4, 1)  # 91 days: the forecasts of Apr 1, May 1 (+30), May 31 (+60)

    def accuracy(kpi: str, lead: str) -> dict[str, object]:
        return kpi_row(values, kpi, "quarter", q2, "lead", lead)

    # actual Q2 revenue: 300 + 600 = 900
    # Apr 1: nothing to date, run-rate (Jan 3 – Apr 1) 450 / 90 = 5 × 90 days left = 450
    start = accuracy("forecast_accuracy", "start")
    assert (start["numerator"], start["denominator"]) == (pytest.approx(450.0), 900.0)
    assert start["value"] == pytest.approx(1 - 450 / 900)  # 0.5
    # May 1: 300 to date + B in qualification (0.2 × 200 = 40) + run-rate (Feb 2 – May 1:
    # 300 / 90) × 60 days left = 200: 540; 1 − 360 / 900 = 0.6
    assert accuracy("forecast_accuracy", "third")["value"] == pytest.approx(0.6)
    # May 31: 900 to date + run-rate (Mar 3 – May 31: 900 / 90 = 10) × 30 = 1200; B is won
    assert accuracy("forecast_accuracy", "two_thirds")["value"] == pytest.approx(1 - 300 / 900)
    # bookings: actual 200; Apr 1: B not created yet (0): accuracy 0; May 1: 40: 0.2;
    # May 31: won, 200: 1
    assert accuracy("forecast_accuracy.bookings", "start")["value"] == 0.0
    assert accuracy("forecast_accuracy.bookings", "third")["value"] == pytest.approx(0.2)
    assert accuracy("forecast_accuracy.bookings", "two_thirds")["value"] == pytest.approx(1.0)
    # Q3 is open on July 15: no accuracy yet
    assert values.filter(pl.col("period_start") == D(2024, 7, 1)).is_empty()
