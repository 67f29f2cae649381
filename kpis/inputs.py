"""The mart frames the KPI functions work on, read once from a DuckDB connection.

This is the only module of ``kpis`` that touches a database: the KPI functions are
pure and take a :class:`KpiInputs` (or single frames). Columns are those of the marts
(docs/architecture.md); of the two large order tables, only those the KPIs use.
Everything dated after ``as_of`` is left out here, so that a computation as of an
earlier date sees what a run on that date would have seen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import duckdb
import polars as pl


@dataclass(frozen=True)
class KpiInputs:
    """Mart frames as of a date (amounts in the reporting currency).

    Frames derived from them that several KPI families need (revenue per period, the
    customers' first purchases, …) are computed once, on first use, through
    :meth:`shared`.
    """

    as_of: dt.date
    orders: pl.DataFrame  # marts.fct_orders (ORDER_COLUMNS), order_date <= as_of
    order_lines: pl.DataFrame  # marts.fct_order_lines (ORDER_LINE_COLUMNS), same dates
    opportunities: pl.DataFrame  # marts.fct_opportunities, created_at <= as_of or null
    opportunity_stages: pl.DataFrame  # marts.fct_opportunity_stages, entered_at <= as_of
    leads: pl.DataFrame  # marts.fct_leads, created_at <= as_of
    targets: pl.DataFrame  # marts.fct_targets (all periods: targets are plans)
    marketing_spend: pl.DataFrame  # marts.fct_marketing_spend, period_start <= as_of
    customers: pl.DataFrame  # marts.dim_customer, current rows
    reps: pl.DataFrame  # marts.dim_rep
    products: pl.DataFrame  # marts.dim_product
    _shared: dict[Hashable, pl.DataFrame] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def shared(self, key: Hashable, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        """The frame ``compute()`` derives from these inputs, computed on the first call
        with ``key`` (the derivation's name and parameters) and reused afterwards: the
        inputs never change, so neither does the frame."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]


#: the columns read from the two large fact tables: those the KPIs use (the others,
#: such as load timestamps and local-currency amounts, would only take memory)
ORDER_COLUMNS: tuple[str, ...] = (
    "order_id",
    "order_date",
    "customer_id",
    "channel",
    "rep_id",
    "team",
    "region",
    "country",
    "segment",
    "net_amount",
    "is_cancelled",
    "is_purchase",
)
ORDER_LINE_COLUMNS: tuple[str, ...] = (
    "order_id",
    "order_date",
    "customer_id",
    "product_category",
    "amount",
    "cost",
    "is_cancelled",
)

_QUERIES: dict[str, str] = {
    "orders": f"select {', '.join(ORDER_COLUMNS)} from marts.fct_orders"
    " where order_date <= $as_of",
    "order_lines": f"select {', '.join(ORDER_LINE_COLUMNS)} from marts.fct_order_lines"
    " where order_date <= $as_of",
    "opportunities": "select * from marts.fct_opportunities"
    " where created_at is null or created_at <= $as_of",
    "opportunity_stages": "select * from marts.fct_opportunity_stages"
    " where entered_at is null or cast(entered_at as date) <= $as_of",
    "leads": "select * from marts.fct_leads where created_at <= $as_of",
    "targets": "select * from marts.fct_targets",
    "marketing_spend": "select * from marts.fct_marketing_spend where period_start <= $as_of",
    "customers": "select * from marts.dim_customer where is_current",
    "reps": "select * from marts.dim_rep",
    "products": "select * from marts.dim_product",
}


def load_inputs(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> KpiInputs:
    """Read the marts as of ``as_of`` into polars frames."""
    frames = {
        name: con.sql(sql, params={"as_of": as_of} if "$as_of" in sql else None).pl()
        for name, sql in _QUERIES.items()
    }
    return KpiInputs(as_of=as_of, **frames)


def latest_data_date(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The default as-of date: the latest order date, opportunity close/creation or lead date."""
    rows = con.execute(
        """
        select greatest(
            (select max(order_date) from marts.fct_orders),
            (select max(close_date) from marts.fct_opportunities where is_closed),
            (select max(created_at) from marts.fct_opportunities),
            (select max(created_at) from marts.fct_leads)
        )
        """
    ).fetchall()
    return rows[0][0] if rows else None
