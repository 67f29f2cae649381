"""Time in the funnel stages (docs/kpis.md, management analytics): stage_duration_days,
stage_duration_days_p90, and the table ``kpi.stuck_opportunities``.

The stages an opportunity went through are ``fct_opportunity_stages`` (from the CRM's
stage history, else derived from successive exports): one row per stage entered, with
``entered_at`` and ``exited_at`` (the next stage's entry). As of d, only what happened
by d is known: a stage entered after d is not there (``kpis.inputs``), an exit after d
is not an exit yet. Days are whole days between the dates (exit date − entry date).

- ``stage_duration_days``, per open funnel stage (lead … negotiation; dimension
  ``stage``): over the opportunities that left the stage in the period (exit date in
  it, up to as_of), the median of their days in the stage; ``stage_duration_days_p90``
  the 90th percentile (linear interpolation, as sales_cycle_days_p90). A deal that
  skipped a stage was never in it and counts nowhere for that stage. Periods in which
  nothing left a stage have no row.
- ``kpi.stuck_opportunities`` (as of d): the opportunities open on d (their stage on d
  is an open funnel stage) that have been longer in that stage than the stage's p90 over
  every exit up to d (``stage_duration_days_p90`` of grain ``all``): days in stage =
  d − the date the stage was entered.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.funnel import FUNNEL_STAGES
from kpis.inputs import KpiInputs
from kpis.periods import aggregate_by_period
from kpis.values import to_kpi_values
from schemas.config import KpiSettings

STUCK_OPPORTUNITIES_SCHEMA: dict[str, pl.DataType] = {
    "opportunity_id": pl.String(),
    "customer_id": pl.String(),
    "owner_rep_id": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "stage": pl.String(),
    "entered_stage_on": pl.Date(),
    "days_in_stage": pl.Int64(),
    "stage_p90_days": pl.Float64(),
    "amount": pl.Float64(),
    "close_date": pl.Date(),
    "as_of": pl.Date(),
}


def stage_exits(inputs: KpiInputs) -> pl.DataFrame:
    """The stays in an open funnel stage that ended by as_of: opportunity_id, stage,
    exit_date, days (exit date − entry date)."""
    stages = inputs.opportunity_stages
    entered = pl.col("entered_at").cast(pl.Date)
    exited = pl.col("exited_at").cast(pl.Date)
    return stages.filter(
        pl.col("stage").cast(pl.String).is_in(list(FUNNEL_STAGES))
        & exited.is_not_null()
        & (exited <= inputs.as_of)
    ).select(
        "opportunity_id",
        pl.col("stage").cast(pl.String),
        exited.alias("exit_date"),
        (exited - entered).dt.total_days().alias("days"),
    )


def stage_duration(inputs: KpiInputs) -> pl.DataFrame:
    """stage_duration_days: per funnel stage, over opportunities that left the stage in
    the period: median days in the stage; stage_duration_days_p90 the 90th percentile
    (linear interpolation). Dimension ``stage`` only."""
    days = pl.col("days")
    stats = aggregate_by_period(
        stage_exits(inputs),
        date="exit_date",
        aggs=[
            days.median().cast(pl.Float64).alias("stage_duration_days"),
            days.quantile(0.9, interpolation="linear").cast(pl.Float64).alias(
                "stage_duration_days_p90"
            ),
        ],
        dimensions={"stage": "stage"},
        as_of=inputs.as_of,
        fill_gaps=False,
    ).filter(pl.col("dimension") == "stage")
    return pl.concat(
        to_kpi_values(stats, kpi=kpi, unit="days", as_of=inputs.as_of, value=kpi)
        for kpi in ("stage_duration_days", "stage_duration_days_p90")
    )


def stage_on(inputs: KpiInputs, day: dt.date | None = None) -> pl.DataFrame:
    """Each opportunity's stage on ``day`` (default as_of; on or before it):
    opportunity_id, stage, entered_stage_on (the date it entered that stage) and
    probability (the opportunity's own probability while that stage is still its
    current stage, else the stage label's default probability).

    The stage is the last one entered by ``day`` (fct_opportunity_stages: the CRM's
    stage history, else the stages derived from the nightly snapshots of the
    opportunities); null when that stage was left by ``day`` for a stage the history
    lacks. An opportunity without a stage row by then (created by ``day``) is in its
    current stage since its creation, unknown (null) when it closed after ``day``."""
    day = day or inputs.as_of
    last = (
        inputs.opportunity_stages.filter(pl.col("entered_at").cast(pl.Date) <= day)
        .sort("entered_at")
        .group_by("opportunity_id")
        .agg(
            pl.col("stage").cast(pl.String).last(),
            pl.col("entered_at").cast(pl.Date).last().alias("entered_stage_on"),
            pl.col("exited_at").cast(pl.Date).last().alias("exited_on"),
            pl.col("default_probability").cast(pl.Float64).last(),
        )
    )
    current = inputs.opportunities.filter(
        pl.col("created_at").is_null() | (pl.col("created_at") <= day)
    ).select(
        "opportunity_id",
        pl.col("stage").cast(pl.String).alias("current_stage"),
        pl.col("probability").cast(pl.Float64),
        pl.col("created_at").cast(pl.Date),
        (pl.col("is_closed").fill_null(False) & (pl.col("close_date").cast(pl.Date) > day)).alias(
            "closed_later"
        ),
    )
    from_history = (
        last.join(current, on="opportunity_id", how="inner")
        .with_columns(
            pl.when(pl.col("exited_on") <= day).then(None).otherwise(pl.col("stage")).alias("stage")
        )
        .select(
            "opportunity_id",
            "stage",
            "entered_stage_on",
            pl.when(pl.col("stage") == pl.col("current_stage"))
            .then(pl.col("probability"))
            .otherwise(pl.col("default_probability"))
            .alias("probability"),
        )
    )
    without = (
        current.filter(pl.col("created_at").is_not_null())
        .join(last, on="opportunity_id", how="anti")
        .select(
            "opportunity_id",
            pl.when(pl.col("closed_later"))
            .then(None)
            .otherwise(pl.col("current_stage"))
            .alias("stage"),
            pl.col("created_at").alias("entered_stage_on"),
            pl.when(pl.col("closed_later")).then(None).otherwise(pl.col("probability")).alias(
                "probability"
            ),
        )
    )
    return pl.concat([from_history, without], how="vertical_relaxed")


def stuck_opportunities(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """kpi.stuck_opportunities: open deals on as_of longer in their current stage than
    that stage's p90 (over every exit from the stage up to as_of)."""
    del settings
    p90 = (
        stage_exits(inputs)
        .group_by("stage")
        .agg(pl.col("days").quantile(0.9, interpolation="linear").alias("stage_p90_days"))
    )
    on_as_of = stage_on(inputs).drop("probability").filter(
        pl.col("stage").is_in(list(FUNNEL_STAGES))
    )
    days_in_stage = (pl.lit(inputs.as_of, dtype=pl.Date) - pl.col("entered_stage_on")).dt.total_days()
    stuck = (
        inputs.opportunities.drop("stage")  # today's stage: the one on as_of counts
        .join(on_as_of, on="opportunity_id")
        .join(p90, on="stage")
        .with_columns(days_in_stage.alias("days_in_stage"))
        .filter(pl.col("days_in_stage") > pl.col("stage_p90_days"))
        .select(
            "opportunity_id",
            "customer_id",
            pl.col("owner_rep_id").cast(pl.String),
            pl.col("team").cast(pl.String),
            pl.col("region").cast(pl.String),
            "stage",
            "entered_stage_on",
            "days_in_stage",
            "stage_p90_days",
            pl.col("amount").cast(pl.Float64),
            pl.col("close_date").cast(pl.Date),
            pl.lit(inputs.as_of, dtype=pl.Date).alias("as_of"),
        )
    )
    return (
        inputs.with_customer_ids(stuck)
        .with_columns(pl.col("customer_id").cast(pl.String))
        .cast(STUCK_OPPORTUNITIES_SCHEMA)  # type: ignore[arg-type]
        .sort("days_in_stage", "opportunity_id", descending=[True, False])
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """stage_duration_days and stage_duration_days_p90 in the kpi_values format."""
    del settings
    return stage_duration(inputs)
