"""The rep scorecard (docs/kpis.md, ``kpi.rep_scorecard``).

One row per rep and period (grains month, quarter, year) in which the rep has a figure:
revenue, a revenue target, a closed or won deal, a new customer or open pipeline. The
metrics are the KPI layer's own values for dimension ``rep`` (kpi_values), so that the
scorecard and the KPIs never disagree:

- ``revenue`` (kpi revenue), ``revenue_target`` (the rep's revenue target: the
  denominator of target_achievement_rate) and ``revenue_achievement`` (its value);
- ``bookings`` (kpi bookings), ``deals_won`` and ``win_rate`` (kpi win_rate: numerator
  and value), ``new_customers`` (kpi new_customers by the first purchase's rep),
  ``median_sales_cycle_days`` (kpi sales_cycle_days);
- ``open_pipeline``: the amount of the rep's opportunities open at the period's end
  (its last day, the as-of date for the open period): created by then and not closed,
  or closed after that day (a missing amount counts as 0).

For each metric, ``rank_team_<metric>`` ranks the rep within its team (dim_rep.team;
``unknown`` for a rep missing from dim_rep) and ``rank_company_<metric>`` within every rep of the
period: 1 = best (the highest value; for the sales cycle the shortest), ties share the
lower rank (two reps tied for first are both 1, the next is 3), no rank where the
metric is null. A rep who left keeps its rows for the periods in which it sold.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.inputs import KpiInputs
from kpis.periods import CALENDAR_GRAINS, period_grid
from kpis.values import partial_period
from schemas.config import KpiSettings

#: metric -> (kpi id, the kpi_values column read)
FROM_KPI_VALUES: dict[str, tuple[str, str]] = {
    "revenue": ("revenue", "value"),
    "revenue_target": ("target_achievement_rate", "denominator"),
    "revenue_achievement": ("target_achievement_rate", "value"),
    "bookings": ("bookings", "value"),
    "deals_won": ("win_rate", "numerator"),
    "win_rate": ("win_rate", "value"),
    "new_customers": ("new_customers", "value"),
    "median_sales_cycle_days": ("sales_cycle_days", "value"),
}
#: the ranked metrics, each ranked high-first except those in LOWER_IS_BETTER
METRICS: tuple[str, ...] = (*FROM_KPI_VALUES, "open_pipeline")
LOWER_IS_BETTER: frozenset[str] = frozenset({"median_sales_cycle_days"})
_PERIOD = ["grain", "period_start", "period_end"]
_KEY = ["rep_id", *_PERIOD]


def _metric(values: pl.DataFrame, metric: str) -> pl.DataFrame:
    kpi, column = FROM_KPI_VALUES[metric]
    return values.filter(
        (pl.col("kpi") == kpi)
        & (pl.col("dimension") == "rep")
        & pl.col("grain").is_in(CALENDAR_GRAINS)
    ).select(
        pl.col("dimension_value").alias("rep_id"),
        *_PERIOD,
        pl.col(column).cast(pl.Float64).alias(metric),
    )


def open_pipeline_at_period_ends(inputs: KpiInputs, first_day: dt.date) -> pl.DataFrame:
    """Per rep and period of the calendar grains from ``first_day``: the amount of the
    rep's opportunities open at the period's end (its last day, or as_of)."""
    grid = pl.concat(
        [period_grid(first_day, inputs.as_of, grain) for grain in CALENDAR_GRAINS]
    ).with_columns(
        pl.min_horizontal(
            pl.col("period_end") - pl.duration(days=1), pl.lit(inputs.as_of, dtype=pl.Date)
        ).alias("end_day")
    )
    deals = inputs.opportunities.filter(
        pl.col("owner_rep_id").is_not_null() & pl.col("created_at").is_not_null()
    ).select(
        pl.col("owner_rep_id").cast(pl.String).alias("rep_id"),
        pl.col("created_at").cast(pl.Date),
        pl.col("close_date").cast(pl.Date),
        pl.col("is_closed").fill_null(False),
        pl.col("amount").cast(pl.Float64).fill_null(0.0),
    )
    open_at_end = (pl.col("created_at") <= pl.col("end_day")) & (
        ~pl.col("is_closed") | (pl.col("close_date") > pl.col("end_day"))
    )
    return (
        deals.join(grid, how="cross")
        .filter(open_at_end)
        .group_by("rep_id", *_PERIOD)
        .agg(pl.col("amount").sum().alias("open_pipeline"))
    )


def _ranks() -> list[pl.Expr]:
    ranks = []
    for metric in METRICS:
        descending = metric not in LOWER_IS_BETTER
        value = pl.col(metric)
        for scope, over in (("team", [*_PERIOD, "team"]), ("company", _PERIOD)):
            ranks.append(
                value.rank(method="min", descending=descending)
                .over(over)
                .cast(pl.Int64)
                .alias(f"rank_{scope}_{metric}")
            )
    return ranks


def rep_scorecard(
    values: pl.DataFrame, inputs: KpiInputs, settings: KpiSettings | None = None
) -> pl.DataFrame:
    """kpi.rep_scorecard from the kpi_values rows of ``values`` and the opportunities
    and reps of ``inputs`` (definitions in the module docstring)."""
    del settings
    parts = [_metric(values, metric) for metric in FROM_KPI_VALUES]
    starts = [part.get_column("period_start").min() for part in parts if part.height]
    first_day = min((day for day in starts if isinstance(day, dt.date)), default=inputs.as_of)
    parts.append(open_pipeline_at_period_ends(inputs, first_day))
    table = parts[0]
    for part in parts[1:]:
        table = table.join(part, on=_KEY, how="full", coalesce=True)
    counts = ["revenue", "bookings", "deals_won", "new_customers", "open_pipeline"]
    has_figure = pl.any_horizontal(
        *(pl.col(name).fill_null(0) != 0 for name in counts),
        pl.col("revenue_target").is_not_null(),
        pl.col("win_rate").is_not_null(),
    )
    reps = inputs.reps.select(
        pl.col("rep_id").cast(pl.String),
        pl.col("name").cast(pl.String).alias("rep_name"),
        pl.col("team").cast(pl.String).alias("rep_team"),
        pl.col("region").cast(pl.String).alias("rep_region"),
    ).unique("rep_id", keep="first")
    table = (
        table.filter(has_figure & (pl.col("rep_id") != "unknown"))
        .with_columns(pl.col(name).fill_null(0.0) for name in counts)
        .join(reps, on="rep_id", how="left")
        .with_columns(
            pl.col("rep_team").fill_null("unknown").alias("team"),
            pl.col("rep_region").fill_null("unknown").alias("region"),
        )
    )
    return (
        table.with_columns(_ranks())
        .select(
            "rep_id",
            "rep_name",
            "team",
            "region",
            *_PERIOD,
            partial_period(inputs.as_of).alias("is_partial"),
            *METRICS,
            *(f"rank_{scope}_{metric}" for metric in METRICS for scope in ("team", "company")),
            pl.lit(inputs.as_of, dtype=pl.Date).alias("as_of"),
        )
        .sort("grain", "period_start", "team", "rep_id")
    )
