"""Activity KPIs (docs/kpis.md): activities, visits_per_rep, follow_up_rate,
lead_response_hours, lead_untouched_rate, and the table ``kpi.stale_opportunities``.

An activity belongs to the day it occurred (``fct_activities.activity_date``); those
after the as-of date do not count. Its rep, team and region are the activity's rep's.
"""

from __future__ import annotations

import polars as pl

from kpis.funnel import LEAD_DIMENSIONS
from kpis.inputs import KpiInputs
from kpis.periods import aggregate_by_period
from kpis.values import safe_ratio, to_kpi_values
from schemas.config import KpiSettings

#: dimension name -> fct_activities column
ACTIVITY_DIMENSIONS: dict[str, str] = {
    "type": "type",
    "rep": "rep_id",
    "team": "team",
    "region": "region",
}
STALE_SCHEMA: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "opportunity_id": pl.String(),
    "owner_rep_id": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "customer_id": pl.String(),
    "stage": pl.String(),
    "amount": pl.Float64(),
    "created_at": pl.Date(),
    "last_activity_date": pl.Date(),
    "days_without_activity": pl.Int64(),
}


def activities(inputs: KpiInputs) -> pl.DataFrame:
    """activities = activities in the period (dimension ``type``, plus rep, team, region).

    Every period from the first activity has a row (0 where there was none)."""
    counts = aggregate_by_period(
        inputs.activities,
        date="activity_date",
        aggs=[pl.len().cast(pl.Float64).alias("activities")],
        dimensions=ACTIVITY_DIMENSIONS,
        as_of=inputs.as_of,
    )
    return to_kpi_values(
        counts, kpi="activities", unit="count", as_of=inputs.as_of, value="activities"
    )


def visits_per_rep(inputs: KpiInputs) -> pl.DataFrame:
    """visits_per_rep = visits in the period / reps with at least one activity in the
    period (by team, region).

    Activities without a rep count for no rep. Null where no rep had an activity."""
    rep = pl.col("rep_id")
    rates = aggregate_by_period(
        inputs.activities,
        date="activity_date",
        aggs=[
            (pl.col("type") == "visit").sum().cast(pl.Float64).alias("visits"),
            rep.drop_nulls().n_unique().cast(pl.Float64).alias("reps"),
        ],
        dimensions={"team": "team", "region": "region"},
        as_of=inputs.as_of,
    ).with_columns(safe_ratio(pl.col("visits"), pl.col("reps")).alias("rate"))
    return to_kpi_values(
        rates,
        kpi="visits_per_rep",
        unit="count",
        as_of=inputs.as_of,
        value="rate",
        numerator="visits",
        denominator="reps",
    )


