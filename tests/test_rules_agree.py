"""Each business rule has one home (docs/architecture.md, "One home for each business
rule"); where another layer shows the same figure, it agrees with the home on the
published demo warehouse, computed here by independent SQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from tests.e2e_helpers import query


@pytest.fixture(scope="module")
def db(demo_baseline: Path) -> Path:
    return demo_baseline / "warehouse" / "sales.duckdb"


def _as_of(db: Path) -> dt.date:
    (as_of,) = query(db, "select max(as_of) from kpi.kpi_values")[0]
    assert isinstance(as_of, dt.date)
    return as_of


def test_net_amount_and_purchase(db: Path) -> None:
    """Net amount is the sum of the order's line amounts; a purchase is an order not
    cancelled whose net amount is positive (int_orders_netted). fct_orders carries both,
    and the KPI layer's revenue and order counts read them."""
    assert query(
        db,
        """
        select count(*) from marts.fct_orders o
        left join (select order_id, sum(amount) as lines from marts.fct_order_lines
                   group by 1) l using (order_id)
        where abs(coalesce(l.lines, 0) - coalesce(o.net_amount, 0)) > 1e-6
           or o.is_purchase is distinct from
              (not coalesce(o.is_cancelled, false) and coalesce(o.net_amount, 0) > 0)
        """,
    ) == [(0,)]
    # monthly revenue = net amounts of the orders not cancelled, by order date
    rows = query(
        db,
        """
        with marts as (
            select date_trunc('month', order_date)::date as m, sum(net_amount) as revenue
            from marts.fct_orders where not coalesce(is_cancelled, false)
              and order_date <= (select max(as_of) from kpi.kpi_values)
            group by 1
        )
        select count(*), count(*) filter (where abs(k.value - m.revenue) > 1e-6 * abs(m.revenue))
        from kpi.kpi_values k join marts m on k.period_start = m.m
        where k.kpi = 'revenue' and k.grain = 'month' and k.dimension = 'all'
        """,
    )
    months, disagreeing = rows[0]
    assert months >= 24 and disagreeing == 0


def test_first_purchase_date(db: Path) -> None:
    """The first purchase date (the first purchase of a customer): dim_customer's column
    and the KPI layer's first_purchase_dates give the same date for every customer."""
    import duckdb

    from kpis.customers import first_purchase_dates
    from kpis.inputs import load_inputs

    as_of = _as_of(db)
    with duckdb.connect(str(db), read_only=True) as con:
        inputs = load_inputs(con, as_of)
        kpi = inputs.with_customer_ids(first_purchase_dates(inputs))
        mart = con.sql(
            "select customer_id, first_purchase_date from marts.dim_customer "
            "where is_current and first_purchase_date <= ?",
            params=[as_of],
        ).pl()
    joined = mart.join(kpi, on="customer_id", how="full", coalesce=True)
    assert joined.height > 1000
    assert joined.filter(
        (pl.col("first_purchase_date").cast(pl.Date) != pl.col("first_date"))
        | pl.col("first_purchase_date").is_null()
        | pl.col("first_date").is_null()
    ).is_empty()


def test_customer_activity(db: Path) -> None:
    """Active on day d: a purchase within the churn_window_days days ending on d. The
    mart's month-end flag (fct_customer_periods.is_active_at_month_end) and the KPI
    active_customers agree on every closed month."""
    rows = query(
        db,
        """
        with marts as (
            select month_start, count(*) filter (where is_active_at_month_end) as active
            from marts.fct_customer_periods group by 1
        )
        select count(*), count(*) filter (where k.value <> m.active)
        from kpi.kpi_values k join marts m on k.period_start = m.month_start
        where k.kpi = 'active_customers' and k.grain = 'month' and k.dimension = 'all'
          and k.period_end <= k.as_of
        """,
    )
    months, disagreeing = rows[0]
    assert months >= 24 and disagreeing == 0
