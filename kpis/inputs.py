"""The mart frames the KPI functions work on, read once from a DuckDB connection.

This is the only module of ``kpis`` that touches a database: the KPI functions are
pure and take a :class:`KpiInputs` (or single frames). Columns are those of the marts
(docs/architecture.md). Everything dated after ``as_of`` is left out here, so that a
computation as of an earlier date sees what a run on that date would have seen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl


@dataclass(frozen=True)
class KpiInputs:
    """Mart frames as of a date (amounts in the reporting currency)."""

    as_of: dt.date
    orders: pl.DataFrame  # marts.fct_orders, order_date <= as_of
    order_lines: pl.DataFrame  # marts.fct_order_lines, order_date <= as_of
    opportunities: pl.DataFrame  # marts.fct_opportunities, created_at <= as_of or null
    opportunity_stages: pl.DataFrame  # marts.fct_opportunity_stages, entered_at <= as_of
    leads: pl.DataFrame  # marts.fct_leads, created_at <= as_of
    targets: pl.DataFrame  # marts.fct_targets (all periods: targets are plans)
    marketing_spend: pl.DataFrame  # marts.fct_marketing_spend, period_start <= as_of
    customers: pl.DataFrame  # marts.dim_customer, current rows
    reps: pl.DataFrame  # marts.dim_rep
    products: pl.DataFrame  # marts.dim_product


_QUERIES: dict[str, str] = {
    "orders": "select * from marts.fct_orders where order_date <= $as_of",
    "order_lines": "select * from marts.fct_order_lines where order_date <= $as_of",
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
