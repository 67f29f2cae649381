"""Golden tests of the funnel KPIs (win_rate, win_rate_amount, lead_conversion_rate,
stage_conversion_rate) and the sales cycle KPIs. Expected numbers worked out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from kpi_builders import kpi_row, kpi_value, leads, make_inputs, opportunities

from kpis import cycle, funnel

D = dt.date
AS_OF = D(2024, 2, 20)
FEB = D(2024, 2, 1)


def closed_deals() -> pl.DataFrame:
    return opportunities(
        [
            {"opportunity_id": "d0", "stage": "won", "amount": 10.0, "created_at": D(2023, 11, 1),
             "close_date": D(2023, 12, 15)},
            {"opportunity_id": "w1", "stage": "won", "amount": 100.0, "region": "EU",
             "owner_rep_id": "r1", "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 2)},
            {"opportunity_id": "w2", "stage": "won", "amount": 300.0, "region": "US",
             "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 10)},
            {"opportunity_id": "l1", "stage": "lost", "amount": 100.0, "region": "EU",
             "owner_rep_id": "r1", "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 12)},
            {"opportunity_id": "l2", "stage": "lost", "amount": 500.0, "created_at": D(2024, 1, 1),
             "close_date": D(2024, 2, 25)},  # closes after as_of
            {"opportunity_id": "o1", "stage": "proposal", "amount": 900.0,
             "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 14)},  # still open
        ]
    )


def test_win_rate_by_count_and_amount() -> None:
    inputs = make_inputs(AS_OF, opportunities=closed_deals())
    values = pl.concat([funnel.win_rate(inputs), funnel.win_rate_amount(inputs)])
    count = kpi_row(values, "win_rate", "month", FEB)
    # closed in Feb to Feb 20: w1, w2 won, l1 lost -> 2 / 3
    assert (count["numerator"], count["denominator"]) == (2.0, 3.0)
    amount = kpi_row(values, "win_rate_amount", "month", FEB)
    assert (amount["numerator"], amount["denominator"], amount["value"]) == (400.0, 500.0, 0.8)
    assert kpi_value(values, "win_rate", "month", FEB, "region", "EU") == 0.5  # w1 / (w1 + l1)
    assert kpi_value(values, "win_rate_amount", "month", FEB, "region", "EU") == 0.5  # 100 / 200
    assert kpi_value(values, "win_rate", "month", FEB, "region", "US") == 1.0
    assert kpi_value(values, "win_rate", "month", FEB, "rep", "r1") == 0.5
    assert kpi_value(values, "win_rate", "month", FEB, "rep", "unknown") == 1.0  # w2
    # nothing closed in January: 0 / 0 -> null, never an error
    jan = kpi_row(values, "win_rate", "month", D(2024, 1, 1))
    assert (jan["value"], jan["numerator"], jan["denominator"]) == (None, 0.0, 0.0)
    # all time: d0, w1, w2 won, l1 lost -> 3 / 4
    assert kpi_value(values, "win_rate", "all", D(2023, 12, 15)) == 0.75


def test_win_rate_amount_without_amounts_is_null() -> None:
    opps = opportunities([{"opportunity_id": "x", "stage": "lost", "created_at": D(2024, 2, 1),
                           "close_date": D(2024, 2, 2)}])
    values = funnel.win_rate_amount(make_inputs(AS_OF, opportunities=opps))
    assert kpi_value(values, "win_rate_amount", "month", FEB) is None
    assert kpi_value(funnel.win_rate(make_inputs(AS_OF, opportunities=opps)), "win_rate",
                     "month", FEB) == 0.0


def test_lead_conversion_rate() -> None:
    lead_rows = leads(
        [
            {"lead_id": "a", "created_at": D(2024, 1, 3), "channel": "web", "owner_rep_id": "r1",
             "converted_date": D(2024, 1, 20)},
            {"lead_id": "b", "created_at": D(2024, 1, 5), "channel": "web",
             "converted_date": D(2024, 3, 1)},  # converts after as_of: not yet
            {"lead_id": "c", "created_at": D(2024, 1, 9), "channel": "event"},
            {"lead_id": "d", "created_at": D(2024, 1, 30), "channel": None,
             "converted_date": D(2024, 2, 2)},
            {"lead_id": "e", "created_at": D(2024, 2, 21)},  # after as_of
        ]
    )
    values = funnel.lead_conversion_rate(make_inputs(AS_OF, leads=lead_rows))
    jan = kpi_row(values, "lead_conversion_rate", "month", D(2024, 1, 1))
    assert (jan["numerator"], jan["denominator"], jan["value"]) == (2.0, 4.0, 0.5)  # a, d of 4
    assert kpi_value(values, "lead_conversion_rate", "month", D(2024, 1, 1), "channel", "web") == 0.5
    assert kpi_value(values, "lead_conversion_rate", "month", D(2024, 1, 1), "channel", "unknown") == 1.0
    assert kpi_value(values, "lead_conversion_rate", "month", D(2024, 1, 1), "rep", "r1") == 1.0
    # no lead created in Feb (to Feb 20): null
    assert kpi_value(values, "lead_conversion_rate", "month", FEB) is None


def test_stage_conversion_rate() -> None:
    opps = opportunities(
        [
            {"opportunity_id": "A", "stage": "won", "created_at": D(2024, 1, 2)},  # reached 5
            {"opportunity_id": "B", "stage": "lost", "max_stage_order_reached": 5,
             "created_at": D(2024, 1, 3)},
            {"opportunity_id": "C", "stage": "needs_analysis", "created_at": D(2024, 1, 4)},
            {"opportunity_id": "E", "stage": "lost", "max_stage_order_reached": 1,
             "created_at": D(2024, 1, 5)},
            {"opportunity_id": "U", "stage": "unmapped", "created_at": D(2024, 1, 6)},
            {"opportunity_id": "F", "stage": "proposal", "created_at": D(2024, 2, 6)},
        ]
    )
    values = funnel.stage_conversion_rate(make_inputs(AS_OF, opportunities=opps))
    jan = D(2024, 1, 1)

    def rate(stage: str, grain: str = "month", start: dt.date = jan) -> tuple[float, float]:
        row = kpi_row(values, "stage_conversion_rate", grain, start, "stage", stage)
        return row["numerator"], row["denominator"]

    # January: A, B reached 5; C reached 3; E reached 1; U unmapped (nothing)
    assert rate("lead") == (3.0, 4.0)  # A, B, C went on to qualification
    assert rate("qualification") == (3.0, 3.0)
    assert rate("needs_analysis") == (2.0, 3.0)  # A, B to proposal, C stayed
    assert rate("proposal") == (2.0, 2.0)
    assert rate("negotiation") == (1.0, 2.0)  # A won, B lost
    # Q1: F (proposal) joins: reached 1..4, stopped at 4
    assert rate("proposal", "quarter") == (2.0, 3.0)
    assert rate("lead", "all", D(2024, 1, 2)) == (4.0, 5.0)
    plain = values.filter(pl.col("kpi") == "stage_conversion_rate")
    assert set(plain.get_column("dimension")) == {"stage"}
    # by owner: one kpi per stage (stage_conversion_rate.<stage>), dimension all = the
    # plain rate of that stage
    lead_jan = kpi_row(values, "stage_conversion_rate.lead", "month", jan)
    assert (lead_jan["numerator"], lead_jan["denominator"]) == (3.0, 4.0)


def test_sales_cycle_median_mean_p90() -> None:
    days = [10, 20, 30, 40, 100]
    opps = opportunities(
        [
            {"opportunity_id": f"w{d}", "stage": "won", "created_at": D(2024, 2, 15) - dt.timedelta(days=d),
             "close_date": D(2024, 2, 15)}
            for d in days
        ]
        + [
            {"opportunity_id": "lost", "stage": "lost", "created_at": D(2023, 1, 1),
             "close_date": D(2024, 2, 10)},
            {"opportunity_id": "late", "stage": "won", "created_at": D(2023, 1, 1),
             "close_date": D(2024, 2, 25)},  # after as_of
            {"opportunity_id": "undated", "stage": "won", "close_date": D(2024, 2, 10)},
        ]
    )
    values = cycle.sales_cycle(make_inputs(AS_OF, opportunities=opps))
    assert kpi_value(values, "sales_cycle_days", "month", FEB) == 30.0  # median of 10..100
    assert kpi_value(values, "sales_cycle_days_mean", "month", FEB) == 40.0  # 200 / 5
    # p90, linear: rank (5 - 1) x 0.9 = 3.6 -> 40 + 0.6 x (100 - 40) = 76
    assert kpi_value(values, "sales_cycle_days_p90", "month", FEB) == pytest.approx(76.0)
    assert kpi_row(values, "sales_cycle_days", "month", FEB)["unit"] == "days"
    # no win in January: no row
    assert values.filter(pl.col("period_start") == D(2024, 1, 1)).filter(
        pl.col("grain") == "month"
    ).is_empty()


def test_lead_to_close_days() -> None:
    opps = opportunities(
        [
            {"opportunity_id": "w1", "stage": "won", "lead_id": "L1", "created_at": D(2024, 2, 1),
             "close_date": D(2024, 2, 10)},
            {"opportunity_id": "w2", "stage": "won", "created_at": D(2024, 2, 1),
             "close_date": D(2024, 2, 19)},  # linked from the lead's side
            {"opportunity_id": "w3", "stage": "won", "created_at": D(2024, 2, 1),
             "close_date": D(2024, 2, 19)},  # no lead: left out
        ]
    )
    lead_rows = leads(
        [
            {"lead_id": "L1", "created_at": D(2024, 1, 11)},  # Jan 11 -> Feb 10 = 30 days
            {"lead_id": "L2", "created_at": D(2023, 12, 31), "converted_opportunity_id": "w2"},
        ]  # Dec 31 -> Feb 19 = 50 days
    )
    values = cycle.lead_to_close_days(make_inputs(AS_OF, opportunities=opps, leads=lead_rows))
    assert kpi_value(values, "lead_to_close_days", "month", FEB) == 40.0  # median of 30, 50
