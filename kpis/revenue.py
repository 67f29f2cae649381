"""Revenue KPIs (SPEC §6): revenue, aov, revenue_growth, repeat_purchase_rate.

Revenue is the sum of the net order-line amounts (``fct_order_lines.amount``, in the
reporting currency) of the orders that are not cancelled, by order date; returns
(negative lines or orders) lower it. A purchase is an order that is not cancelled and
whose net amount is positive (``fct_orders.is_purchase``).
"""

from __future__ import annotations

import polars as pl

from kpis.inputs import ORDER_DIMENSIONS, KpiInputs
from kpis.periods import CALENDAR_GRAINS, aggregate_by_period, previous_period_start
from kpis.values import empty_kpi_values, safe_ratio, to_kpi_values
from schemas.config import KpiSettings

#: dimension name -> fct_order_lines column
LINE_DIMENSIONS: dict[str, str] = {"product_category": "product_category"}
#: the dimensions of revenue: the order's plus the line's product category
REVENUE_DIMENSIONS: dict[str, str] = {**ORDER_DIMENSIONS, **LINE_DIMENSIONS}
#: dimensions of a customer (the same on all its orders)
CUSTOMER_DIMENSIONS: dict[str, str] = {"segment": "segment", "country": "country"}


def revenue_by_period(inputs: KpiInputs) -> pl.DataFrame:
    """Revenue per period of every grain and per dimension value of
    ``REVENUE_DIMENSIONS`` (column ``revenue``), 0 for periods without orders. Computed
    once per inputs (revenue, revenue_growth and the target KPIs share it).

    The revenue lines come summed (``LineTotals``): per day and value of each of the
    order's dimensions (and per day for ``all``), per day and product category for the
    line's category. Sums add up, so this is the sum of the lines with fewer rows to
    group.
    """

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
                )
            ]
            + [  # every day's lines are in each dimension's rows, as in ``all``'s
                aggregate_by_period(
                    by_day.filter(pl.col("dimension") == name),
                    date="order_date",
                    aggs=total,
                    dimensions={name: "dimension_value"},
                    as_of=inputs.as_of,
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
    totals = aggregate_by_period(
        orders,
        date="order_date",
        aggs=[
            pl.col("net_amount").sum().alias("revenue"),
            pl.col("is_purchase").fill_null(False).sum().alias("purchases"),
        ],
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


def revenue_growth(inputs: KpiInputs) -> pl.DataFrame:
    """revenue_growth = revenue / revenue of the previous period − 1.

    MoM for months, QoQ for quarters, YoY for years (no grain ``all``); the previous
    period is the preceding calendar period of the same grain. Null where the previous
    revenue is 0 or unknown (the first period of the data, or of a dimension value).
    numerator = this period's revenue, denominator = the previous period's.
    """
    parts = []
    totals = revenue_by_period(inputs)
    keys = ["grain", "dimension", "dimension_value"]
    for grain in CALENDAR_GRAINS:
        current = totals.filter(pl.col("grain") == grain)
        previous = current.select(
            *keys,
            pl.col("period_start").alias("previous_start"),
            pl.col("revenue").alias("previous_revenue"),
        )
        parts.append(
            current.with_columns(
                previous_period_start(pl.col("period_start"), grain).alias(
                    "previous_start"
                )
            ).join(previous, on=[*keys, "previous_start"], how="left")
        )
    if not parts:
        return empty_kpi_values()
    growth = pl.concat(parts).with_columns(
        (safe_ratio(pl.col("revenue"), pl.col("previous_revenue")) - 1).alias("growth")
    )
    return to_kpi_values(
        growth,
        kpi="revenue_growth",
        unit="ratio",
        as_of=inputs.as_of,
        value="growth",
        numerator="revenue",
        denominator="previous_revenue",
    )


def repeat_purchase_rate(inputs: KpiInputs) -> pl.DataFrame:
    """repeat_purchase_rate = customers with ≥ 2 purchases / customers with ≥ 1 purchase,
    in the period.

    Purchases of orders with a customer_id; dimensions segment and country of the
    customer. Null where nobody bought.
    """
    purchases = inputs.orders.filter(
        pl.col("is_purchase").fill_null(False) & pl.col("customer_id").is_not_null()
    )
    # an integer per customer: counting on it is much cheaper than on the text id
    customer = pl.col("customer_id").cast(pl.Categorical).to_physical()
    rates = aggregate_by_period(
        purchases.with_columns(customer.alias("customer")),
        date="order_date",
        aggs=[
            pl.col("customer").n_unique().cast(pl.Float64).alias("buyers"),
            (pl.col("customer").unique_counts() >= 2)
            .sum()
            .cast(pl.Float64)
            .alias("repeaters"),
        ],
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
