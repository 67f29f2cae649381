"""Revenue KPIs (SPEC §6): revenue, aov, revenue_growth, repeat_purchase_rate.

Revenue is the sum of the net order-line amounts (``fct_order_lines.amount``, in the
reporting currency) of the orders that are not cancelled, by order date; returns
(negative lines or orders) lower it. A purchase is an order that is not cancelled and
whose net amount is positive (``fct_orders.is_purchase``).
"""

from __future__ import annotations

import polars as pl

from kpis.inputs import KpiInputs
from kpis.periods import CALENDAR_GRAINS, aggregate_by_period, previous_period_start
from kpis.values import empty_kpi_values, safe_ratio, to_kpi_values
from schemas.config import KpiSettings

#: dimension name -> fct_orders column
ORDER_DIMENSIONS: dict[str, str] = {
    "region": "region",
    "team": "team",
    "rep": "rep_id",
    "channel": "channel",
    "segment": "segment",
    "country": "country",
}
#: the order dimensions plus the line's product category
REVENUE_DIMENSIONS: dict[str, str] = {
    **ORDER_DIMENSIONS,
    "product_category": "product_category",
}
#: dimensions of a customer (the same on all its orders)
CUSTOMER_DIMENSIONS: dict[str, str] = {"segment": "segment", "country": "country"}


def revenue_lines(orders: pl.DataFrame, order_lines: pl.DataFrame) -> pl.DataFrame:
    """The order lines that count as revenue, with their order's dimensions.

    Lines of cancelled orders are left out (by the line's or the order's flag).
    """
    order_columns = orders.select(
        "order_id",
        pl.col("is_cancelled").alias("order_is_cancelled"),
        *(column for column in ORDER_DIMENSIONS.values()),
    )
    return (
        order_lines.join(order_columns, on="order_id", how="left")
        .filter(
            ~pl.col("is_cancelled").fill_null(False)
            & ~pl.col("order_is_cancelled").fill_null(False)
        )
        .select("order_date", "amount", *REVENUE_DIMENSIONS.values())
    )


def revenue_by_period(
    inputs: KpiInputs, dimensions: dict[str, str] | None = None
) -> pl.DataFrame:
    """Revenue per period of every grain and per dimension value (column ``revenue``),
    0 for periods without orders."""
    return aggregate_by_period(
        revenue_lines(inputs.orders, inputs.order_lines),
        date="order_date",
        aggs=[pl.col("amount").sum().alias("revenue")],
        dimensions=REVENUE_DIMENSIONS if dimensions is None else dimensions,
        as_of=inputs.as_of,
    )


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
    customer = pl.col("customer_id")
    rates = aggregate_by_period(
        purchases,
        date="order_date",
        aggs=[
            customer.n_unique().cast(pl.Float64).alias("buyers"),
            (customer.is_duplicated() & customer.is_first_distinct())
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
