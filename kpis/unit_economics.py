"""Unit economics (docs/kpis.md): cac, arpa, ltv, ltv_cac_ratio, cac_payback_months.

    cac                = marketing spend of the channel in the period
                         / new customers acquired through that channel in the period
    arpa               = revenue in the month / customers active at the month's end
    ltv                = arpa x gross margin / monthly logo churn rate
    ltv_cac_ratio      = ltv / cac
    cac_payback_months = cac / (arpa x gross margin)

- Spend is ``fct_marketing_spend.amount`` in the period of its ``period_start`` and its
  own ``channel``; a new customer's channel is its acquisition channel
  (``dim_customer.channel``); new customers as in :mod:`kpis.customers`. A channel with
  new customers but no recorded spend has cac 0; with spend but no new customer, null.
  Without any marketing spend data at all, cac, ltv_cac_ratio and cac_payback_months
  are not reported (unknown, not 0).
  ``all`` = total spend / all new customers.
- Revenue: net amounts of orders that are not cancelled (returns lower it). Active
  customers and the monthly logo churn rate: :mod:`kpis.customers` (the open month is
  evaluated on the as-of date). For the ``channel`` dimension, revenue, active
  customers, churn and margin are those of the customers acquired through the channel
  (orders without a customer fall under ``unknown``).
- Gross margin of a month (and channel), revenue-weighted over order lines of orders
  that are not cancelled: lines with a known cost contribute amount - cost, the others
  amount x ``gross_margin_default``; margin = that sum / the sum of the line amounts.
  A month without line revenue uses ``gross_margin_default``.
- Grains: cac month, quarter, year and all; the others month (arpa is per month). Every
  zero or missing denominator gives null, never inf.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.customers import (
    GROUP_KEYS,
    activity_counts,
    customer_attributes,
    first_purchase_dates,
    new_customer_counts,
    revenue_orders,
)
from kpis.inputs import KpiInputs
from kpis.periods import Grain, aggregate_by_period
from kpis.registry import REGISTRY
from kpis.values import empty_kpi_values, safe_ratio, to_kpi_values
from schemas.config import KpiSettings

CAC_GRAINS: tuple[Grain, ...] = ("month", "quarter", "year", "all")
MONTH: tuple[Grain, ...] = ("month",)
CHANNEL: dict[str, str] = {"channel": "channel"}


def _with_customer_channel(frame: pl.DataFrame, attributes: pl.DataFrame) -> pl.DataFrame:
    """Add the customer's acquisition channel (null for unknown customers)."""
    return (
        frame.lazy()
        .join(
            attributes.lazy().select("customer_id", "channel"),
            on="customer_id",
            how="left",
        )
        .collect()
    )


def _combine(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Full join of per-period tables on the period and dimension keys, 0 where absent."""
    table = parts[0]
    for part in parts[1:]:
        table = table.join(part, on=GROUP_KEYS, how="full", coalesce=True)
    measures = [c for c in table.columns if c not in GROUP_KEYS]
    return table.with_columns(pl.col(measures).fill_null(0))


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """kpi_values rows of cac (month, quarter, year, all), arpa, ltv, ltv_cac_ratio and
    cac_payback_months (month), for ``all`` and by channel.

    cac = spend / new customers; arpa = revenue / active customers;
    ltv = arpa x gross margin / monthly logo churn rate; ltv_cac_ratio = ltv / cac;
    cac_payback_months = cac / (arpa x gross margin).
    """
    as_of = inputs.as_of
    attributes = customer_attributes(inputs)
    revenue = _with_customer_channel(revenue_orders(inputs.orders), attributes)
    spend = inputs.marketing_spend.select(
        pl.col("period_start").cast(pl.Date).alias("spend_date"),
        pl.col("channel").cast(pl.String),
        pl.col("amount").cast(pl.Float64).fill_null(0.0).alias("spend"),
    )
    lines = _with_customer_channel(
        inputs.lines.margin_by_customer.select(
            "customer_id",
            pl.col("order_date").cast(pl.Date),
            pl.col("amount").cast(pl.Float64).alias("line_revenue"),
            (pl.col("cost_margin") + pl.col("amount_without_cost") * settings.gross_margin_default)
            .cast(pl.Float64)
            .alias("line_margin"),
        ),
        attributes,
    )
    firsts = first_purchase_dates(inputs)
    starts = [
        frame.get_column(column).min()
        for frame, column in (
            (revenue, "order_date"),
            (spend, "spend_date"),
            (firsts, "first_date"),
        )
    ]
    known = [day for day in starts if isinstance(day, dt.date)]
    if not known:
        return empty_kpi_values()
    first_day = min(known)

    def by_month(frame: pl.DataFrame, date: str, columns: list[str]) -> pl.DataFrame:
        return aggregate_by_period(
            frame,
            date=date,
            aggs=[pl.col(column).sum() for column in columns],
            dimensions=CHANNEL,
            as_of=as_of,
            first_day=first_day,
            grains=MONTH,
        )

    cac_table = _combine(
        [
            aggregate_by_period(
                spend,
                date="spend_date",
                aggs=[pl.col("spend").sum()],
                dimensions=CHANNEL,
                as_of=as_of,
                first_day=first_day,
                grains=CAC_GRAINS,
            ),
            new_customer_counts(inputs, CAC_GRAINS, CHANNEL, first_day),
        ]
    ).with_columns(safe_ratio(pl.col("spend"), pl.col("new_customers")).alias("cac"))
    monthly = (
        _combine(
            [
                cac_table.filter(pl.col("grain") == "month").drop("cac"),
                by_month(revenue, "order_date", ["net_amount"]),
                by_month(lines, "order_date", ["line_revenue", "line_margin"]),
                activity_counts(inputs, settings, MONTH, CHANNEL),
            ]
        )
        .with_columns(
            safe_ratio(pl.col("spend"), pl.col("new_customers")).alias("cac"),
            safe_ratio(pl.col("net_amount"), pl.col("active_end")).alias("arpa"),
            safe_ratio(pl.col("line_margin"), pl.col("line_revenue"))
            .fill_null(settings.gross_margin_default)
            .alias("gross_margin"),
            safe_ratio(pl.col("churned"), pl.col("active_start")).alias("churn_rate"),
        )
        .with_columns((pl.col("arpa") * pl.col("gross_margin")).alias("margin_per_account"))
        .with_columns(
            safe_ratio(pl.col("margin_per_account"), pl.col("churn_rate")).alias("ltv"),
            safe_ratio(pl.col("cac"), pl.col("margin_per_account")).alias("cac_payback_months"),
        )
        .with_columns(safe_ratio(pl.col("ltv"), pl.col("cac")).alias("ltv_cac_ratio"))
    )

    def rows(frame: pl.DataFrame, kpi: str, numerator: str, denominator: str) -> pl.DataFrame:
        return to_kpi_values(
            frame,
            kpi=kpi,
            unit=REGISTRY[kpi].unit,
            as_of=as_of,
            value=kpi,
            numerator=numerator,
            denominator=denominator,
        )

    parts = [
        rows(monthly, "arpa", "net_amount", "active_end"),
        rows(monthly, "ltv", "margin_per_account", "churn_rate"),
    ]
    if spend.height:  # without any marketing spend data, CAC is unknown, not 0
        parts += [
            rows(cac_table, "cac", "spend", "new_customers"),
            rows(monthly, "ltv_cac_ratio", "ltv", "cac"),
            rows(monthly, "cac_payback_months", "cac", "margin_per_account"),
        ]
    return pl.concat(parts).sort(["kpi", *GROUP_KEYS])
