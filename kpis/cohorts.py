"""Monthly acquisition cohorts (``kpi.cohort_retention``).

A customer's cohort is the month of its first purchase (docs/kpis.md: purchase = order not
cancelled with a positive net amount). For each cohort and each month since (0 = the
cohort month, up to the month of the as-of date):

    customers      = distinct customers of the cohort with a purchase in that month
    cohort_size    = customers of the cohort
    retention_rate = customers / cohort_size
    revenue        = net revenue of the cohort's customers in that month, over all their
                     orders that are not cancelled (a return lowers it, even from a
                     customer without a purchase that month)

Dense: every cohort has a row for every month from its first to the as-of month (0
customers where nobody bought). Orders without a customer id are left out.
"""

from __future__ import annotations

import polars as pl

from kpis.customers import first_purchase_dates, revenue_orders
from kpis.inputs import KpiInputs
from schemas.config import KpiSettings

COHORT_RETENTION_SCHEMA: dict[str, pl.DataType] = {
    "cohort_month": pl.Date(),
    "months_since": pl.Int64(),
    "customers": pl.Int64(),
    "cohort_size": pl.Int64(),
    "retention_rate": pl.Float64(),
    "revenue": pl.Float64(),
    "as_of": pl.Date(),
}


def _month_index(column: str) -> pl.Expr:
    """Months since year 0 of the date in ``column`` (to subtract months)."""
    return pl.col(column).dt.year().cast(pl.Int64) * 12 + pl.col(column).dt.month().cast(pl.Int64)


def cohort_retention(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """Per cohort_month and months_since: customers, cohort_size,
    retention_rate = customers / cohort_size, revenue, as_of."""
    del settings  # no setting applies to cohorts
    # the orders summed per customer and month once: revenue, and whether the customer
    # bought (a purchase: net amount > 0) that month
    monthly = (
        revenue_orders(inputs.orders)
        .lazy()
        .filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id", pl.col("order_date").dt.truncate("1mo").alias("month"))
        .agg(
            pl.col("net_amount").sum().alias("revenue"),
            (pl.col("net_amount") > 0).any().alias("bought"),
        )
        .collect()
    )
    if not monthly["bought"].any():
        return pl.DataFrame(schema=COHORT_RETENTION_SCHEMA)
    # there are purchases, so these are the first purchases' dates
    cohorts = first_purchase_dates(inputs).select(
        "customer_id", pl.col("first_date").dt.truncate("1mo").alias("cohort_month")
    )
    sizes = cohorts.group_by("cohort_month").agg(pl.len().cast(pl.Int64).alias("cohort_size"))
    as_of_month = pl.lit(inputs.as_of, dtype=pl.Date).dt.truncate("1mo")
    grid = (
        sizes.with_columns(
            pl.date_ranges(pl.col("cohort_month"), as_of_month, interval="1mo").alias("month")
        )
        .explode("month")
        .with_columns((_month_index("month") - _month_index("cohort_month")).alias("months_since"))
    )
    # a customer's months are distinct: its months with a purchase count it once
    totals = (
        monthly.lazy()
        .join(cohorts.lazy(), on="customer_id")
        .group_by("cohort_month", "month")
        .agg(
            pl.col("bought").sum().cast(pl.Int64).alias("customers"),
            pl.col("revenue").sum(),
        )
    )
    return (
        grid.lazy()
        .join(totals, on=["cohort_month", "month"], how="left")
        .select(
            "cohort_month",
            "months_since",
            pl.col("customers").fill_null(0),
            "cohort_size",
            (pl.col("customers").fill_null(0) / pl.col("cohort_size")).alias("retention_rate"),
            pl.col("revenue").fill_null(0.0),
            pl.lit(inputs.as_of, dtype=pl.Date).alias("as_of"),
        )
        .collect()
        .cast(COHORT_RETENTION_SCHEMA)  # type: ignore[arg-type]
        .sort("cohort_month", "months_since")
    )
