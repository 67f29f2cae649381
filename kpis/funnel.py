"""Funnel KPIs (docs/kpis.md): win_rate, win_rate_amount, lead_conversion_rate,
stage_conversion_rate.

Opportunities are closed in the period of their close date (up to as_of); leads and the
stage conversion of opportunities belong to the period in which they were created.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.inputs import KpiInputs
from kpis.periods import aggregate_by_period
from kpis.values import safe_ratio, to_kpi_values
from schemas.config import KpiSettings

#: dimension name -> fct_opportunities column
OPPORTUNITY_DIMENSIONS: dict[str, str] = {
    "region": "region",
    "team": "team",
    "rep": "owner_rep_id",
    "channel": "channel",
    "product_category": "product_category",
    "segment": "segment",
    "country": "country",
}
#: dimension name -> fct_leads column
LEAD_DIMENSIONS: dict[str, str] = {
    "channel": "channel",
    "rep": "owner_rep_id",
    "team": "team",
    "region": "region",
}
#: the canonical open funnel stages and their order (fct_opportunities.stage_order)
FUNNEL_STAGES: dict[str, int] = {
    "lead": 1,
    "qualification": 2,
    "needs_analysis": 3,
    "proposal": 4,
    "negotiation": 5,
}
#: dimensions of the per-stage conversion rates (``stage_conversion_rate.<stage>``)
STAGE_CONVERSION_DIMENSIONS: dict[str, str] = {
    "rep": "owner_rep_id",
    "team": "team",
    "region": "region",
    "channel": "channel",
}


def stage_kpi_id(stage: str) -> str:
    """The kpi_values id of one stage's conversion rate by owner:
    ``stage_conversion_rate.proposal``."""
    return f"stage_conversion_rate.{stage}"


def closed_opportunities(opportunities: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Opportunities won or lost with a close date up to ``as_of``."""
    return opportunities.filter(
        (pl.col("is_won").fill_null(False) | pl.col("is_lost").fill_null(False))
        & (pl.col("close_date") <= as_of)
    )


