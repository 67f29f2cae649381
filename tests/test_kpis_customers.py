"""Golden tests of kpis.customers (new_customers, active_customers, logo_churn_rate) and
kpis.retention (gross/net revenue retention), on small hand-made marts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kpi_builders as kb
import polars as pl
import pytest

from kpis import customers, retention
from kpis.inputs import KpiInputs
from schemas.config import KpiSettings

D = dt.date


def value(
    frame: pl.DataFrame,
    kpi: str,
    grain: str,
    start: dt.date,
    dimension: str = "all",
    dimension_value: str = "all",
    column: str = "value",
) -> Any:
    """The single value of one kpi_values row."""
    row = frame.filter(
        (pl.col("kpi") == kpi)
        & (pl.col("grain") == grain)
        & (pl.col("period_start") == start)
        & (pl.col("dimension") == dimension)
        & (pl.col("dimension_value") == dimension_value)
    )
    assert row.height == 1, (
        f"{kpi} {grain} {start} {dimension}={dimension_value}: {row}"
    )
    return row.item(0, column)


def order(
    order_id: str, day: dt.date, customer: str | None, amount: float, **extra: Any
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "order_date": day,
        "customer_id": customer,
        "net_amount": amount,
        **extra,
    }


def inputs(
    as_of: dt.date, rows: list[dict[str, Any]], **frames: pl.DataFrame
) -> KpiInputs:
    return kb.make_inputs(as_of, orders=kb.orders(rows), **frames)


W30 = KpiSettings(churn_window_days=30)
W365 = KpiSettings()


# --- new / active / churn ------------------------------------------------------------


@pytest.fixture
def small_shop() -> KpiInputs:
    """W = 30 days. a buys 2024-01-05; b buys 2024-02-05; a returns goods on 2024-03-05;
    c only has a cancelled order; one order has no customer. as_of = 2024-03-10."""
    return inputs(
        D(2024, 3, 10),
        [
            order("1", D(2024, 1, 5), "a", 100.0, channel="ads"),
            order("2", D(2024, 2, 5), "b", 50.0),
            order("3", D(2024, 3, 5), "a", -20.0),  # a return: not a purchase
            order("4", D(2024, 3, 6), "c", 70.0, status="cancelled"),
            order(
                "5", D(2024, 3, 7), None, 30.0
            ),  # no customer: counts for no customer KPI
        ],
        customers=kb.customers(
            [
                {
                    "customer_id": "a",
                    "segment": "smb",
                    "country": "DE",
                    "channel": "ads",
                    "region": "emea",
                },
                {
                    "customer_id": "b",
                    "segment": "ent",
                    "country": "US",
                    "channel": None,
                    "region": "amer",
                },
                {
                    "customer_id": "c",
                    "segment": "smb",
                    "country": "DE",
                    "channel": "ads",
                },
            ]
        ),
    )


def test_new_customers_by_month_and_all(small_shop: KpiInputs) -> None:
    out = customers.kpi_values(small_shop, W30)
    # first purchases: a 2024-01-05, b 2024-02-05; c (cancelled only) is never new
    assert value(out, "new_customers", "month", D(2024, 1, 1)) == 1
    assert value(out, "new_customers", "month", D(2024, 2, 1)) == 1
    assert value(out, "new_customers", "month", D(2024, 3, 1)) == 0
    assert value(out, "new_customers", "quarter", D(2024, 1, 1)) == 2
    assert value(out, "new_customers", "year", D(2024, 1, 1)) == 2
    # grain all: every customer with a first purchase up to as_of, from the first one
    assert value(out, "new_customers", "all", D(2024, 1, 5)) == 2
    all_row = out.filter(
        (pl.col("kpi") == "new_customers") & (pl.col("grain") == "all")
    )
    assert all_row["period_end"].unique().to_list() == [D(2024, 3, 11)]
    # channel and region are the first purchase's (fct_orders: the order's channel, else
    # the customer's acquisition channel; the order's region, else its rep's): a missing
    # value is reported as unknown; the customer's own region is customer_region
    assert value(out, "new_customers", "month", D(2024, 1, 1), "channel", "ads") == 1
    assert (
        value(out, "new_customers", "month", D(2024, 2, 1), "channel", "unknown") == 1
    )
    assert value(out, "new_customers", "month", D(2024, 2, 1), "region", "unknown") == 1
    assert value(out, "new_customers", "month", D(2024, 2, 1), "customer_region", "amer") == 1
    assert value(out, "new_customers", "month", D(2024, 2, 1), "segment", "smb") == 0
    assert out["unit"].filter(out["kpi"] == "new_customers").unique().to_list() == [
        "count"
    ]
    assert out["as_of"].unique().to_list() == [D(2024, 3, 10)]


def test_active_and_churn_with_open_period(small_shop: KpiInputs) -> None:
    out = customers.kpi_values(small_shop, W30)
    # active on d <=> a purchase p with d - 30 < p <= d
    # Jan 31: a (26 days) -> 1; Feb 29: a 55 days (no), b 24 days -> 1
    # open March: evaluated on as_of 2024-03-10: b 34 days -> 0 (a's return does not count)
    assert value(out, "active_customers", "month", D(2024, 1, 1)) == 1
    assert value(out, "active_customers", "month", D(2024, 2, 1)) == 1
    assert value(out, "active_customers", "month", D(2024, 3, 1)) == 0
    # January: nobody active on Dec 31 -> 0 / 0 -> null
    assert value(out, "logo_churn_rate", "month", D(2024, 1, 1)) is None
    assert (
        value(out, "logo_churn_rate", "month", D(2024, 1, 1), column="denominator") == 0
    )
    # February: {a} at start, {b} at end -> a churned: 1 / 1
    assert value(out, "logo_churn_rate", "month", D(2024, 2, 1)) == 1.0
    # March (open, to as_of): {b} at start, nobody at end: 1 / 1
    assert value(out, "logo_churn_rate", "month", D(2024, 3, 1)) == 1.0
    # Q1 (open): nobody at start -> null
    assert value(out, "logo_churn_rate", "quarter", D(2024, 1, 1)) is None
    # by channel in February: ads {a} -> {} = 1/1; unknown {} -> null
    assert (
        value(out, "logo_churn_rate", "month", D(2024, 2, 1), "channel", "ads") == 1.0
    )
    assert (
        value(out, "logo_churn_rate", "month", D(2024, 2, 1), "channel", "unknown")
        is None
    )
    # active_customers and logo_churn_rate have no grain all
    assert (
        out.filter(
            pl.col("kpi").is_in(["active_customers", "logo_churn_rate"])
            & (pl.col("grain") == "all")
        ).height
        == 0
    )


def test_leap_year_window() -> None:
    """W = 365 days ending on 2024-03-01 starts on 2023-03-03 (Feb 29 is inside)."""
    shop = inputs(
        D(2024, 3, 1),
        [order("1", D(2023, 3, 2), "x", 10.0), order("2", D(2023, 3, 3), "y", 10.0)],
    )
    out = customers.kpi_values(shop, W365)
    # Feb 29, 2024: x 364 days, y 363 days -> both active
    assert value(out, "active_customers", "month", D(2024, 2, 1)) == 2
    # March 1, 2024 (as_of, open month): x 365 days -> out; y 364 days -> in
    assert value(out, "active_customers", "month", D(2024, 3, 1)) == 1
    assert (
        value(out, "logo_churn_rate", "month", D(2024, 3, 1)) == 0.5
    )  # x churned: 1 / 2
    # March 2023: both bought -> 2 new; nobody active on Feb 28, 2023 -> churn null
    assert value(out, "new_customers", "month", D(2023, 3, 1)) == 2
    assert value(out, "logo_churn_rate", "month", D(2023, 3, 1)) is None


def test_customer_coming_back_is_active_again_not_new_again() -> None:
    shop = inputs(
        D(2023, 6, 30),
        [order("1", D(2022, 1, 10), "a", 10.0), order("2", D(2023, 6, 1), "a", 10.0)],
    )
    out = customers.kpi_values(shop, W365)
    # 2022-01-10 + 365 days = 2023-01-10: inactive from that day on
    assert (
        value(out, "active_customers", "month", D(2022, 12, 1)) == 1
    )  # Dec 31: 355 days
    assert (
        value(out, "active_customers", "month", D(2023, 1, 1)) == 0
    )  # Jan 31: 386 days
    assert value(out, "logo_churn_rate", "month", D(2023, 1, 1)) == 1.0
    assert value(out, "active_customers", "month", D(2023, 5, 1)) == 0
    assert value(out, "active_customers", "month", D(2023, 6, 1)) == 1  # bought June 1
    assert value(out, "new_customers", "month", D(2022, 1, 1)) == 1
    assert value(out, "new_customers", "month", D(2023, 6, 1)) == 0  # not new again
    assert value(out, "new_customers", "year", D(2023, 1, 1)) == 0
    assert value(out, "new_customers", "all", D(2022, 1, 10)) == 1


def test_business_without_orders_counts_first_won_opportunity() -> None:
    opportunities = kb.opportunities(
        [
            {
                "opportunity_id": "o1",
                "customer_id": "a",
                "stage": "won",
                "created_at": D(2024, 1, 2),
                "close_date": D(2024, 1, 20),
            },
            {
                "opportunity_id": "o2",
                "customer_id": "a",
                "stage": "won",
                "created_at": D(2024, 2, 1),
                "close_date": D(2024, 2, 10),
            },
            {
                "opportunity_id": "o3",
                "customer_id": "b",
                "stage": "won",
                "created_at": D(2024, 1, 5),
                "close_date": D(2024, 2, 15),
            },
            {
                "opportunity_id": "o4",
                "customer_id": "c",
                "stage": "lost",
                "created_at": D(2024, 1, 5),
                "close_date": D(2024, 2, 1),
            },
            # won after as_of: not known yet
            {
                "opportunity_id": "o5",
                "customer_id": "d",
                "stage": "won",
                "created_at": D(2024, 2, 1),
                "close_date": D(2024, 3, 5),
            },
        ]
    )
    shop = kb.make_inputs(D(2024, 2, 29), opportunities=opportunities)
    out = customers.kpi_values(shop, W365)
    assert value(out, "new_customers", "month", D(2024, 1, 1)) == 1  # a
    assert value(out, "new_customers", "month", D(2024, 2, 1)) == 1  # b (a not again)
    # no purchases -> no activity rows at all
    assert out.filter(pl.col("kpi") == "active_customers").height == 0


def test_no_customers_gives_zero_new_customers_and_no_rates() -> None:
    out = customers.kpi_values(kb.make_inputs(D(2024, 1, 15)), W365)
    # no purchase: new_customers 0 in the as-of periods, nothing else (no inf, no error)
    assert out["kpi"].unique().to_list() == ["new_customers"]
    assert value(out, "new_customers", "month", D(2024, 1, 1)) == 0
    assert out["value"].to_list() == [0.0] * out.height


# --- revenue retention ---------------------------------------------------------------


@pytest.fixture
def retention_shop() -> KpiInputs:
    return inputs(
        D(2024, 2, 29),
        [
            order("1", D(2024, 1, 3), "a", 100.0),
            order("2", D(2024, 1, 9), "b", 50.0),
            order(
                "3", D(2024, 1, 12), "c", -10.0
            ),  # c: only a return in Jan -> not in base
            order("4", D(2024, 2, 2), "a", 150.0),  # expansion
            order("5", D(2024, 2, 3), "b", 20.0),
            order("6", D(2024, 2, 4), "b", -30.0),  # b: net -10 in Feb
            order("7", D(2024, 2, 5), "b", 500.0, status="cancelled"),
            order("8", D(2024, 2, 6), "d", 80.0),  # new in Feb: not in base
            order("9", D(2024, 2, 7), "c", 40.0),
        ],
        customers=kb.customers(
            [
                {
                    "customer_id": "a",
                    "segment": "ent",
                    "country": "DE",
                    "channel": "ads",
                },
                {
                    "customer_id": "b",
                    "segment": "smb",
                    "country": "DE",
                    "channel": "seo",
                },
            ]
        ),
    )


def test_revenue_retention_month(retention_shop: KpiInputs) -> None:
    out = retention.kpi_values(retention_shop, W365)
    # base of Feb: a (100), b (50) -> 150
    # NRR = (150 + (20 - 30)) / 150 = 140 / 150
    assert value(out, "net_revenue_retention", "month", D(2024, 2, 1)) == pytest.approx(
        140 / 150
    )
    assert (
        value(
            out, "net_revenue_retention", "month", D(2024, 2, 1), column="denominator"
        )
        == 150
    )
    # GRR = (min(max(150, 0), 100) + min(max(-10, 0), 50)) / 150 = 100 / 150
    assert value(
        out, "gross_revenue_retention", "month", D(2024, 2, 1)
    ) == pytest.approx(100 / 150)
    assert (
        value(
            out, "gross_revenue_retention", "month", D(2024, 2, 1), column="numerator"
        )
        == 100
    )
    # January has no previous period -> null, not inf, not an error
    assert value(out, "gross_revenue_retention", "month", D(2024, 1, 1)) is None
    assert value(out, "net_revenue_retention", "quarter", D(2024, 1, 1)) is None
    # by segment: ent = a: 150 / 100 (NRR), 100 / 100 (GRR); smb = b: -10 / 50, 0 / 50
    assert (
        value(out, "net_revenue_retention", "month", D(2024, 2, 1), "segment", "ent")
        == 1.5
    )
    assert (
        value(out, "gross_revenue_retention", "month", D(2024, 2, 1), "segment", "ent")
        == 1.0
    )
    assert value(
        out, "net_revenue_retention", "month", D(2024, 2, 1), "segment", "smb"
    ) == pytest.approx(-0.2)
    assert (
        value(out, "gross_revenue_retention", "month", D(2024, 2, 1), "segment", "smb")
        == 0.0
    )
    assert value(
        out, "net_revenue_retention", "month", D(2024, 2, 1), "channel", "seo"
    ) == pytest.approx(-0.2)
    # c and d are not in dim_customer: unknown; c was not in the base -> null
    assert (
        value(
            out, "net_revenue_retention", "month", D(2024, 2, 1), "country", "unknown"
        )
        is None
    )


def test_revenue_retention_year_over_year() -> None:
    shop = inputs(
        D(2024, 6, 30),
        [
            order("1", D(2023, 3, 1), "a", 200.0),
            order("2", D(2023, 9, 1), "a", 100.0),
            order("3", D(2024, 2, 1), "a", 120.0),  # 2024 so far
            order("4", D(2023, 5, 1), "b", 100.0),  # b lost in 2024
        ],
    )
    out = retention.kpi_values(shop, W365)
    # 2024 is open (to June 30): its base is 2023 to the same day, 2023-06-30: a 200
    # (order 2, September, is later), b 100 = 300; NRR = 120 / 300,
    # GRR = (min(120, 200) + min(0, 100)) / 300
    assert value(out, "net_revenue_retention", "year", D(2024, 1, 1)) == pytest.approx(
        0.4
    )
    assert value(
        out, "gross_revenue_retention", "year", D(2024, 1, 1)
    ) == pytest.approx(0.4)
    # quarters: Q2 2024 base = Q1 2024 payers = a (120); Q2 revenue 0
    assert value(out, "net_revenue_retention", "quarter", D(2024, 4, 1)) == 0.0
    # Q1 2024 base = Q4 2023 payers: nobody -> null
    assert value(out, "net_revenue_retention", "quarter", D(2024, 1, 1)) is None


def test_revenue_that_cancels_out_is_not_a_base() -> None:
    # c's March orders and return cancel out: 0.1 + 0.2 - 0.3 is 5.6e-17 in floats, not 0
    shop = inputs(
        D(2024, 4, 30),
        [
            order("1", D(2024, 3, 1), "a", 100.0),
            order("2", D(2024, 4, 2), "a", 50.0),
            order("3", D(2024, 3, 2), "c", 0.1),
            order("4", D(2024, 3, 3), "c", 0.2),
            order("5", D(2024, 3, 4), "c", -0.3),
            order("6", D(2024, 4, 5), "c", 1000.0),  # c is new revenue in April
        ],
    )
    assert 0.1 + 0.2 - 0.3 > 0  # the premise
    out = retention.kpi_values(shop, W365)
    # April base = March payers = a only: NRR = 50 / 100
    assert value(out, "net_revenue_retention", "month", D(2024, 4, 1)) == pytest.approx(0.5)
    assert value(out, "gross_revenue_retention", "month", D(2024, 4, 1)) == pytest.approx(0.5)


def test_new_customers_count_each_customer_once() -> None:
    """a buys three times (twice in January), b once in January, c only returns and is
    in dim_customer with a segment: new customers are counted per customer, never per
    order; a customer known only from dim_customer, or only returning, is not new."""
    rows = [
        order("1", D(2024, 1, 5), "a", 100.0, segment="smb"),
        order("2", D(2024, 1, 20), "a", 40.0, segment="smb"),
        order("3", D(2024, 2, 3), "a", 10.0, segment="smb"),
        order("4", D(2024, 1, 10), "b", 60.0, segment="enterprise"),
        order("5", D(2024, 2, 12), "c", -15.0),
    ]
    dim = kb.customers(
        [
            {"customer_id": "a", "segment": "smb"},
            {"customer_id": "b", "segment": "enterprise"},
            {"customer_id": "c", "segment": "smb"},
            {"customer_id": "d", "segment": "smb"},  # never ordered
        ]
    )
    out = customers.kpi_values(inputs(D(2024, 3, 31), rows, customers=dim), W365)
    assert value(out, "new_customers", "month", D(2024, 1, 1)) == 2
    assert value(out, "new_customers", "month", D(2024, 2, 1)) == 0
    assert value(out, "new_customers", "quarter", D(2024, 1, 1)) == 2
    assert value(out, "new_customers", "all", D(2024, 1, 5)) == 2
    assert value(out, "new_customers", "month", D(2024, 1, 1), "segment", "smb") == 1
    assert value(out, "new_customers", "month", D(2024, 1, 1), "segment", "enterprise") == 1
