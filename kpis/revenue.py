"""Revenue KPIs (docs/kpis.md): revenue, aov, revenue_growth, repeat_purchase_rate.

Revenue is the sum of the net order-line amounts (``fct_order_lines.amount``, in the
reporting currency) of the orders that are not cancelled, by order date; returns
(negative lines or orders) lower it. A purchase is an order that is not cancelled and
whose net amount is positive (``fct_orders.is_purchase``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import polars as pl

from kpis.inputs import ORDER_DIMENSIONS, KpiInputs
from kpis.periods import (
    CALENDAR_GRAINS,
    GRAINS,
    PERIOD_STEP,
    WEEK,
    Grain,
    aggregate_by_period,
    grouping_value,
    shift_date,
    sum_by_period,
)
from kpis.values import UNKNOWN, safe_ratio, to_kpi_values
from schemas.config import KpiSettings

#: dimension name -> fct_order_lines column
LINE_DIMENSIONS: dict[str, str] = {"product_category": "product_category"}
#: the dimensions of revenue: the order's plus the line's product category
REVENUE_DIMENSIONS: dict[str, str] = {**ORDER_DIMENSIONS, **LINE_DIMENSIONS}
#: dimensions of a customer (the same on all its orders)
CUSTOMER_DIMENSIONS: dict[str, str] = {"segment": "segment", "country": "country"}


def has_weekly_targets(inputs: KpiInputs) -> bool:
    """Whether a target has grain ``week``: then revenue, bookings and the target KPIs
    have a ``week`` grain too (docs/kpis.md)."""
    return inputs.targets.height > 0 and bool(
        (inputs.targets.get_column("grain") == WEEK).any()
    )


def revenue_grains(inputs: KpiInputs) -> tuple[Grain, ...]:
    """The grains of revenue: month, quarter, year, all, and week with weekly targets."""
    return (WEEK, *GRAINS) if has_weekly_targets(inputs) else GRAINS


def revenue_by_period(inputs: KpiInputs) -> pl.DataFrame:
    """Revenue per period of every grain (``revenue_grains``) and per dimension value of
    ``REVENUE_DIMENSIONS`` (column ``revenue``), 0 for periods without orders. Computed
    once per inputs (revenue, revenue_growth and the target KPIs share it).

    The revenue lines come summed (``LineTotals``): per day and value of each of the
    order's dimensions (and per day for ``all``), per day and product category for the
    line's category. Sums add up, so this is the sum of the lines with fewer rows to
    group.
    """

    grains = revenue_grains(inputs)

    def compute() -> pl.DataFrame:
        total = [pl.col("amount").sum().alias("revenue")]
        by_day = inputs.lines.revenue_by_day
        by_order = pl.concat(
            [
                aggregate_by_period(  # dimension ``all`` only
                    by_day.filter(pl.col("dimension") == "all"),
                    date="order_date",
                    aggs=total,
                    dimensions={},
                    as_of=inputs.as_of,
                    grains=grains,
                )
            ]
            + [  # every day's lines are in each dimension's rows, as in ``all``'s
                aggregate_by_period(
                    by_day.filter(pl.col("dimension") == name),
                    date="order_date",
                    aggs=total,
                    dimensions={name: "dimension_value"},
                    as_of=inputs.as_of,
                    grains=grains,
                ).filter(pl.col("dimension") == name)
                for name in ORDER_DIMENSIONS
            ]
        )
        by_category = aggregate_by_period(
            inputs.lines.revenue_by_category,
            date="order_date",
            aggs=total,
            dimensions=LINE_DIMENSIONS,
            as_of=inputs.as_of,
            grains=grains,
        ).filter(pl.col("dimension") != "all")  # the same totals as by_order's
        return pl.concat([by_order, by_category])

    return inputs.shared("revenue_by_period", compute)


def revenue(inputs: KpiInputs) -> pl.DataFrame:
    """revenue = sum of net order-line amount in the period.

    Lines of orders that are not cancelled, by order date; returns lower it. Dimensions
    region, team, rep, channel, segment, country (the order's) and product_category (the
    line's product's).
    """
    return to_kpi_values(
        revenue_by_period(inputs),
        kpi="revenue",
        unit="currency",
        as_of=inputs.as_of,
        value="revenue",
    )


def aov(inputs: KpiInputs) -> pl.DataFrame:
    """aov = revenue / number of purchases in the period.

    Revenue as for ``revenue`` (returns included), here summed from ``fct_orders.net_amount``
    (the sum of the order's lines); purchases = orders not cancelled with a positive net
    amount. Null where there is no purchase. Dimensions of the order (an order has no
    single product category).
    """
    orders = inputs.orders.filter(~pl.col("is_cancelled").fill_null(False))
    totals = sum_by_period(
        orders,
        date="order_date",
        sums={
            "revenue": pl.col("net_amount"),
            "purchases": pl.col("is_purchase").fill_null(False).cast(pl.Int64),
        },
        dimensions=ORDER_DIMENSIONS,
        as_of=inputs.as_of,
    ).with_columns(safe_ratio(pl.col("revenue"), pl.col("purchases")).alias("aov"))
    return to_kpi_values(
        totals,
        kpi="aov",
        unit="currency",
        as_of=inputs.as_of,
        value="aov",
        numerator="revenue",
        denominator="purchases",
    )


def daily_revenue(inputs: KpiInputs) -> pl.DataFrame:
    """Revenue per day and dimension value of ``REVENUE_DIMENSIONS`` (and per day for
    ``all``): order_date, dimension, dimension_value (text, missing is ``unknown``),
    amount. The same lines as :func:`revenue_by_period`, not yet summed per period."""

    def compute() -> pl.DataFrame:
        by_order = inputs.lines.revenue_by_day.select(
            pl.col("order_date").cast(pl.Date),
            pl.col("dimension").cast(pl.String),
            pl.col("dimension_value").cast(pl.String).fill_null(UNKNOWN),
            pl.col("amount").cast(pl.Float64),
        )
        by_category = inputs.lines.revenue_by_category.select(
            pl.col("order_date").cast(pl.Date),
            pl.lit("product_category", dtype=pl.String).alias("dimension"),
            pl.col("product_category").cast(pl.String).fill_null(UNKNOWN).alias("dimension_value"),
            pl.col("amount").cast(pl.Float64),
        )
        return pl.concat([by_order, by_category])

    return inputs.shared("daily_revenue", compute)


def revenue_between(inputs: KpiInputs, first: dt.date, last: dt.date) -> pl.DataFrame:
    """Revenue from ``first`` through ``last`` (both included) per dimension value:
    dimension, dimension_value, revenue (values without revenue in the window have no
    row)."""
    return (
        daily_revenue(inputs)
        .filter(pl.col("order_date").is_between(first, last))
        .group_by("dimension", "dimension_value")
        .agg(pl.col("amount").sum().alias("revenue"))
    )


def revenue_against_earlier(
    inputs: KpiInputs, grains: Sequence[Grain], step: Callable[[Grain], str]
) -> pl.DataFrame:
    """Each period's revenue (``revenue_by_period``) beside the revenue of the earlier
    period that starts ``step(grain)`` before it (``-1mo``, ``-1y``): columns of
    revenue_by_period plus ``earlier_revenue`` and ``is_partial``.

    The open period (containing as_of, as_of not its last day: ``periods.is_partial``)
    holds its revenue to date; it is compared with the earlier period **to the same
    day**: from the earlier period's start through as_of moved by the same step
    (``periods.shift_date``: 2024-02-29 - 1y = 2023-02-28). ``earlier_revenue`` is null
    where the earlier period is before the data's first period (or the dimension
    value's), 0 where it had no revenue.
    """
    totals = revenue_by_period(inputs)
    keys = ["grain", "dimension", "dimension_value"]
    parts = []
    for grain in grains:
        current = totals.filter(pl.col("grain") == grain)
        earlier = current.select(
            *keys,
            pl.col("period_start").alias("earlier_start"),
            pl.col("revenue").alias("earlier_revenue"),
        )
        joined = current.with_columns(
            pl.col("period_start").dt.offset_by(step(grain)).alias("earlier_start"),
            (
                (pl.col("period_start") <= inputs.as_of)
                & (pl.col("period_end") > inputs.as_of + dt.timedelta(days=1))
            ).alias("is_partial"),
        ).join(earlier, on=[*keys, "earlier_start"], how="left")
        open_rows = joined.filter(pl.col("is_partial"))
        if open_rows.height:
            first = open_rows.get_column("earlier_start")[0]
            to_date = revenue_between(
                inputs, first, shift_date(inputs.as_of, step(grain))
            ).rename({"revenue": "to_date"})
            joined = (
                joined.join(to_date, on=["dimension", "dimension_value"], how="left")
                .with_columns(
                    pl.when(pl.col("is_partial") & pl.col("earlier_revenue").is_not_null())
                    .then(pl.col("to_date").fill_null(0.0))
                    .otherwise(pl.col("earlier_revenue"))
                    .alias("earlier_revenue")
                )
                .drop("to_date")
            )
        parts.append(joined)
    return pl.concat(parts)


def revenue_growth(inputs: KpiInputs) -> pl.DataFrame:
    """revenue_growth = revenue / revenue of the previous period − 1.

    MoM for months, QoQ for quarters, YoY for years (no grain ``all``); the previous
    period is the preceding calendar period of the same grain. The open period (to
    date) is compared with the previous period to the same day: Q4 to 15 November
    against Q3 to 15 August (``revenue_against_earlier``). Null where the previous
    revenue is 0 or unknown (the first period of the data, or of a dimension value).
    numerator = this period's revenue, denominator = the previous period's.
    """
    growth = revenue_against_earlier(
        inputs, CALENDAR_GRAINS, lambda grain: f"-{PERIOD_STEP[grain]}"
    ).with_columns(
        (safe_ratio(pl.col("revenue"), pl.col("earlier_revenue")) - 1).alias("growth")
    )
    return to_kpi_values(
        growth,
        kpi="revenue_growth",
        unit="ratio",
        as_of=inputs.as_of,
        value="growth",
        numerator="revenue",
        denominator="earlier_revenue",
    )


#: grain -> the period of a month index (year * 12 + month - 1) as an integer
_PERIOD_OF_MONTH: dict[Grain, Callable[[pl.Expr], pl.Expr]] = {
    "month": lambda month: month,
    "quarter": lambda month: month // 3,
    "year": lambda month: month // 12,
    "all": lambda month: pl.lit(0, dtype=pl.Int32),
}


def buyer_counts(
    purchases: pl.DataFrame,
    *,
    customer: str,
    date: str,
    dimensions: Mapping[str, str],
    as_of: dt.date,
    grains: Sequence[Grain] = GRAINS,
) -> pl.DataFrame:
    """buyers = distinct ``customer`` values with a row in the period and dimension
    value, repeaters = those with two rows or more (``periods.aggregate_by_period``'s
    rows: every grain, dimension ``all`` and one per entry of ``dimensions``, 0 where
    nobody bought; both as Float64).

    The same counts as ``n_unique()`` and ``(unique_counts() >= 2).sum()`` per group,
    without hashing the customers once per grouping: the rows are sorted once per
    dimension (by customer, dimension value, month), so that each customer's rows in a
    period and dimension value are adjacent; a row whose (customer, value, period)
    differs from the previous row's is the customer's first in the group (a buyer), one
    equal to the previous row's but not to the one before it its second (a repeater).
    The flags are summed per day and value, then per period (sums of sums).
    """
    day = pl.col(date).cast(pl.Date)
    rows = purchases.filter(day.is_null() | (day <= as_of))
    earliest = rows.select(day.min()).item()
    first_day = earliest if earliest is not None else as_of
    rows = rows.filter(day.is_null() | (day >= first_day)).select(
        customer,
        day.alias(date),
        (day.dt.year().cast(pl.Int32) * 12 + day.dt.month().cast(pl.Int32) - 1).alias("_month"),
        *(
            grouping_value(column, rows.schema[column]).alias(column)
            for column in sorted(set(dimensions.values()))
        ),
    )
    parts = []
    for name, column in {"all": None, **dimensions}.items():
        value = pl.lit("all", dtype=pl.String) if column is None else pl.col(column)
        ordered = rows.select(customer, date, "_month", value.alias("_value")).sort(
            customer, pl.col("_value").to_physical(), "_month", nulls_last=False
        )

        def same(expr: pl.Expr, lag: int) -> pl.Expr:
            return expr.eq_missing(expr.shift(lag))

        flags = []
        for grain in grains:
            key = [pl.col(customer), pl.col("_value"), _PERIOD_OF_MONTH[grain](pl.col("_month"))]
            if grain == "all":  # one period: a literal does not shift
                key = key[:2]
            previous = pl.all_horizontal(same(k, 1) for k in key)
            second_previous = pl.all_horizontal(same(k, 2) for k in key)
            flags += [
                (~previous).alias(f"_first_{grain}"),
                (previous & ~second_previous).alias(f"_second_{grain}"),
            ]
        names = [flag.meta.output_name() for flag in flags]
        by_day = (
            ordered.lazy()
            .with_columns(flags)
            .group_by(date, "_value")
            .agg(pl.col(names).sum())
            .collect()
        )
        for grain in grains:
            totals = aggregate_by_period(
                by_day,
                date=date,
                aggs=[
                    pl.col(f"_first_{grain}").sum().cast(pl.Float64).alias("buyers"),
                    pl.col(f"_second_{grain}").sum().cast(pl.Float64).alias("repeaters"),
                ],
                dimensions={} if column is None else {name: "_value"},
                as_of=as_of,
                first_day=first_day,
                grains=(grain,),
            )
            parts.append(totals.filter(pl.col("dimension") == name))
    return pl.concat(parts)


def repeat_purchase_rate(inputs: KpiInputs) -> pl.DataFrame:
    """repeat_purchase_rate = customers with ≥ 2 purchases / customers with ≥ 1 purchase,
    in the period.

    Purchases of orders with a customer_id; dimensions segment and country of the
    customer. Null where nobody bought.
    """
    purchases = inputs.orders.filter(
        pl.col("is_purchase").fill_null(False) & pl.col("customer_id").is_not_null()
    )
    # an integer per customer (the customer's key from a warehouse: KpiInputs.customer_ids):
    # sorting and comparing it is much cheaper than the text id
    customer = pl.col("customer_id")
    if not purchases.schema["customer_id"].is_integer():
        customer = customer.cast(pl.Categorical).to_physical()
    rates = buyer_counts(
        purchases.with_columns(customer.alias("customer")),
        customer="customer",
        date="order_date",
        dimensions=CUSTOMER_DIMENSIONS,
        as_of=inputs.as_of,
    ).with_columns(safe_ratio(pl.col("repeaters"), pl.col("buyers")).alias("rate"))
    return to_kpi_values(
        rates,
        kpi="repeat_purchase_rate",
        unit="ratio",
        as_of=inputs.as_of,
        value="rate",
        numerator="repeaters",
        denominator="buyers",
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """All revenue KPIs in the kpi_values format (``settings`` is not needed here)."""
    del settings
    return pl.concat(
        [
            revenue(inputs),
            aov(inputs),
            revenue_growth(inputs),
            repeat_purchase_rate(inputs),
        ]
    )