def won_opportunities(opportunities: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Opportunities won with a close date up to ``as_of``."""
    return opportunities.filter(pl.col("is_won").fill_null(False) & (pl.col("close_date") <= as_of))


def _closed_by_period(inputs: KpiInputs) -> pl.DataFrame:
    """Won and closed counts and amounts per period and dimension value (computed once
    per inputs: win_rate and win_rate_amount share them)."""
    won = pl.col("is_won").fill_null(False)
    lost = pl.col("is_lost").fill_null(False)
    amount = pl.col("amount").fill_null(0)
    return inputs.shared(
        "closed_by_period",
        lambda: aggregate_by_period(
            closed_opportunities(inputs.opportunities, inputs.as_of),
            date="close_date",
            aggs=[
                won.sum().cast(pl.Float64).alias("won"),
                (won | lost).sum().cast(pl.Float64).alias("closed"),
                pl.when(won).then(amount).otherwise(0).sum().alias("won_amount"),
                amount.sum().alias("closed_amount"),
            ],
            dimensions=OPPORTUNITY_DIMENSIONS,
            as_of=inputs.as_of,
        ),
    )


def win_rate(inputs: KpiInputs) -> pl.DataFrame:
    """win_rate = won / (won + lost) opportunities closed in the period (count based).

    Closed in the period = close date in the period and up to as_of. Null where nothing
    closed.
    """
    rates = _closed_by_period(inputs).with_columns(
        safe_ratio(pl.col("won"), pl.col("closed")).alias("rate")
    )
    return to_kpi_values(
        rates,
        kpi="win_rate",
        unit="ratio",
        as_of=inputs.as_of,
        value="rate",
        numerator="won",
        denominator="closed",
    )


def win_rate_amount(inputs: KpiInputs) -> pl.DataFrame:
    """win_rate_amount = won amount / (won + lost amount), closed in the period.

    A missing amount counts as 0. Null where the closed amount is 0.
    """
    rates = _closed_by_period(inputs).with_columns(
        safe_ratio(pl.col("won_amount"), pl.col("closed_amount")).alias("rate")
    )
    return to_kpi_values(
        rates,
        kpi="win_rate_amount",
        unit="ratio",
        as_of=inputs.as_of,
        value="rate",
        numerator="won_amount",
        denominator="closed_amount",
    )


def lead_conversion_rate(inputs: KpiInputs) -> pl.DataFrame:
    """lead_conversion_rate = leads created in the period that converted (a won
    opportunity or a customer linked to the lead) by as_of / leads created in the period.

    Converted by as_of = ``fct_leads.converted_date`` (the earliest conversion) on or
    before as_of. Dimensions channel, rep, team, region of the lead.
    """
    converted = pl.col("converted_date").is_not_null() & (pl.col("converted_date") <= inputs.as_of)
    rates = aggregate_by_period(
        inputs.leads,
        date="created_at",
        aggs=[
            converted.sum().cast(pl.Float64).alias("converted"),
            pl.len().cast(pl.Float64).alias("leads"),
        ],
        dimensions=LEAD_DIMENSIONS,
        as_of=inputs.as_of,
    ).with_columns(safe_ratio(pl.col("converted"), pl.col("leads")).alias("rate"))
    return to_kpi_values(
        rates,
        kpi="lead_conversion_rate",
        unit="ratio",
        as_of=inputs.as_of,
        value="rate",
        numerator="converted",
        denominator="leads",
    )


def stage_conversion_rate(inputs: KpiInputs) -> pl.DataFrame:
    """stage_conversion_rate, per funnel stage k: opportunities that reached the next
    stage / opportunities that reached stage k (dimension ``stage``).

    Stages lead, qualification, needs_analysis, proposal, negotiation (orders 1..5);
    reached k = ``max_stage_order_reached`` ≥ k (won opportunities reached 5); the next
    stage of negotiation is won. Opportunities belong to the period of their creation
    (without a creation date: grain ``all`` only); unmapped stages reach nothing. A deal
    that skipped a stage (lead straight to proposal) reached and passed the stages it
    skipped.

    By owner: kpi ``stage_conversion_rate.<stage>`` (``stage_kpi_id``; kpi_values has
    one dimension column) holds the rate of one stage for ``all`` and by the
    opportunity's rep, team, region and channel.
    """
    stages = pl.DataFrame(
        {"stage_name": list(FUNNEL_STAGES), "k": list(FUNNEL_STAGES.values())},
        schema={"stage_name": pl.String, "k": pl.Int64},
    )
    reached = pl.col("max_stage_order_reached")
    advanced = (
        pl.when(pl.col("k") < len(FUNNEL_STAGES))
        .then(reached >= pl.col("k") + 1)
        .otherwise(pl.col("is_won").fill_null(False))
    )
    per_stage = (
        inputs.opportunities.select(
            "created_at", "max_stage_order_reached", "is_won", *STAGE_CONVERSION_DIMENSIONS.values()
        )
        .join(stages, how="cross")
        .filter(reached >= pl.col("k"))
        .with_columns(advanced.alias("advanced"))
    )
    by_owner = [
        to_kpi_values(
            aggregate_by_period(
                rows,
                date="created_at",
                aggs=[
                    pl.col("advanced").sum().cast(pl.Float64).alias("advanced"),
                    pl.len().cast(pl.Float64).alias("reached"),
                ],
                dimensions=STAGE_CONVERSION_DIMENSIONS,
                as_of=inputs.as_of,
            ).with_columns(safe_ratio(pl.col("advanced"), pl.col("reached")).alias("rate")),
            kpi=stage_kpi_id(str(stage)),
            unit="ratio",
            as_of=inputs.as_of,
            value="rate",
            numerator="advanced",
            denominator="reached",
        )
        for (stage,), rows in per_stage.partition_by(
            "stage_name", as_dict=True, maintain_order=True
        ).items()
    ]
    rates = (
        aggregate_by_period(
            per_stage,
            date="created_at",
            aggs=[
                pl.col("advanced").sum().cast(pl.Float64).alias("advanced"),
                pl.len().cast(pl.Float64).alias("reached"),
            ],
            dimensions={"stage": "stage_name"},
            as_of=inputs.as_of,
        )
        .filter(pl.col("dimension") == "stage")
        .with_columns(safe_ratio(pl.col("advanced"), pl.col("reached")).alias("rate"))
    )
    return pl.concat(
        [
            to_kpi_values(
                rates,
                kpi="stage_conversion_rate",
                unit="ratio",
                as_of=inputs.as_of,
                value="rate",
                numerator="advanced",
                denominator="reached",
            ),
            *by_owner,
        ]
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """All funnel KPIs in the kpi_values format (``settings`` is not needed here)."""
    del settings
    return pl.concat(
        [
            win_rate(inputs),
            win_rate_amount(inputs),
            lead_conversion_rate(inputs),
            stage_conversion_rate(inputs),
        ]
    )