def _customer_keys(inputs: KpiInputs, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its customer_id as the orders' customer keys (where the inputs
    come from a warehouse, ``KpiInputs.customer_ids``); a customer without a key has no
    order, and is left out."""
    if inputs.customer_ids is None:
        return frame
    return (
        frame.join(inputs.customer_ids, on="customer_id", how="inner")
        .drop("customer_id")
        .rename({"key": "customer_id"})
    )


def follow_up_rate(inputs: KpiInputs, follow_up_days: int) -> pl.DataFrame:
    """follow_up_rate = customers with a purchase in the period that had an activity
    within ``follow_up_days`` after a purchase in the period / customers with a purchase
    in the period (回访率).

    After a purchase dated p: an activity of the customer dated p + 1 … p +
    ``follow_up_days`` (the day of the purchase itself is the sale, not a follow-up), on
    or before the as-of date. Purchases: orders not cancelled with a positive net amount.
    """
    purchases = inputs.orders.filter(
        pl.col("is_purchase").fill_null(False) & pl.col("customer_id").is_not_null()
    ).select("customer_id", "order_date")
    touches = (
        _customer_keys(
            inputs,
            inputs.activities.filter(pl.col("customer_id").is_not_null()).select(
                "customer_id", "activity_date"
            ),
        )
        .with_columns(pl.col("customer_id").cast(purchases.schema["customer_id"]))
        .unique()
        .sort("activity_date")
    )
    # the first activity after each purchase day, then whether it is within the window
    next_touch = (
        purchases.with_columns(pl.col("order_date").dt.offset_by("1d").alias("_after"))
        .sort("_after")
        .join_asof(
            touches.rename({"activity_date": "_touch"}),
            left_on="_after",
            right_on="_touch",
            by="customer_id",
            strategy="forward",
            check_sortedness=False,  # both sorted on the date: sorted within each customer
        )
        .with_columns(
            (
                pl.col("_touch").is_not_null()
                & (pl.col("_touch") <= pl.col("order_date").dt.offset_by(f"{follow_up_days}d"))
            ).alias("followed_up")
        )
    )
    rates = aggregate_by_period(
        next_touch,
        date="order_date",
        aggs=[
            pl.col("customer_id").filter(pl.col("followed_up")).n_unique().cast(pl.Float64)
            .alias("followed"),
            pl.col("customer_id").n_unique().cast(pl.Float64).alias("buyers"),
        ],
        dimensions={},
        as_of=inputs.as_of,
    ).with_columns(safe_ratio(pl.col("followed"), pl.col("buyers")).alias("rate"))
    return to_kpi_values(
        rates,
        kpi="follow_up_rate",
        unit="ratio",
        as_of=inputs.as_of,
        value="rate",
        numerator="followed",
        denominator="buyers",
    )


def _first_touch(inputs: KpiInputs) -> pl.DataFrame:
    """The leads with the hours from their creation (the start of the creation day:
    leads carry a date) to their first activity on or after it (null: untouched)."""
    firsts = (
        inputs.activities.filter(pl.col("lead_id").is_not_null())
        .join(inputs.leads.select("lead_id", "created_at"), on="lead_id")
        .filter(pl.col("occurred_at") >= pl.col("created_at").cast(pl.Datetime("us")))
        .group_by("lead_id")
        .agg(pl.col("occurred_at").min().alias("first_touch"))
    )
    hours = (
        pl.col("first_touch") - pl.col("created_at").cast(pl.Datetime("us"))
    ).dt.total_seconds() / 3600
    return inputs.leads.join(firsts, on="lead_id", how="left").with_columns(
        hours.cast(pl.Float64).alias("hours")
    )


def lead_response(inputs: KpiInputs) -> pl.DataFrame:
    """lead_response_hours = median hours from a lead's creation to its first activity,
    over the leads created in the period that have one; lead_untouched_rate = untouched
    leads / leads created in the period.

    An activity is the lead's by its ``lead_id``; only activities on or before the as-of
    date count. A lead's creation has a date only: the hours count from the start of that
    day. Dimensions channel, rep, team, region of the lead."""
    leads = _first_touch(inputs)
    hours = aggregate_by_period(
        leads.filter(pl.col("hours").is_not_null()),
        date="created_at",
        aggs=[pl.col("hours").median().alias("hours")],
        dimensions=LEAD_DIMENSIONS,
        as_of=inputs.as_of,
        fill_gaps=False,
    )
    untouched = aggregate_by_period(
        leads,
        date="created_at",
        aggs=[
            pl.col("hours").is_null().sum().cast(pl.Float64).alias("untouched"),
            pl.len().cast(pl.Float64).alias("leads"),
        ],
        dimensions=LEAD_DIMENSIONS,
        as_of=inputs.as_of,
    ).with_columns(safe_ratio(pl.col("untouched"), pl.col("leads")).alias("rate"))
    return pl.concat(
        [
            to_kpi_values(
                hours, kpi="lead_response_hours", unit="hours", as_of=inputs.as_of, value="hours"
            ),
            to_kpi_values(
                untouched,
                kpi="lead_untouched_rate",
                unit="ratio",
                as_of=inputs.as_of,
                value="rate",
                numerator="untouched",
                denominator="leads",
            ),
        ]
    )


def stale_opportunities(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """``kpi.stale_opportunities`` as of d: the open opportunities with no activity in the
    last ``kpi.stale_days`` days: id, owner, team, region, customer, stage, amount,
    created_at, last activity date, days without activity.

    An activity is the opportunity's by its ``opportunity_id``. Days without activity:
    d − the last activity date, or d − the creation date for an opportunity never
    touched; stale when that is at least ``stale_days`` (a deal created less than
    ``stale_days`` ago is not stale yet; one without a creation date or activity is).
    Sorted by amount, largest first."""
    as_of = inputs.as_of
    last = (
        inputs.activities.filter(pl.col("opportunity_id").is_not_null())
        .group_by("opportunity_id")
        .agg(pl.col("activity_date").max().alias("last_activity_date"))
    )
    since = pl.coalesce("last_activity_date", "created_at")
    open_deals = inputs.with_customer_ids(
        inputs.opportunities.filter(~pl.col("is_closed").fill_null(False))
    )
    table = (
        open_deals.join(last, on="opportunity_id", how="left")
        .with_columns(
            (pl.lit(as_of, dtype=pl.Date) - since).dt.total_days().alias("days_without_activity"),
            pl.lit(as_of, dtype=pl.Date).alias("as_of"),
        )
        .filter(
            pl.col("days_without_activity").is_null()
            | (pl.col("days_without_activity") >= settings.stale_days)
        )
    )
    return table.select([pl.col(c).cast(t) for c, t in STALE_SCHEMA.items()]).sort(
        "amount", "opportunity_id", descending=[True, False], nulls_last=True
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """All activity KPIs in the kpi_values format."""
    return pl.concat(
        [
            activities(inputs),
            visits_per_rep(inputs),
            follow_up_rate(inputs, settings.follow_up_days),
            lead_response(inputs),
        ]
    )
