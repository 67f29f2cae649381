"""Margin and price KPIs (docs/kpis.md, management analytics): gross_margin, cost_coverage,
discount_rate, price_realisation.

All four are ratios of sums over the revenue lines (order lines not cancelled, of orders
not cancelled, by order date, up to as_of), summed per day and dimension value by DuckDB
(``LineTotals.line_economics``):

- a line's **cost** is ``fct_order_lines.cost``: the line's own cost, else quantity ×
  the product's ``unit_cost``; a line without either has no known cost;
- ``gross_margin`` = (net revenue − cost) / net revenue over the lines with a known
  cost; the other lines count nowhere in it, ``cost_coverage`` says how much revenue
  that is: net revenue of the lines with a known cost / net revenue;
- ``discount_rate`` = Σ discount / Σ quantity × unit_price over the lines that have a
  discount, a quantity and a unit price;
- ``price_realisation`` = Σ net amount / Σ quantity × product list_price over the lines
  that have a quantity and whose product has a list price.

Null where the denominator is 0 (no line qualifies). Grains month, quarter, year, all;
dimensions those of revenue (the order's region, team, rep, channel, segment, country
and the line's product_category).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from kpis.inputs import KpiInputs
from kpis.periods import GRAINS, Grain, aggregate_by_period
from kpis.registry import REVENUE_DIMENSIONS
from kpis.values import safe_ratio, to_kpi_values
from schemas.config import KpiSettings

#: the sums of LineTotals.line_economics
ECONOMICS_SUMS: tuple[str, ...] = (
    "amount",
    "costed_amount",
    "cost",
    "discount",
    "gross_amount",
    "listed_amount",
    "list_value",
)


def daily_sums_by_period(
    by_day: pl.DataFrame,
    sums: Sequence[str],
    dimensions: Sequence[str],
    as_of: dt.date,
    grains: Sequence[Grain] = GRAINS,
    date: str = "order_date",
) -> pl.DataFrame:
    """Sums per period of ``grains`` and dimension value of a frame summed per day and
    dimension value (columns ``date``, dimension, dimension_value and ``sums``; the
    dimension ``all`` holds every day's total): grain, period_start, period_end,
    dimension, dimension_value and the sums, 0 in periods without rows (from the
    value's first period). All dimensions share the period grid of ``all``."""
    total = by_day.filter(pl.col("dimension") == "all")
    earliest = total.select(pl.col(date).min()).item()
    first_day = earliest if earliest is not None else as_of
    aggs = [pl.col(name).sum() for name in sums]
    parts = [
        aggregate_by_period(
            total, date=date, aggs=aggs, dimensions={}, as_of=as_of,
            first_day=first_day, grains=grains,
        )
    ]
    parts += [
        aggregate_by_period(
            by_day.filter(pl.col("dimension") == name),
            date=date,
            aggs=aggs,
            dimensions={name: "dimension_value"},
            as_of=as_of,
            first_day=first_day,
            grains=grains,
        ).filter(pl.col("dimension") == name)
        for name in dimensions
    ]
    return pl.concat(parts, how="vertical_relaxed")


def line_economics_by_period(inputs: KpiInputs) -> pl.DataFrame:
    """The sums of ``ECONOMICS_SUMS`` per period and dimension value of revenue
    (computed once per inputs)."""
    return inputs.shared(
        "line_economics_by_period",
        lambda: daily_sums_by_period(
            inputs.lines.line_economics, ECONOMICS_SUMS, REVENUE_DIMENSIONS, inputs.as_of
        ),
    )


def _ratio(
    inputs: KpiInputs, kpi: str, numerator: pl.Expr, denominator: pl.Expr
) -> pl.DataFrame:
    rows = line_economics_by_period(inputs).with_columns(
        numerator.alias("_numerator"), denominator.alias("_denominator")
    )
    return to_kpi_values(
        rows.with_columns(safe_ratio(pl.col("_numerator"), pl.col("_denominator")).alias("value")),
        kpi=kpi,
        unit="ratio",
        as_of=inputs.as_of,
        numerator="_numerator",
        denominator="_denominator",
    )


def gross_margin(inputs: KpiInputs) -> pl.DataFrame:
    """gross_margin = (net revenue − cost) / net revenue, over order lines whose cost is
    known (line cost, else quantity × product unit_cost).

    numerator = Σ (amount − cost), denominator = Σ amount, both over the lines with a
    known cost; lines without a known cost are left out (``cost_coverage``)."""
    return _ratio(
        inputs, "gross_margin", pl.col("costed_amount") - pl.col("cost"), pl.col("costed_amount")
    )


def cost_coverage(inputs: KpiInputs) -> pl.DataFrame:
    """cost_coverage = net revenue of lines with a known cost / net revenue."""
    return _ratio(inputs, "cost_coverage", pl.col("costed_amount"), pl.col("amount"))


def discount_rate(inputs: KpiInputs) -> pl.DataFrame:
    """discount_rate = sum of line discounts / sum of quantity × unit_price, over lines
    with both (a discount, a quantity and a unit price)."""
    return _ratio(inputs, "discount_rate", pl.col("discount"), pl.col("gross_amount"))


def price_realisation(inputs: KpiInputs) -> pl.DataFrame:
    """price_realisation = net amount / (quantity × product list_price), over lines with
    a list price (and a quantity)."""
    return _ratio(inputs, "price_realisation", pl.col("listed_amount"), pl.col("list_value"))


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """All margin and price KPIs in the kpi_values format (``settings`` is not needed:
    ``gross_margin_default`` applies to ltv only, never to gross_margin)."""
    del settings
    return pl.concat(
        [
            gross_margin(inputs),
            cost_coverage(inputs),
            discount_rate(inputs),
            price_realisation(inputs),
        ]
    )
