"""Alerts (docs/kpis.md, "Alerts"): what needs attention on the as-of date, as rows of
``kpi.alerts``: rule, level (info / warning / critical), subject_type, subject_id,
value, threshold, message, as_of.

The rules and their thresholds come from ``alerts:`` in the config
(:class:`schemas.config.AlertsConfig`); each reads figures the KPI layer computed:

- ``pacing_below``: a target_pacing value (every metric, grain and level with a target
  in the open period) below ``critical`` (0.75) is critical, else below ``warning``
  (0.9) a warning; subject = the target's level and value (``company``/``all``,
  ``team``/``east``, …).
- ``coverage_below``: a pipeline_coverage value below ``threshold`` (1.0); a met
  target (coverage null) does not fire.
- ``key_customer_at_risk``: a customer of kpi.customer_segments whose value_tier is
  vip or key and whose lifecycle_status is at_risk.
- ``deal_past_close_date``: an opportunity open on the as-of date (its stage on that
  date is an open funnel stage) whose close date is before it; value = days past.
- ``deal_stuck``: a row of kpi.stuck_opportunities; value = days in the stage,
  threshold = the stage's p90.
- ``overdue_receivable``: a customer with receivables more than ``days`` (60) past due
  (the 61_90 and over_90 buckets of kpi.receivables_ageing); skipped where the
  warehouse has no receivables.
- ``targets_do_not_add_up``: for a period not over by the as-of date, the targets of
  the reps of a team (dim_rep.team) add up to a sum that differs from the team's target
  of the same metric and period by more than ``tolerance`` (1 %) of it; likewise the
  teams' targets against the company's. value = the members' sum, threshold = the
  level's target.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.funnel import FUNNEL_STAGES
from kpis.inputs import KpiInputs
from kpis.stages import stage_on
from kpis.targets import target_rows
from schemas.config import ALERT_LEVELS, AlertsConfig

ALERTS_SCHEMA: dict[str, pl.DataType] = {
    "rule": pl.String(),
    "level": pl.String(),
    "subject_type": pl.String(),
    "subject_id": pl.String(),
    "value": pl.Float64(),
    "threshold": pl.Float64(),
    "message": pl.String(),
    "as_of": pl.Date(),
}
#: kpi.receivables_ageing bucket -> its first day past due
_AGEING_BUCKETS: dict[str, int] = {"1_30": 1, "31_60": 31, "61_90": 61, "over_90": 91}
#: the subject type of a kpi_values dimension (a target's level)
_SUBJECT_TYPE: dict[str, str] = {"all": "company"}


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=ALERTS_SCHEMA)


def _finish(frame: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    return frame.with_columns(pl.lit(as_of, dtype=pl.Date).alias("as_of")).select(
        [pl.col(name).cast(dtype) for name, dtype in ALERTS_SCHEMA.items()]
    )


def _metric_of(kpi: pl.Expr) -> pl.Expr:
    """The target metric of a per-metric kpi id (``target_pacing.bookings`` -> bookings)."""
    return (
        pl.when(kpi.str.contains(r"\.", literal=False))
        .then(kpi.str.split(".").list.last())
        .otherwise(pl.lit("revenue"))
    )


def _open_target_kpi(values: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return values.filter(
        ((pl.col("kpi") == prefix) | pl.col("kpi").str.starts_with(f"{prefix}."))
        & pl.col("value").is_not_null()
    ).with_columns(
        pl.col("dimension").replace(_SUBJECT_TYPE).alias("subject_type"),
        pl.col("dimension_value").alias("subject_id"),
        _metric_of(pl.col("kpi")).alias("metric"),
    )


def pacing_below(values: pl.DataFrame, rules: AlertsConfig, as_of: dt.date) -> pl.DataFrame:
    """target_pacing below the critical (critical) or the warning threshold (warning)."""
    rule = rules.pacing_below
    rows = _open_target_kpi(values, "target_pacing")
    fired = rows.filter(pl.col("value") < max(rule.warning, rule.critical)).with_columns(
        pl.when(pl.col("value") < rule.critical)
        .then(pl.lit("critical"))
        .otherwise(pl.lit("warning"))
        .alias("level"),
        pl.when(pl.col("value") < rule.critical)
        .then(pl.lit(rule.critical))
        .otherwise(pl.lit(rule.warning))
        .alias("threshold"),
    )
    return _finish(
        fired.with_columns(
            pl.lit("pacing_below").alias("rule"),
            pl.format(
                "{} {} {} target of the {} from {}: pacing {}% of the pro-rata target "
                "(below {}%)",
                "subject_type",
                "subject_id",
                "metric",
                "grain",
                pl.col("period_start").cast(pl.String),
                (pl.col("value") * 100).round(1),
                (pl.col("threshold") * 100).round(1),
            ).alias("message"),
        ),
        as_of,
    )


def coverage_below(values: pl.DataFrame, rules: AlertsConfig, as_of: dt.date) -> pl.DataFrame:
    """pipeline_coverage below the threshold."""
    rule = rules.coverage_below
    fired = _open_target_kpi(values, "pipeline_coverage").filter(
        pl.col("value") < rule.threshold
    )
    return _finish(
        fired.with_columns(
            pl.lit("coverage_below").alias("rule"),
            pl.lit(rule.level).alias("level"),
            pl.lit(rule.threshold).alias("threshold"),
            pl.format(
                "{} {} {} target of the {} from {}: weighted pipeline covers {}% of what "
                "remains (below {}%)",
                "subject_type",
                "subject_id",
                "metric",
                "grain",
                pl.col("period_start").cast(pl.String),
                (pl.col("value") * 100).round(1),
                pl.lit(round(rule.threshold * 100, 1)),
            ).alias("message"),
        ),
        as_of,
    )


def key_customer_at_risk(
    segments: pl.DataFrame, rules: AlertsConfig, as_of: dt.date
) -> pl.DataFrame:
    """vip and key customers whose lifecycle status is at_risk."""
    fired = segments.filter(
        pl.col("value_tier").is_in(["vip", "key"]) & (pl.col("lifecycle_status") == "at_risk")
    )
    return _finish(
        fired.with_columns(
            pl.lit("key_customer_at_risk").alias("rule"),
            pl.lit(rules.key_customer_at_risk.level).alias("level"),
            pl.lit("customer").alias("subject_type"),
            pl.col("customer_id").alias("subject_id"),
            pl.col("window_revenue").alias("value"),
            pl.lit(None, dtype=pl.Float64).alias("threshold"),
            pl.format(
                "{} customer {} is at risk: last purchase on {} (revenue in the window {})",
                "value_tier",
                "customer_id",
                pl.col("last_purchase_date").cast(pl.String),
                pl.col("window_revenue").round(2),
            ).alias("message"),
        ),
        as_of,
    )


def deal_past_close_date(
    inputs: KpiInputs, rules: AlertsConfig
) -> pl.DataFrame:
    """Opportunities open on the as-of date whose close date is before it."""
    open_now = stage_on(inputs).filter(pl.col("stage").is_in(list(FUNNEL_STAGES)))
    days_past = (pl.lit(inputs.as_of, dtype=pl.Date) - pl.col("close_date")).dt.total_days()
    fired = (
        inputs.opportunities.drop("stage")
        .join(open_now.select("opportunity_id", "stage"), on="opportunity_id")
        .with_columns(pl.col("close_date").cast(pl.Date))
        .filter(pl.col("close_date") < inputs.as_of)
        .with_columns(days_past.cast(pl.Float64).alias("value"))
    )
    return _finish(
        fired.with_columns(
            pl.lit("deal_past_close_date").alias("rule"),
            pl.lit(rules.deal_past_close_date.level).alias("level"),
            pl.lit("opportunity").alias("subject_type"),
            pl.col("opportunity_id").alias("subject_id"),
            pl.lit(0.0).alias("threshold"),
            pl.format(
                "deal {} ({}, owner {}) was to close on {}: {} days ago",
                "opportunity_id",
                "stage",
                pl.col("owner_rep_id").cast(pl.String).fill_null("unknown"),
                pl.col("close_date").cast(pl.String),
                pl.col("value").cast(pl.Int64),
            ).alias("message"),
        ),
        inputs.as_of,
    )


def deal_stuck(stuck: pl.DataFrame, rules: AlertsConfig, as_of: dt.date) -> pl.DataFrame:
    """The rows of kpi.stuck_opportunities."""
    return _finish(
        stuck.with_columns(
            pl.lit("deal_stuck").alias("rule"),
            pl.lit(rules.deal_stuck.level).alias("level"),
            pl.lit("opportunity").alias("subject_type"),
            pl.col("opportunity_id").alias("subject_id"),
            pl.col("days_in_stage").cast(pl.Float64).alias("value"),
            pl.col("stage_p90_days").alias("threshold"),
            pl.format(
                "deal {} has been in {} for {} days (p90 of the stage: {})",
                "opportunity_id",
                "stage",
                "days_in_stage",
                pl.col("stage_p90_days").round(1),
            ).alias("message"),
        ),
        as_of,
    )


def overdue_receivable(
    ageing: pl.DataFrame | None, rules: AlertsConfig, as_of: dt.date
) -> pl.DataFrame:
    """Customers with receivables more than ``days`` past due: the kpi.receivables_ageing
    buckets whose first day is past ``days`` (61_90 and over_90 for the default 60)."""
    if ageing is None or ageing.is_empty():
        return _empty()
    rule = rules.overdue_receivable
    buckets = [name for name, first_day in _AGEING_BUCKETS.items() if first_day > rule.days]
    present = [name for name in buckets if name in ageing.columns]
    if not present:
        return _empty()
    fired = (
        ageing.group_by("customer_id")
        .agg(pl.sum_horizontal(*present).sum().alias("value"))
        .filter(pl.col("value") > 0)
    )
    return _finish(
        fired.with_columns(
            pl.lit("overdue_receivable").alias("rule"),
            pl.lit(rule.level).alias("level"),
            pl.lit("customer").alias("subject_type"),
            pl.col("customer_id").cast(pl.String).alias("subject_id"),
            pl.lit(float(rule.days)).alias("threshold"),
            pl.format(
                "customer {} owes {} more than {} days past due",
                "customer_id",
                pl.col("value").round(2),
                pl.lit(rule.days),
            ).alias("message"),
        ),
        as_of,
    )


def targets_do_not_add_up(inputs: KpiInputs, rules: AlertsConfig) -> pl.DataFrame:
    """Rep targets of a team against the team's target, team targets against the
    company's, for the periods not over by as_of: more than ``tolerance`` apart."""
    rule = rules.targets_do_not_add_up
    rows = target_rows(inputs.targets).filter(pl.col("period_end") > inputs.as_of)
    keys = ["metric", "grain", "period_start"]
    rep_team = inputs.reps.select(
        pl.col("rep_id").cast(pl.String).alias("dimension_value"),
        pl.col("team").cast(pl.String).alias("parent"),
    ).unique("dimension_value", keep="first")
    members = pl.concat(
        [
            rows.filter(pl.col("dimension") == "rep")
            .join(rep_team, on="dimension_value", how="inner")
            .select(*keys, pl.lit("team").alias("subject_type"), "parent", "target"),
            rows.filter(pl.col("dimension") == "team").select(
                *keys, pl.lit("company").alias("subject_type"), pl.lit("all").alias("parent"),
                "target",
            ),
        ]
    ).group_by(*keys, "subject_type", "parent").agg(pl.col("target").sum().alias("value"))
    parents = rows.filter(pl.col("dimension").is_in(["team", "all"])).select(
        *keys,
        pl.col("dimension").replace(_SUBJECT_TYPE).alias("subject_type"),
        pl.col("dimension_value").alias("parent"),
        pl.col("target").alias("threshold"),
    )
    fired = members.join(parents, on=[*keys, "subject_type", "parent"]).filter(
        (pl.col("value") - pl.col("threshold")).abs() > rule.tolerance * pl.col("threshold").abs()
    )
    below = pl.when(pl.col("subject_type") == "team").then(pl.lit("reps")).otherwise(
        pl.lit("teams")
    )
    return _finish(
        fired.with_columns(
            pl.lit("targets_do_not_add_up").alias("rule"),
            pl.lit(rule.level).alias("level"),
            pl.col("parent").alias("subject_id"),
            pl.format(
                "{} {} target of the {} from {}: its {}' targets add up to {}, not {}",
                pl.when(pl.col("subject_type") == "company")
                .then(pl.lit("company"))
                .otherwise(pl.format("team {}", "parent")),
                "metric",
                "grain",
                pl.col("period_start").cast(pl.String),
                below,
                pl.col("value").round(2),
                pl.col("threshold").round(2),
            ).alias("message"),
        ),
        inputs.as_of,
    )


