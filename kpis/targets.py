"""Target KPIs (docs/kpis.md): target_achievement_rate, target_pacing, pipeline_coverage.

A target (``fct_targets``) has a metric, a calendar period (month / quarter / year) and
a level; the level is a dimension of kpi_values (``company`` -> ``all``; region, team,
rep, channel, product_category) and ``level_value`` its value. The actual of a target
is its metric in its period for that dimension value:

- ``revenue``: revenue as in ``kpis.revenue`` (order lines of orders not cancelled);
- ``bookings``: amount of the opportunities won, by close date;
- ``deals_won``: number of opportunities won, by close date;
- ``new_customers``: customers whose first purchase (over their whole history) falls in
  the period; for a business without any purchase, whose first won opportunity does.
  A new customer counts in the region / team / rep / channel of that first purchase
  (or opportunity) and in every product category it bought in it.

Each KPI is stored once per metric (kpi_values has no metric column): under the plain
id for revenue (``target_achievement_rate``), as ``<kpi>.<metric>`` for the others
(``target_achievement_rate.bookings``, ``target_pacing.deals_won``, …). A period
without a target has no row; a target without any actual has actual 0.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.customers import first_purchase_dates
from kpis.funnel import won_opportunities
from kpis.inputs import KpiInputs
from kpis.periods import (
    CALENDAR_GRAINS,
    WEEK,
    Grain,
    aggregate_by_period,
    next_period_start,
    period_start,
)
from kpis.registry import PIPELINE_METRICS, TARGET_METRICS, metric_kpi_id
from kpis.revenue import has_weekly_targets, revenue_by_period
from kpis.values import empty_kpi_values, safe_ratio, to_kpi_values, with_dimensions
from schemas.config import KpiSettings

#: target level -> kpi_values dimension
LEVEL_DIMENSION: dict[str, str] = {
    "company": "all",
    "region": "region",
    "team": "team",
    "rep": "rep",
    "channel": "channel",
    "product_category": "product_category",
}
#: the dimensions of targets, each held by a column of the same name in the events
TARGET_DIMENSIONS: dict[str, str] = {
    name: name for name in LEVEL_DIMENSION.values() if name != "all"
}
_KEYS = ["grain", "period_start", "dimension", "dimension_value"]
#: the grains a target can have: ISO weeks (a weekly target starts on the Monday of its
#: period_start's week) and the calendar periods
TARGET_GRAINS: tuple[Grain, ...] = (WEEK, *CALENDAR_GRAINS)


def actual_grains(inputs: KpiInputs) -> tuple[Grain, ...]:
    """The grains of the targets' actuals: the calendar periods, and weeks when a target
    is weekly."""
    return (WEEK, *CALENDAR_GRAINS) if has_weekly_targets(inputs) else CALENDAR_GRAINS


def target_rows(targets: pl.DataFrame) -> pl.DataFrame:
    """Targets keyed like kpi_values: metric, grain, period_start, period_end, dimension,
    dimension_value and ``target`` (summed over duplicate targets of one key).

    Periods are snapped to the period of their grain (weeks start on Monday); targets of
    another grain, metric or level are ignored.
    """
    parts = []
    for grain in TARGET_GRAINS:
        start = period_start("period_start", grain)
        parts.append(
            targets.filter(
                (pl.col("grain") == grain)
                & pl.col("metric").is_in(TARGET_METRICS)
                & pl.col("level").is_in(list(LEVEL_DIMENSION))
            ).select(
                "metric",
                pl.lit(grain).alias("grain"),
                start.alias("period_start"),
                next_period_start(start, grain).alias("period_end"),
                pl.col("level").replace_strict(LEVEL_DIMENSION).alias("dimension"),
                pl.when(pl.col("level") == "company")
                .then(pl.lit("all"))
                .otherwise(pl.col("level_value").fill_null("unknown"))
                .alias("dimension_value"),
                pl.col("target_value").cast(pl.Float64),
            )
        )
    return (
        pl.concat(parts)
        .group_by(["metric", *_KEYS, "period_end"])
        .agg(pl.col("target_value").sum().alias("target"))
    )


def _opportunity_events(opportunities: pl.DataFrame, value: pl.Expr) -> pl.DataFrame:
    return opportunities.select(
        pl.col("close_date").alias("date"),
        value.cast(pl.Float64).alias("value"),
        pl.col("customer_id"),
        "region",
        "team",
        pl.col("owner_rep_id").alias("rep"),
        "channel",
        "product_category",
    )


def new_customer_events(inputs: KpiInputs) -> pl.DataFrame:
    """One row per new customer (and product category of its first purchase): date of
    the first purchase over the customer's whole history, with that order's dimensions.
    Without any purchase in the data, the first won opportunity stands in.

    The first date is ``kpis.customers.first_purchase_dates`` (the one definition of a
    new customer); this only picks the order (or opportunity) of that date for its
    dimensions.
    """
    firsts = first_purchase_dates(inputs)
    bought = inputs.orders.filter(
        pl.col("is_purchase").fill_null(False) & pl.col("customer_id").is_not_null()
    )
    if bought.is_empty():
        first_won = (
            won_opportunities(inputs.opportunities, inputs.as_of)
            .join(
                firsts,
                left_on=["customer_id", pl.col("close_date").cast(pl.Date)],
                right_on=["customer_id", "first_date"],
            )
            .sort("close_date", "opportunity_id")
            .unique("customer_id", keep="first")
        )
        return _opportunity_events(first_won, pl.lit(1.0))
    first = (
        bought.lazy()
        .join(
            firsts.lazy(),
            left_on=["customer_id", pl.col("order_date").cast(pl.Date)],
            right_on=["customer_id", "first_date"],
        )
        .sort("order_date", "order_id")
        .unique("customer_id", keep="first")
        .collect()
    )
    categories = inputs.lines.first_order_categories.join(
        first.select("order_id"), on="order_id", how="semi"
    )
    return first.join(categories, on="order_id", how="left").select(
        pl.col("order_date").alias("date"),
        pl.lit(1.0).alias("value"),
        "customer_id",
        "region",
        "team",
        pl.col("rep_id").alias("rep"),
        "channel",
        "product_category",
    )


def metric_events(inputs: KpiInputs, metric: str) -> pl.DataFrame:
    """The dated events whose ``value`` adds up to a target metric other than revenue,
    with the target dimensions as columns (date, value, customer_id, region, team, rep,
    channel, product_category)."""
    if metric == "new_customers":
        return new_customer_events(inputs)
    won = won_opportunities(inputs.opportunities, inputs.as_of)
    if metric == "bookings":
        return _opportunity_events(won, pl.col("amount").fill_null(0))
    if metric == "deals_won":
        return _opportunity_events(won, pl.lit(1.0))
    events = [name for name in TARGET_METRICS if name != "revenue"]
    raise ValueError(
        f"no events for target metric {metric!r} (known: {', '.join(events)}; revenue"
        " comes from kpis.revenue.revenue_by_period)"
    )


def actuals(inputs: KpiInputs, metric: str) -> pl.DataFrame:
    """The actual of a metric per calendar period and target dimension value (column
    ``actual``); revenue as in ``kpis.revenue``, new customers counted once per
    dimension value. Computed once per inputs and metric (the three target KPIs share
    them)."""
    return inputs.shared(("target_actuals", metric), lambda: _actuals(inputs, metric))


def _actuals(inputs: KpiInputs, metric: str) -> pl.DataFrame:
    if metric == "revenue":
        return (
            revenue_by_period(inputs)
            .filter(
                pl.col("grain").is_in(actual_grains(inputs))
                & pl.col("dimension").is_in(["all", *TARGET_DIMENSIONS])
            )
            .select(*_KEYS, pl.col("revenue").cast(pl.Float64).alias("actual"))
        )
    total = pl.col("customer_id").n_unique() if metric == "new_customers" else pl.col("value").sum()
    return aggregate_by_period(
        metric_events(inputs, metric),
        date="date",
        aggs=[total.cast(pl.Float64).alias("actual")],
        dimensions=TARGET_DIMENSIONS,
        as_of=inputs.as_of,
        grains=actual_grains(inputs),
        fill_gaps=False,
    ).select(*_KEYS, "actual")


def targets_with_actuals(
    inputs: KpiInputs, metrics: tuple[str, ...] = TARGET_METRICS
) -> pl.DataFrame:
    """The targets of periods that have started by as_of, with their actual to date
    (0 where nothing happened)."""
    started = target_rows(inputs.targets).filter(
        pl.col("metric").is_in(metrics) & (pl.col("period_start") <= inputs.as_of)
    )
    parts = [
        started.filter(pl.col("metric") == metric)
        .join(actuals(inputs, metric), on=_KEYS, how="left")
        .with_columns(pl.col("actual").fill_null(0.0))
        for metric in metrics
    ]
    return pl.concat(parts)


def _open_period(frame: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    return frame.filter((pl.col("period_start") <= as_of) & (pl.col("period_end") > as_of))


def _per_metric(
    frame: pl.DataFrame,
    kpi: str,
    as_of: dt.date,
    value: str,
    numerator: str,
    denominator: str,
) -> pl.DataFrame:
    parts = [
        to_kpi_values(
            rows,
            kpi=metric_kpi_id(kpi, str(metric)),
            unit="ratio",
            as_of=as_of,
            value=value,
            numerator=numerator,
            denominator=denominator,
        )
        for (metric,), rows in frame.partition_by("metric", as_dict=True).items()
    ]
    return pl.concat([empty_kpi_values(), *parts])


def target_achievement_rate(inputs: KpiInputs) -> pl.DataFrame:
    """target_achievement_rate = actual / target for the target's metric, period and level.

    For every target whose period has started by as_of (the open period: achievement to
    date). numerator = actual, denominator = target; null where the target is 0.
    """
    rows = targets_with_actuals(inputs).with_columns(
        safe_ratio(pl.col("actual"), pl.col("target")).alias("rate")
    )
    return _per_metric(rows, "target_achievement_rate", inputs.as_of, "rate", "actual", "target")


def target_pacing(inputs: KpiInputs) -> pl.DataFrame:
    """target_pacing = actual to date / (target × elapsed days / days in period), for the
    open period (the one containing as_of) of every target grain.

    elapsed days = days from period_start through as_of, both included; days in period =
    period_end − period_start. numerator = actual to date, denominator = the pro-rata
    target to date; null where the target is 0.
    """
    elapsed = (pl.lit(inputs.as_of) - pl.col("period_start")).dt.total_days() + 1
    days = (pl.col("period_end") - pl.col("period_start")).dt.total_days()
    rows = (
        _open_period(targets_with_actuals(inputs), inputs.as_of)
        .with_columns((pl.col("target") * elapsed / days).alias("expected"))
        .with_columns(safe_ratio(pl.col("actual"), pl.col("expected")).alias("pacing"))
    )
    return _per_metric(rows, "target_pacing", inputs.as_of, "pacing", "actual", "expected")


def open_pipeline(opportunities: pl.DataFrame) -> pl.DataFrame:
    """Open opportunities (not closed) with an expected close date, weighted by their
    probability, once per target dimension: dimension, dimension_value, close_date,
    weighted (amount × probability, a missing amount or probability counts as 0)."""
    open_deals = opportunities.filter(
        ~pl.col("is_closed").fill_null(False) & pl.col("close_date").is_not_null()
    ).select(
        "close_date",
        (pl.col("amount").fill_null(0) * pl.col("probability").fill_null(0)).alias("weighted"),
        "region",
        "team",
        pl.col("owner_rep_id").alias("rep"),
        "channel",
        "product_category",
    )
    return with_dimensions(open_deals, TARGET_DIMENSIONS).select(
        "dimension", "dimension_value", "close_date", "weighted"
    )


def pipeline_coverage(inputs: KpiInputs) -> pl.DataFrame:
    """pipeline_coverage = open pipeline amount weighted by stage probability / remaining
    target of the period.

    For the open period of every revenue and bookings target: the pipeline is the open
    opportunities of the target's dimension value expected to close before the period
    ends (overdue ones included: they are still open), amount × probability; remaining
    target = max(target − actual to date, 0). Null where nothing remains (the target is
    met: any pipeline covers it).
    """
    targets = _open_period(targets_with_actuals(inputs, PIPELINE_METRICS), inputs.as_of)
    pipeline = (
        targets.select(*_KEYS, "period_end")
        .unique()
        .join(open_pipeline(inputs.opportunities), on=["dimension", "dimension_value"])
        .filter(pl.col("close_date") < pl.col("period_end"))
        .group_by(_KEYS)
        .agg(pl.col("weighted").sum().alias("pipeline"))
    )
    rows = (
        targets.join(pipeline, on=_KEYS, how="left")
        .with_columns(
            pl.col("pipeline").fill_null(0.0),
            pl.max_horizontal(pl.col("target") - pl.col("actual"), pl.lit(0.0)).alias("remaining"),
        )
        .with_columns(safe_ratio(pl.col("pipeline"), pl.col("remaining")).alias("coverage"))
    )
    return _per_metric(rows, "pipeline_coverage", inputs.as_of, "coverage", "pipeline", "remaining")


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """All target KPIs in the kpi_values format (``settings`` is not needed here)."""
    del settings
    return pl.concat(
        [
            target_achievement_rate(inputs),
            target_pacing(inputs),
            pipeline_coverage(inputs),
        ]
    )
