"""Sales cycle KPIs (docs/kpis.md): sales_cycle_days (median), sales_cycle_days_mean,
sales_cycle_days_p90, lead_to_close_days (median).

All on the opportunities won in the period (close date in the period, up to as_of).
Durations are whole days between dates (close date − creation date; a deal won on the
day it was created took 0 days). The p90 interpolates linearly between the two nearest
ranks (numpy's default, ``quantile(0.9, "linear")``): of 0, 10, 20, …, 100 days it is 90.
Periods without a won opportunity (with the dates needed) have no row.
"""

from __future__ import annotations

import polars as pl

from kpis.funnel import OPPORTUNITY_DIMENSIONS, won_opportunities
from kpis.inputs import KpiInputs
from kpis.periods import aggregate_by_period
from kpis.values import to_kpi_values
from schemas.config import KpiSettings


def _days(later: str, earlier: str) -> pl.Expr:
    return (pl.col(later).cast(pl.Date) - pl.col(earlier).cast(pl.Date)).dt.total_days()


def _duration_stats(
    frame: pl.DataFrame, inputs: KpiInputs, stats: dict[str, pl.Expr]
) -> pl.DataFrame:
    return aggregate_by_period(
        frame.filter(pl.col("days").is_not_null()),
        date="close_date",
        aggs=[expr.cast(pl.Float64).alias(kpi) for kpi, expr in stats.items()],
        dimensions=OPPORTUNITY_DIMENSIONS,
        as_of=inputs.as_of,
        fill_gaps=False,
    )


def sales_cycle(inputs: KpiInputs) -> pl.DataFrame:
    """sales_cycle_days: for opportunities won in the period, close_date − created_at in
    days; value is the median. sales_cycle_days_mean is the mean, sales_cycle_days_p90
    the 90th percentile (linear interpolation)."""
    won = won_opportunities(inputs.opportunities, inputs.as_of).with_columns(
        _days("close_date", "created_at").alias("days")
    )
    days = pl.col("days")
    stats = _duration_stats(
        won,
        inputs,
        {
            "sales_cycle_days": days.median(),
            "sales_cycle_days_mean": days.mean(),
            "sales_cycle_days_p90": days.quantile(0.9, interpolation="linear"),
        },
    )
    return pl.concat(
        to_kpi_values(stats, kpi=kpi, unit="days", as_of=inputs.as_of, value=kpi)
        for kpi in ("sales_cycle_days", "sales_cycle_days_mean", "sales_cycle_days_p90")
    )


def lead_to_close_days(inputs: KpiInputs) -> pl.DataFrame:
    """lead_to_close_days: for won opportunities with a lead, close date − lead
    created_at, median.

    The lead is the opportunity's ``lead_id``, else the (earliest) lead whose
    ``converted_opportunity_id`` is the opportunity.
    """
    by_lead_id = inputs.leads.select("lead_id", pl.col("created_at").alias("lead_created_at"))
    by_conversion = (
        inputs.leads.filter(pl.col("converted_opportunity_id").is_not_null())
        .group_by(pl.col("converted_opportunity_id").alias("opportunity_id"))
        .agg(pl.col("created_at").min().alias("converting_lead_created_at"))
    )
    won = (
        won_opportunities(inputs.opportunities, inputs.as_of)
        .join(by_lead_id, on="lead_id", how="left")
        .join(by_conversion, on="opportunity_id", how="left")
        .with_columns(
            pl.coalesce("lead_created_at", "converting_lead_created_at").alias("lead_created_at")
        )
        .with_columns(_days("close_date", "lead_created_at").alias("days"))
    )
    stats = _duration_stats(won, inputs, {"lead_to_close_days": pl.col("days").median()})
    return to_kpi_values(
        stats,
        kpi="lead_to_close_days",
        unit="days",
        as_of=inputs.as_of,
        value="lead_to_close_days",
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """All sales cycle KPIs in the kpi_values format (``settings`` is not needed here)."""
    del settings
    return pl.concat([sales_cycle(inputs), lead_to_close_days(inputs)])