def alerts(
    values: pl.DataFrame,
    segments: pl.DataFrame,
    stuck: pl.DataFrame,
    inputs: KpiInputs,
    rules: AlertsConfig,
    receivables_ageing: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """kpi.alerts as of the inputs' as-of date: every enabled rule's alerts, the most
    severe first (then by rule and subject)."""
    as_of = inputs.as_of
    parts = [_empty()]
    if rules.pacing_below.enabled:
        parts.append(pacing_below(values, rules, as_of))
    if rules.coverage_below.enabled:
        parts.append(coverage_below(values, rules, as_of))
    if rules.key_customer_at_risk.enabled:
        parts.append(key_customer_at_risk(segments, rules, as_of))
    if rules.deal_past_close_date.enabled:
        parts.append(deal_past_close_date(inputs, rules))
    if rules.deal_stuck.enabled:
        parts.append(deal_stuck(stuck, rules, as_of))
    if rules.overdue_receivable.enabled:
        parts.append(overdue_receivable(receivables_ageing, rules, as_of))
    if rules.targets_do_not_add_up.enabled:
        parts.append(targets_do_not_add_up(inputs, rules))
    severity = pl.col("level").replace_strict(
        {level: rank for rank, level in enumerate(ALERT_LEVELS)}, return_dtype=pl.Int64
    )
    return (
        pl.concat(parts)
        .sort(severity, "rule", "subject_type", "subject_id", "message",
              descending=[True, False, False, False, False])
    )
