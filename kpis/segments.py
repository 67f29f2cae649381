"""Customer segments as of a date (docs/architecture.md, ``kpi.customer_segments``).

One row per customer (the current ``dim_customer`` rows plus customers seen in orders),
as of the as-of date d, with W = ``churn_window_days``. "Within the last n days" means
within the n days ending on d, d included (day x qualifies when d - x < n), as for
"active on d".

``lifecycle_status``, the first that applies:

- ``prospect``: no purchase up to d;
- ``new``: first purchase within the last 90 days (d - first < 90);
- ``active``: active on d (d - last < W) and last purchase within the last ⌊W/2⌋ days;
- ``at_risk``: active on d and last purchase older than that;
- ``churned``: purchased before, not active on d.

``value_tier``: the customers with positive ``window_revenue`` (net revenue of their
orders that are not cancelled, dated within the W days ending on d; returns lower it)
are ranked by it, descending, ties by customer_id ascending. With S the revenue of the
customers ranked above a customer and T the total: ``vip`` if S < 50% of T, else
``key`` if S < 80% of T, else ``general``. Without positive window revenue: ``potential``
if the customer has an opportunity open on d (not closed, or closed after d), else
``none``.

``purchases`` counts the purchases within the same W-day window as ``window_revenue``;
``last_purchase_date`` is the last purchase up to d (null for prospects).
"""

from __future__ import annotations

import polars as pl

from kpis.customers import customer_attributes, purchases, revenue_orders
from kpis.inputs import KpiInputs
from schemas.config import KpiSettings

NEW_CUSTOMER_DAYS = 90
CUSTOMER_SEGMENTS_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "lifecycle_status": pl.String(),
    "value_tier": pl.String(),
    "window_revenue": pl.Float64(),
    "purchases": pl.Int64(),
    "last_purchase_date": pl.Date(),
    "as_of": pl.Date(),
}


def _days_before(as_of: pl.Expr, column: str) -> pl.Expr:
    """Whole days from the date in ``column`` to the as-of date."""
    return (as_of - pl.col(column)).dt.total_days()


def customer_segments(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """One row per customer: lifecycle_status, value_tier, window_revenue, purchases,
    last_purchase_date, as_of (definitions in the module docstring, from docs/architecture.md)."""
    window = settings.churn_window_days
    as_of = pl.lit(inputs.as_of, dtype=pl.Date)
    age = _days_before(as_of, "order_date")
    in_window = (age >= 0) & (age < window)

    bought = purchases(inputs.orders)
    history = bought.group_by("customer_id").agg(
        pl.col("order_date").min().alias("first_purchase_date"),
        pl.col("order_date").max().alias("last_purchase_date"),
        in_window.sum().cast(pl.Int64).alias("purchases"),
    )
    window_revenue = (
        revenue_orders(inputs.orders)
        .filter(pl.col("customer_id").is_not_null() & in_window)
        .group_by("customer_id")
        .agg(pl.col("net_amount").sum().alias("window_revenue"))
    )
    open_opportunity = inputs.opportunities.filter(
        pl.col("customer_id").is_not_null()
        & (
            ~pl.col("is_closed").fill_null(False)
            | (pl.col("close_date").cast(pl.Date) > inputs.as_of)
        )
    ).select(
        "customer_id",
        pl.lit(True).alias("has_open_opportunity"),
    )

    customers = (
        customer_attributes(inputs)
        .select("customer_id")
        .join(history, on="customer_id", how="left")
        .join(window_revenue, on="customer_id", how="left")
        .join(open_opportunity.unique(), on="customer_id", how="left")
        .with_columns(
            pl.col("purchases").fill_null(0),
            pl.col("window_revenue").fill_null(0.0),
            pl.col("has_open_opportunity").fill_null(False),
        )
    )

    since_last = _days_before(as_of, "last_purchase_date")
    active = since_last < window
    lifecycle = (
        pl.when(pl.col("first_purchase_date").is_null())
        .then(pl.lit("prospect"))
        .when(_days_before(as_of, "first_purchase_date") < NEW_CUSTOMER_DAYS)
        .then(pl.lit("new"))
        .when(active & (since_last < window // 2))
        .then(pl.lit("active"))
        .when(active)
        .then(pl.lit("at_risk"))
        .otherwise(pl.lit("churned"))
    )

    ranked = (
        customers.filter(pl.col("window_revenue") > 0)
        .sort(["window_revenue", "customer_id"], descending=[True, False])
        .select(
            "customer_id",
            (pl.col("window_revenue").cum_sum() - pl.col("window_revenue")).alias("above"),
            pl.col("window_revenue").sum().alias("total"),
        )
        .select(
            "customer_id",
            pl.when(pl.col("above") * 2 < pl.col("total"))
            .then(pl.lit("vip"))
            .when(pl.col("above") * 5 < pl.col("total") * 4)
            .then(pl.lit("key"))
            .otherwise(pl.lit("general"))
            .alias("ranked_tier"),
        )
    )
    value_tier = (
        pl.when(pl.col("ranked_tier").is_not_null())
        .then(pl.col("ranked_tier"))
        .when(pl.col("has_open_opportunity"))
        .then(pl.lit("potential"))
        .otherwise(pl.lit("none"))
    )

    return inputs.with_customer_ids(  # the ids of the customers' keys (KpiInputs)
        customers.join(ranked, on="customer_id", how="left")
        .select(
            pl.col("customer_id"),
            lifecycle.alias("lifecycle_status"),
            value_tier.alias("value_tier"),
            pl.col("window_revenue"),
            pl.col("purchases"),
            pl.col("last_purchase_date"),
            as_of.alias("as_of"),
        )
    ).cast(CUSTOMER_SEGMENTS_SCHEMA).sort("customer_id")  # type: ignore[arg-type]
