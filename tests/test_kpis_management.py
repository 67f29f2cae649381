"""Golden tests of the management KPIs (docs/kpis.md, "Management analytics"): margin and
price (kpis.margin), revenue mix (kpis.revenue_mix), stage durations (kpis.stages), new
customers and stage conversion by owner, the week grain. Expected numbers are worked out
by hand in the comments."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from kpi_builders import (
    customers,
    kpi_row,
    kpi_value,
    make_inputs,
    marketing_spend,
    opportunities,
    opportunity_stages,
    products,
    reps,
    sales,
    targets,
)

from kpis import funnel, margin, revenue, revenue_mix, stages
from kpis import targets as target_kpis
from kpis.customers import kpi_values as customer_kpis
from schemas.config import KpiSettings

D = dt.date
T = dt.datetime


# --- gross_margin, cost_coverage, discount_rate, price_realisation ------------------------


@pytest.fixture
def priced_lines() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """March 2024: four lines of two orders; the line costs as fct_order_lines holds them
    (line cost, else quantity × unit_cost, else null)."""
    orders, lines = sales(
        [
            {"order_id": "o1", "order_date": D(2024, 3, 5), "customer_id": "c1",
             "channel": "web",
             "lines": [
                 # cost known (the line's own): 100 − 60
                 {"amount": 100.0, "cost": 60.0, "quantity": 2.0, "unit_price": 55.0,
                  "discount": 10.0, "product_id": "p1", "product_category": "bikes"},
                 # cost unknown (no line cost, no unit cost): out of gross_margin
                 {"amount": 50.0, "quantity": 1.0, "unit_price": 50.0,
                  "product_id": "p2", "product_category": "parts"},
             ]},
            {"order_id": "o2", "order_date": D(2024, 3, 20), "customer_id": "c2",
             "channel": "partner",
             "lines": [
                 # cost from quantity × unit_cost 30 = 120 (as fct_order_lines has it)
                 {"amount": 200.0, "cost": 120.0, "quantity": 4.0, "unit_price": 50.0,
                  "discount": 0.0, "product_id": "p3", "product_category": "bikes"},
                 # cancelled elsewhere? no: a line without quantity (no list value)
                 {"amount": 30.0, "cost": 10.0, "product_id": "p1",
                  "product_category": "bikes"},
             ]},
            # cancelled: counts nowhere
            {"order_id": "o3", "order_date": D(2024, 3, 21), "status": "cancelled",
             "lines": [{"amount": 999.0, "cost": 1.0, "quantity": 1.0, "unit_price": 999.0,
                        "discount": 9.0, "product_id": "p1"}]},
        ]
    )
    catalogue = products(
        [
            {"product_id": "p1", "category": "bikes", "list_price": 60.0, "unit_cost": 25.0},
            {"product_id": "p2", "category": "parts", "list_price": None},
            {"product_id": "p3", "category": "bikes", "list_price": 55.0, "unit_cost": 30.0},
        ]
    )
    return orders, lines, catalogue


def test_margin_with_unknown_costs(priced_lines: tuple[pl.DataFrame, ...]) -> None:
    orders, lines, catalogue = priced_lines
    values = margin.kpi_values(
        make_inputs(D(2024, 3, 31), orders=orders, order_lines=lines, products=catalogue),
        KpiSettings(),
    )
    march = D(2024, 3, 1)
    gm = kpi_row(values, "gross_margin", "month", march)
    # lines with a known cost: 100 (cost 60), 200 (120), 30 (10): revenue 330, cost 190
    # gross_margin = (330 − 190) / 330 = 140 / 330; the 50 without cost is left out
    assert (gm["numerator"], gm["denominator"]) == (140.0, 330.0)
    assert gm["value"] == pytest.approx(140 / 330)  # 0.4242…
    # cost_coverage = 330 / (330 + 50) = 0.8684…
    coverage = kpi_row(values, "cost_coverage", "month", march)
    assert (coverage["numerator"], coverage["denominator"]) == (330.0, 380.0)
    # by category: parts has no known cost -> margin null, coverage 0
    assert kpi_value(values, "gross_margin", "month", march, "product_category", "parts") is None
    assert kpi_value(values, "cost_coverage", "month", march, "product_category", "parts") == 0.0
    # bikes: (330 − 190) / 330 as well (all the costed lines are bikes)
    assert kpi_value(values, "gross_margin", "month", march, "product_category", "bikes") == (
        pytest.approx(140 / 330)
    )
    # by channel: web = o1: (100 − 60) / 100 = 0.4; partner = o2: (230 − 130) / 230
    assert kpi_value(values, "gross_margin", "month", march, "channel", "web") == 0.4
    assert kpi_value(values, "gross_margin", "month", march, "channel", "partner") == (
        pytest.approx(100 / 230)
    )


def test_discount_rate_and_price_realisation(priced_lines: tuple[pl.DataFrame, ...]) -> None:
    orders, lines, catalogue = priced_lines
    values = margin.kpi_values(
        make_inputs(D(2024, 3, 31), orders=orders, order_lines=lines, products=catalogue),
        KpiSettings(),
    )
    march = D(2024, 3, 1)
    # lines with a discount, quantity and unit price: 2 × 55 with 10 off, 4 × 50 with 0
    # discount_rate = 10 / (110 + 200) = 10 / 310 (the 50 line has no discount: left out)
    discount = kpi_row(values, "discount_rate", "month", march)
    assert (discount["numerator"], discount["denominator"]) == (10.0, 310.0)
    # lines with a quantity and a list price: p1 2 × 60 = 120 (amount 100), p3 4 × 55 =
    # 220 (amount 200); p2 has no list price, the 30 line no quantity
    # price_realisation = 300 / 340 = 0.882…
    realisation = kpi_row(values, "price_realisation", "month", march)
    assert (realisation["numerator"], realisation["denominator"]) == (300.0, 340.0)
    assert realisation["value"] == pytest.approx(300 / 340)


# --- revenue_yoy ---------------------------------------------------------------------------


def _leap_year_sales() -> tuple[pl.DataFrame, pl.DataFrame]:
    return sales(
        [
            {"order_id": "a", "order_date": D(2023, 1, 10), "net_amount": 100.0},
            {"order_id": "b", "order_date": D(2023, 2, 28), "net_amount": 40.0},
            {"order_id": "c", "order_date": D(2023, 3, 1), "net_amount": 70.0},
            {"order_id": "d", "order_date": D(2024, 1, 5), "net_amount": 120.0},
            {"order_id": "e", "order_date": D(2024, 2, 29), "net_amount": 60.0},
            {"order_id": "f", "order_date": D(2025, 2, 10), "net_amount": 90.0},
        ]
    )


def test_revenue_yoy_across_a_leap_day() -> None:
    orders, lines = _leap_year_sales()
    # as of 2024-02-29: February is complete (its last day), Q1 and 2024 are open
    values = revenue_mix.revenue_yoy(make_inputs(D(2024, 2, 29), orders=orders, order_lines=lines))
    feb = kpi_row(values, "revenue_yoy", "month", D(2024, 2, 1))
    assert (feb["numerator"], feb["denominator"]) == (60.0, 40.0)  # whole Feb vs whole Feb
    assert feb["value"] == pytest.approx(0.5)  # 60 / 40 − 1
    # Q1 2024 to Feb 29 (120 + 60) vs Q1 2023 to Feb 28 (100 + 40); c (Mar 1) is later
    q1 = kpi_row(values, "revenue_yoy", "quarter", D(2024, 1, 1))
    assert (q1["numerator"], q1["denominator"]) == (180.0, 140.0)
    assert q1["value"] == pytest.approx(180 / 140 - 1)  # 0.2857…
    year = kpi_row(values, "revenue_yoy", "year", D(2024, 1, 1))
    assert (year["numerator"], year["denominator"]) == (180.0, 140.0)
    # a closed year against the whole previous one: 2023 has no 2022 -> null
    assert kpi_value(values, "revenue_yoy", "year", D(2023, 1, 1)) is None

    # as of 2025-02-28, the last day of February 2025: the whole of February 2024
    # (29 days, e on the 29th included) is its comparison: 90 / 60 − 1 = 0.5
    later = revenue_mix.revenue_yoy(make_inputs(D(2025, 2, 28), orders=orders, order_lines=lines))
    feb25 = kpi_row(later, "revenue_yoy", "month", D(2025, 2, 1))
    assert (feb25["numerator"], feb25["denominator"]) == (90.0, 60.0)
    # Q1 2025 to Feb 28 against Q1 2024 to Feb 28: 90 vs 120 (e on the 29th is after)
    q1_25 = kpi_row(later, "revenue_yoy", "quarter", D(2025, 1, 1))
    assert (q1_25["numerator"], q1_25["denominator"]) == (90.0, 120.0)
    assert q1_25["value"] == pytest.approx(90 / 120 - 1)  # −0.25


# --- revenue from new and existing customers -----------------------------------------------


def test_revenue_of_new_and_existing_customers() -> None:
    orders, lines = sales(
        [
            {"order_id": "1", "order_date": D(2024, 1, 10), "customer_id": "c1", "net_amount": 100.0},
            {"order_id": "2", "order_date": D(2024, 2, 5), "customer_id": "c1", "net_amount": 30.0},
            {"order_id": "3", "order_date": D(2024, 2, 20), "customer_id": "c2", "net_amount": 50.0},
            # a return by c1 in February lowers its (existing) revenue
            {"order_id": "4", "order_date": D(2024, 2, 25), "customer_id": "c1", "net_amount": -10.0},
            # no customer: in revenue, neither new nor existing
            {"order_id": "5", "order_date": D(2024, 2, 26), "net_amount": 20.0},
        ]
    )
    values = revenue_mix.revenue_by_customer_age(
        make_inputs(D(2024, 2, 29), orders=orders, order_lines=lines)
    )
    feb, q1 = D(2024, 2, 1), D(2024, 1, 1)
    # February: new = c2 50 (first purchase Feb 20); existing = c1 30 − 10 = 20
    assert kpi_value(values, "revenue_new_customers", "month", feb) == 50.0
    assert kpi_value(values, "revenue_existing_customers", "month", feb) == 20.0
    # share = 50 / (50 + 20 + 20) = 50 / 90
    share = kpi_row(values, "new_customer_revenue_share", "month", feb)
    assert (share["numerator"], share["denominator"]) == (50.0, 90.0)
    # Q1: both customers' first purchases are in it: new = 100 + 30 + 50 − 10 = 170
    assert kpi_value(values, "revenue_new_customers", "quarter", q1) == 170.0
    assert kpi_value(values, "revenue_existing_customers", "quarter", q1) == 0.0
    assert kpi_value(values, "revenue_new_customers", "month", q1) == 100.0


# --- revenue_per_rep -----------------------------------------------------------------------


def test_revenue_per_rep_counts_a_rep_who_left_mid_period() -> None:
    orders, lines = sales(
        [
            # r1 left on March 10 (inactive now) but sold on March 5: credited in March
            {"order_id": "1", "order_date": D(2024, 3, 5), "rep_id": "r1", "team": "east",
             "region": "EMEA", "net_amount": 300.0},
            {"order_id": "2", "order_date": D(2024, 3, 20), "rep_id": "r2", "team": "east",
             "region": "EMEA", "net_amount": 100.0},
            {"order_id": "3", "order_date": D(2024, 3, 21), "net_amount": 50.0},  # no rep
            # cancelled: credits nobody
            {"order_id": "4", "order_date": D(2024, 3, 22), "rep_id": "r4", "team": "west",
             "status": "cancelled", "net_amount": 80.0},
        ]
    )
    deals = opportunities(
        [  # r3 has no order but won a deal in March
            {"opportunity_id": "w", "owner_rep_id": "r3", "team": "west", "region": "APAC",
             "stage": "won", "amount": 500.0, "created_at": D(2024, 1, 2),
             "close_date": D(2024, 3, 25)},
        ]
    )
    people = reps(
        [
            {"rep_id": "r1", "team": "east", "region": "EMEA", "active": False},
            {"rep_id": "r2", "team": "east", "region": "EMEA"},
            {"rep_id": "r3", "team": "west", "region": "APAC"},
        ]
    )
    values = revenue_mix.revenue_per_rep(
        make_inputs(D(2024, 3, 31), orders=orders, order_lines=lines, opportunities=deals,
                    reps=people)
    )
    march = D(2024, 3, 1)
    # revenue 300 + 100 + 50 = 450 over r1, r2, r3 = 150
    row = kpi_row(values, "revenue_per_rep", "month", march)
    assert (row["numerator"], row["denominator"], row["value"]) == (450.0, 3.0, 150.0)
    # east: 400 / (r1, r2) = 200; west: revenue 0 (only a won deal) / r3 = 0
    assert kpi_value(values, "revenue_per_rep", "month", march, "team", "east") == 200.0
    assert kpi_value(values, "revenue_per_rep", "month", march, "team", "west") == 0.0
    assert kpi_value(values, "revenue_per_rep", "month", march, "region", "APAC") == 0.0


# --- channel_revenue_share, roas -----------------------------------------------------------


def test_channel_share_and_roas() -> None:
    orders, lines = sales(
        [
            {"order_id": "1", "order_date": D(2024, 4, 3), "channel": "search", "net_amount": 600.0},
            {"order_id": "2", "order_date": D(2024, 4, 9), "channel": "events", "net_amount": 300.0},
            {"order_id": "3", "order_date": D(2024, 4, 9), "channel": "referral", "net_amount": 100.0},
        ]
    )
    spend = marketing_spend(
        [
            {"period_start": D(2024, 4, 1), "channel": "search", "amount": 200.0},
            {"period_start": D(2024, 4, 15), "channel": "search", "amount": 100.0},
            {"period_start": D(2024, 4, 1), "channel": "events", "amount": 150.0},
            {"period_start": D(2024, 4, 1), "channel": "display", "amount": 50.0},
        ]
    )
    inputs = make_inputs(D(2024, 4, 30), orders=orders, order_lines=lines, marketing_spend=spend)
    april = D(2024, 4, 1)
    shares = revenue_mix.channel_revenue_share(inputs)
    assert kpi_value(shares, "channel_revenue_share", "month", april, "channel", "search") == 0.6
    assert kpi_value(shares, "channel_revenue_share", "month", april, "channel", "referral") == 0.1
    assert set(shares.get_column("dimension")) == {"channel"}
    values = revenue_mix.roas(inputs)
    # search: 600 / (200 + 100) = 2; events 300 / 150 = 2; display 0 / 50 = 0;
    # referral: revenue without spend -> null; all: 1000 / 500 = 2
    assert kpi_value(values, "roas", "month", april, "channel", "search") == 2.0
    assert kpi_value(values, "roas", "month", april, "channel", "display") == 0.0
    assert kpi_value(values, "roas", "month", april, "channel", "referral") is None
    total = kpi_row(values, "roas", "month", april)
    assert (total["numerator"], total["denominator"]) == (1000.0, 500.0)
    assert kpi_value(values, "roas", "all", D(2024, 4, 3)) == 2.0
    # no spend data at all: not reported
    assert revenue_mix.roas(make_inputs(D(2024, 4, 30), orders=orders, order_lines=lines)).is_empty()


# --- stage durations, stage conversion with a skipped stage --------------------------------


def _funnel_history() -> dict[str, pl.DataFrame]:
    """A went lead → qualification → proposal (skipping needs_analysis) → won; B lead →
    qualification and is still open; C lost from lead."""
    deals = opportunities(
        [
            {"opportunity_id": "A", "owner_rep_id": "r1", "team": "east", "region": "EMEA",
             "stage": "won", "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 10)},
            {"opportunity_id": "B", "owner_rep_id": "r2", "team": "east", "region": "EMEA",
             "stage": "qualification", "max_stage_order_reached": 2,
             "created_at": D(2024, 1, 5), "close_date": D(2024, 6, 30)},
            {"opportunity_id": "C", "owner_rep_id": "r2", "team": "east", "region": "EMEA",
             "stage": "lost", "created_at": D(2024, 1, 8), "close_date": D(2024, 1, 28)},
        ]
    )
    history = opportunity_stages(
        [
            {"opportunity_id": "A", "stage": "lead", "entered_at": T(2024, 1, 1),
             "exited_at": T(2024, 1, 11)},
            {"opportunity_id": "A", "stage": "qualification", "entered_at": T(2024, 1, 11),
             "exited_at": T(2024, 1, 21)},
            {"opportunity_id": "A", "stage": "proposal", "entered_at": T(2024, 1, 21),
             "exited_at": T(2024, 2, 10)},
            {"opportunity_id": "A", "stage": "won", "entered_at": T(2024, 2, 10)},
            {"opportunity_id": "B", "stage": "lead", "entered_at": T(2024, 1, 5),
             "exited_at": T(2024, 2, 4)},
            {"opportunity_id": "B", "stage": "qualification", "entered_at": T(2024, 2, 4)},
            {"opportunity_id": "C", "stage": "lead", "entered_at": T(2024, 1, 8),
             "exited_at": T(2024, 1, 28)},
            {"opportunity_id": "C", "stage": "lost", "entered_at": T(2024, 1, 28)},
        ]
    )
    return {"opportunities": deals, "opportunity_stages": history}


def test_stage_durations_with_a_skipped_stage() -> None:
    values = stages.stage_duration(make_inputs(D(2024, 2, 29), **_funnel_history()))
    jan, feb = D(2024, 1, 1), D(2024, 2, 1)

    def days(kpi: str, grain: str, start: dt.date, stage: str) -> float | None:
        return kpi_value(values, kpi, grain, start, "stage", stage)

    # lead left in January by A (10 days) and C (20 days): median 15
    assert days("stage_duration_days", "month", jan, "lead") == 15.0
    # in February by B (30 days)
    assert days("stage_duration_days", "month", feb, "lead") == 30.0
    # Q1: 10, 20, 30: median 20; p90 at rank (3 − 1) × 0.9 = 1.8: 20 + 0.8 × 10 = 28
    assert days("stage_duration_days", "quarter", jan, "lead") == 20.0
    assert days("stage_duration_days_p90", "quarter", jan, "lead") == pytest.approx(28.0)
    # proposal left by A on Feb 10 after 20 days (entered Jan 21)
    assert days("stage_duration_days", "month", feb, "proposal") == 20.0
    # nobody was in needs_analysis (A skipped it): no row at all
    assert values.filter(pl.col("dimension_value") == "needs_analysis").is_empty()
    # B is still in qualification: only A's 10 days
    assert days("stage_duration_days", "quarter", jan, "qualification") == 10.0
    # as of Feb 3, B has not left lead yet: January's lead exits only
    early = stages.stage_duration(make_inputs(D(2024, 2, 3), **_funnel_history()))
    assert kpi_value(early, "stage_duration_days", "quarter", jan, "stage", "lead") == 15.0


def test_stage_conversion_by_owner_with_a_skipped_stage() -> None:
    values = funnel.stage_conversion_rate(make_inputs(D(2024, 2, 29), **_funnel_history()))
    jan = D(2024, 1, 1)
    # reached: A 5 (won), B 2, C 1 (lost from lead); A skipped needs_analysis and still
    # reached and passed it
    assert kpi_row(values, "stage_conversion_rate", "month", jan, "stage", "needs_analysis")[
        "denominator"
    ] == 1.0
    lead_r2 = kpi_row(values, "stage_conversion_rate.lead", "month", jan, "rep", "r2")
    # r2: B went on to qualification, C did not: 1 / 2
    assert (lead_r2["numerator"], lead_r2["denominator"]) == (1.0, 2.0)
    qual_east = kpi_row(values, "stage_conversion_rate.qualification", "month", jan, "team", "east")
    # east: A and B reached qualification, A went on: 1 / 2
    assert (qual_east["numerator"], qual_east["denominator"]) == (1.0, 2.0)
    assert kpi_value(values, "stage_conversion_rate.lead", "month", jan, "region", "EMEA") == (
        pytest.approx(2 / 3)
    )


# --- new customers by the first purchase's owner -------------------------------------------


def test_new_customers_by_first_purchase_rep_team_region_channel() -> None:
    orders, lines = sales(
        [
            # c1's first purchase: r1 / east / EMEA / web; its second (r2) does not count
            {"order_id": "1", "order_date": D(2024, 1, 10), "customer_id": "c1", "rep_id": "r1",
             "team": "east", "region": "EMEA", "channel": "web", "net_amount": 100.0},
            {"order_id": "2", "order_date": D(2024, 2, 10), "customer_id": "c1", "rep_id": "r2",
             "team": "west", "region": "APAC", "channel": "events", "net_amount": 100.0},
            {"order_id": "3", "order_date": D(2024, 2, 12), "customer_id": "c2", "rep_id": "r2",
             "team": "west", "region": "APAC", "channel": "events", "net_amount": 70.0},
        ]
    )
    values = customer_kpis(
        make_inputs(
            D(2024, 2, 29), orders=orders, order_lines=lines,
            customers=customers([{"customer_id": "c1", "region": "Bavaria", "channel": "ads"}]),
        ),
        KpiSettings(),
    )
    q1, jan, feb = D(2024, 1, 1), D(2024, 1, 1), D(2024, 2, 1)
    assert kpi_value(values, "new_customers", "month", jan, "rep", "r1") == 1
    assert kpi_value(values, "new_customers", "month", feb, "rep", "r2") == 1  # c2 only
    assert kpi_value(values, "new_customers", "quarter", q1, "team", "west") == 1
    assert kpi_value(values, "new_customers", "quarter", q1, "region", "EMEA") == 1
    # channel: the first order's (web), not the acquisition channel (ads)
    assert kpi_value(values, "new_customers", "quarter", q1, "channel", "web") == 1
    assert kpi_value(values, "new_customers", "quarter", q1, "customer_region", "Bavaria") == 1


# --- week grain ----------------------------------------------------------------------------


def test_weekly_targets_give_revenue_and_targets_a_week_grain() -> None:
    orders, lines = sales(
        [
            # ISO week of Monday 2024-03-04: Mon 4th 100, Sun 10th 50; the 11th is the next
            {"order_id": "1", "order_date": D(2024, 3, 4), "rep_id": "r1", "team": "east", "net_amount": 100.0},
            {"order_id": "2", "order_date": D(2024, 3, 10), "rep_id": "r1", "team": "east", "net_amount": 50.0},
            {"order_id": "3", "order_date": D(2024, 3, 11), "rep_id": "r1", "team": "east", "net_amount": 80.0},
        ]
    )
    deals = opportunities(
        [{"opportunity_id": "w", "team": "east", "stage": "won", "amount": 40.0,
          "created_at": D(2024, 2, 1), "close_date": D(2024, 3, 6)}]
    )
    goals = targets(
        [  # a weekly team target given on a Wednesday: the week of Monday the 4th
            {"period_start": D(2024, 3, 6), "grain": "week", "level": "team",
             "level_value": "east", "target_value": 300.0},
            {"period_start": D(2024, 3, 11), "grain": "week", "level": "team",
             "level_value": "east", "target_value": 280.0},
            {"period_start": D(2024, 3, 4), "grain": "week", "metric": "bookings",
             "level": "team", "level_value": "east", "target_value": 80.0},
        ]
    )
    inputs = make_inputs(D(2024, 3, 12), orders=orders, order_lines=lines, opportunities=deals,
                         targets=goals)
    week = D(2024, 3, 4)
    sales_values = revenue.revenue(inputs)
    assert kpi_value(sales_values, "revenue", "week", week) == 150.0
    week_row = kpi_row(sales_values, "revenue", "week", week)
    assert week_row["period_end"] == D(2024, 3, 11)
    achievement = target_kpis.target_achievement_rate(inputs)
    # 150 / 300 = 0.5 for the week of the 4th
    assert kpi_value(achievement, "target_achievement_rate", "week", week, "team", "east") == 0.5
    # bookings: 40 / 80
    assert kpi_value(
        achievement, "target_achievement_rate.bookings", "week", week, "team", "east"
    ) == 0.5
    # pacing of the open week (Mon 11th – Sun 17th, as of Tue 12th): 80 / (280 × 2 / 7)
    pacing = target_kpis.target_pacing(inputs)
    assert kpi_value(pacing, "target_pacing", "week", D(2024, 3, 11), "team", "east") == (
        pytest.approx(80 / 80)
    )
    assert kpi_value(revenue_mix.bookings(inputs), "bookings", "week", week) == 40.0
    # without weekly targets there is no week grain
    plain = make_inputs(D(2024, 3, 12), orders=orders, order_lines=lines)
    assert "week" not in set(revenue.revenue(plain).get_column("grain"))
