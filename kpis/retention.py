"""Revenue retention (docs/kpis.md): gross_revenue_retention, net_revenue_retention.

Over the customers with positive revenue in the previous period of the same grain (the
base), with r_prev and r_cur a base customer's revenue in the previous and this period:

    net_revenue_retention   = sum(r_cur) / sum(r_prev)
    gross_revenue_retention = sum(min(max(r_cur, 0), r_prev)) / sum(r_prev)

Revenue is the net amount of the customer's orders that are not cancelled, by order
date (returns lower it; a base customer without orders in this period has r_cur = 0).
Expansion and new customers never raise GRR; only base customers count for NRR.
The open period (containing the as-of date, which is not its last day) compares like
with like: its revenue to date against the previous period *to the same day* (from its
start through the as-of date moved back one period), and the base is the customers with
positive revenue in those days. The first period of the data has no base
(value null). Grains month, quarter, year; dimensions segment, country and channel
(the customer's acquisition channel) from dim_customer. Orders without a customer id
are left out.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.customers import (
    GROUP_KEYS,
    PERIOD_KEYS,
    customer_attributes,
    densify,
    dimension_values,
    revenue_orders,
)
from kpis.inputs import KpiInputs
from kpis.periods import (
    Grain,
    next_period_start,
    period_grid,
    period_start,
    previous_to_date,
)
from kpis.registry import REGISTRY
from kpis.values import empty_kpi_values, safe_ratio, to_kpi_values, with_dimensions
from schemas.config import KpiSettings

#: a customer's revenue in a period counts as positive when it exceeds this fraction of
#: the sum of its orders' absolute amounts (float sums of amounts that cancel out are
#: not exactly 0)
POSITIVE_TOLERANCE = 1e-9
RETENTION_GRAINS: tuple[Grain, ...] = ("month", "quarter", "year")
RETENTION_DIMENSIONS: dict[str, str] = {
    "segment": "segment",
    "country": "country",
    "channel": "channel",
}


def _per_customer_period(revenue: pl.LazyFrame, grain: Grain) -> pl.LazyFrame:
    return (
        revenue.with_columns(period_start("order_date", grain).alias("period_start"))
        .group_by("customer", "period_start")
        .agg(
            pl.col("net_amount").sum().alias("revenue"),
            pl.col("net_amount").abs().sum().alias("turnover"),
        )
    )


def _base_revenue(
    revenue: pl.DataFrame, grid: pl.DataFrame, grain: Grain, as_of: dt.date
) -> pl.DataFrame:
    """Per period of ``grid`` and base customer: prev_revenue, revenue, retained_revenue.

    The open period (containing as_of, as_of not its last day) has its base in the
    previous period to the same day: from its start through as_of moved back one period
    (``periods.previous_to_date``), and prev_revenue is the revenue of those days."""
    per_period = _per_customer_period(revenue.lazy(), grain)
    previous = per_period
    open_periods = grid.filter(
        (pl.col("period_start") <= as_of) & (pl.col("period_end") > as_of + dt.timedelta(days=1))
    )
    if open_periods.height:
        cutoff = previous_to_date(as_of, grain)
        previous_start = period_start(pl.lit(cutoff, dtype=pl.Date), grain)
        to_same_day = revenue.lazy().filter(
            (pl.col("order_date") >= previous_start) & (pl.col("order_date") <= cutoff)
        )
        previous = pl.concat(
            [
                per_period.filter(pl.col("period_start") != previous_start),
                _per_customer_period(to_same_day, grain),
            ]
        )
    # positive beyond rounding: orders and returns that cancel out sum to ±1e-14 or so,
    # depending on the order of the additions, and such a customer is not in the base
    positive = pl.col("revenue") > POSITIVE_TOLERANCE * pl.col("turnover")
    base = previous.filter(positive).select(
        "customer",
        next_period_start(pl.col("period_start"), grain).alias("period_start"),
        pl.col("revenue").alias("prev_revenue"),
    )
    return (
        base.join(per_period, on=["customer", "period_start"], how="left")
        .join(grid.lazy(), on="period_start")
        .with_columns(pl.col("revenue").fill_null(0.0))
        .with_columns(
            pl.min_horizontal(
                pl.max_horizontal(pl.col("revenue"), pl.lit(0.0)),
                pl.col("prev_revenue"),
            ).alias("retained_revenue")
        )
        .collect()
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """kpi_values rows of gross_revenue_retention and net_revenue_retention.

    Over customers with positive revenue in the previous period of the same grain:
    their revenue in this period (for GRR capped per customer at the previous value
    and floored at 0) / their revenue in the previous period.
    """
    del settings  # no setting applies to revenue retention
    revenue = revenue_orders(inputs.orders).filter(pl.col("customer_id").is_not_null())
    if revenue.height == 0:
        return empty_kpi_values()
    first_day = revenue["order_date"].min()
    assert isinstance(first_day, dt.date)
    grids = {grain: period_grid(first_day, inputs.as_of, grain) for grain in RETENTION_GRAINS}
    # customers numbered once: grouping and joining on an integer is cheaper than on text
    attributes = customer_attributes(inputs).with_row_index("customer")
    revenue = revenue.join(attributes.select("customer_id", "customer"), on="customer_id").select(
        "customer", "order_date", "net_amount"
    )

    # summed per grain, period and combination of the customer's dimension values; only
    # the dimension columns are joined (not the text ids), and the grain is added to the
    # few summed rows instead of being a text key of the millions of base rows
    dimension_columns = attributes.lazy().select("customer", *RETENTION_DIMENSIONS.values())
    combos = pl.concat(
        pl.collect_all(
            [
                _base_revenue(revenue, grids[grain], grain, inputs.as_of)
                .lazy()
                .join(dimension_columns, on="customer", how="left")
                .group_by("period_start", "period_end", *RETENTION_DIMENSIONS.values())
                .agg(pl.col("prev_revenue", "revenue", "retained_revenue").sum())
                .select(
                    pl.lit(grain, dtype=pl.String).alias("grain"),
                    pl.exclude("grain"),
                )
                for grain in RETENTION_GRAINS
            ]
        )
    )
    sums = (
        with_dimensions(combos, RETENTION_DIMENSIONS)
        .group_by(GROUP_KEYS)
        .agg(pl.col("prev_revenue", "revenue", "retained_revenue").sum())
    )
    first_orders = revenue.group_by("customer").agg(pl.col("order_date").min())
    dims = dimension_values(
        attributes.join(first_orders, on="customer"), RETENTION_DIMENSIONS, "order_date"
    )
    table = densify(pl.concat(grids.values()).select(PERIOD_KEYS), dims, [sums])
    return pl.concat(
        [
            to_kpi_values(
                table.with_columns(
                    safe_ratio(pl.col("retained_revenue"), pl.col("prev_revenue")).alias("value")
                ),
                kpi="gross_revenue_retention",
                unit=REGISTRY["gross_revenue_retention"].unit,
                as_of=inputs.as_of,
                numerator="retained_revenue",
                denominator="prev_revenue",
            ),
            to_kpi_values(
                table.with_columns(
                    safe_ratio(pl.col("revenue"), pl.col("prev_revenue")).alias("value")
                ),
                kpi="net_revenue_retention",
                unit=REGISTRY["net_revenue_retention"].unit,
                as_of=inputs.as_of,
                numerator="revenue",
                denominator="prev_revenue",
            ),
        ]
    ).sort(["kpi", *GROUP_KEYS])
