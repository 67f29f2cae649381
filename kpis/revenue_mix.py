"""Where revenue comes from (docs/kpis.md, management analytics): revenue_yoy,
revenue_new_customers, revenue_existing_customers, new_customer_revenue_share,
revenue_per_rep, channel_revenue_share, roas, and bookings (won opportunity amount, the
actual of bookings targets).

Revenue is that of :mod:`kpis.revenue` (net order-line amounts of orders not cancelled,
by order date; returns lower it). A customer's first purchase date is
:func:`kpis.customers.first_purchase_dates` (the one home of that rule).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.customers import customer_attributes, first_purchase_dates
from kpis.funnel import OPPORTUNITY_DIMENSIONS, won_opportunities
from kpis.inputs import KpiInputs
from kpis.periods import (
    CALENDAR_GRAINS,
    GRAINS,
    WEEK,
    Grain,
    aggregate_by_period,
    period_start,
)
from kpis.revenue import has_weekly_targets, revenue_against_earlier, revenue_by_period
from kpis.values import empty_kpi_values, safe_ratio, to_kpi_values
from schemas.config import KpiSettings

#: dimensions of the revenue split into new and existing customers (the customer's)
CUSTOMER_REVENUE_DIMENSIONS: dict[str, str] = {"segment": "segment", "country": "country"}
#: dimensions of revenue_per_rep (the credited order's or won deal's)
REP_COUNT_DIMENSIONS: dict[str, str] = {"team": "team", "region": "region"}


def revenue_yoy(inputs: KpiInputs) -> pl.DataFrame:
    """revenue_yoy = revenue / revenue of the same period one year earlier − 1 (month,
    quarter, year grains; 29 February compares with 28 February).

    The period a year earlier starts one year before this one (February 2024 against
    February 2023, Q1 2024 against Q1 2023). The open period (to date) is compared with
    the same period last year to the same day, the day moved back one year: as of
    2024-02-29, Q1 2024 (1 January – 29 February) against 1 January – 28 February 2023.
    Null where last year's revenue is 0 or before the data. numerator = this period's
    revenue, denominator = last year's. Dimensions as revenue.
    """
    rows = revenue_against_earlier(inputs, CALENDAR_GRAINS, lambda grain: "-1y").with_columns(
        (safe_ratio(pl.col("revenue"), pl.col("earlier_revenue")) - 1).alias("yoy")
    )
    return to_kpi_values(
        rows,
        kpi="revenue_yoy",
        unit="ratio",
        as_of=inputs.as_of,
        value="yoy",
        numerator="revenue",
        denominator="earlier_revenue",
    )


def _customer_revenue(inputs: KpiInputs) -> pl.DataFrame:
    """Revenue per customer and day (orders not cancelled, ``margin_by_customer``) with
    the customer's first purchase date (null when it has none up to as_of, or for orders
    without a customer) and its segment and country."""
    attributes = customer_attributes(inputs).select(
        "customer_id", *CUSTOMER_REVENUE_DIMENSIONS.values()
    )
    return (
        inputs.lines.margin_by_customer.select(
            "customer_id", pl.col("order_date").cast(pl.Date), pl.col("amount").cast(pl.Float64)
        )
        .join(first_purchase_dates(inputs), on="customer_id", how="left")
        .join(attributes, on="customer_id", how="left")
    )


def new_and_existing_revenue(inputs: KpiInputs) -> pl.DataFrame:
    """Per period and dimension value: ``revenue`` (all orders not cancelled),
    ``new_revenue`` (customers whose first purchase is in the period) and
    ``existing_revenue`` (customers whose first purchase is before the period)."""

    def compute() -> pl.DataFrame:
        rows = _customer_revenue(inputs)
        earliest = rows.select(pl.col("order_date").min()).item()
        first_day = earliest if earliest is not None else inputs.as_of
        parts = []
        for grain in GRAINS:
            first_period = period_start("first_date", grain, first_day)
            this_period = period_start("order_date", grain, first_day)
            amount = pl.col("amount")
            parts.append(
                aggregate_by_period(
                    rows,
                    date="order_date",
                    aggs=[
                        amount.sum().alias("revenue"),
                        amount.filter(first_period == this_period).sum().alias("new_revenue"),
                        amount.filter(first_period < this_period)
                        .sum()
                        .alias("existing_revenue"),
                    ],
                    dimensions=CUSTOMER_REVENUE_DIMENSIONS,
                    as_of=inputs.as_of,
                    first_day=first_day,
                    grains=(grain,),
                )
            )
        return pl.concat(parts)

    return inputs.shared("new_and_existing_revenue", compute)


def revenue_by_customer_age(inputs: KpiInputs) -> pl.DataFrame:
    """revenue_new_customers = revenue from customers whose first purchase is in the
    period; revenue_existing_customers = from customers whose first purchase is before
    it; new_customer_revenue_share = revenue_new_customers / revenue.

    Grain ``all``: every customer's first purchase is in it, so all customer revenue is
    new. Revenue of orders without a customer (or of a customer whose only orders up to
    as_of are returns) is in neither part but in the share's denominator. Dimensions
    segment and country of the customer."""
    rows = new_and_existing_revenue(inputs).with_columns(
        safe_ratio(pl.col("new_revenue"), pl.col("revenue")).alias("share")
    )
    as_of = inputs.as_of
    return pl.concat(
        [
            to_kpi_values(
                rows, kpi="revenue_new_customers", unit="currency", as_of=as_of,
                value="new_revenue",
            ),
            to_kpi_values(
                rows, kpi="revenue_existing_customers", unit="currency", as_of=as_of,
                value="existing_revenue",
            ),
            to_kpi_values(
                rows, kpi="new_customer_revenue_share", unit="ratio", as_of=as_of,
                value="share", numerator="new_revenue", denominator="revenue",
            ),
        ]
    )


def credited_reps(inputs: KpiInputs) -> pl.DataFrame:
    """One row per credit of a rep: date, rep, team, region, for every order not
    cancelled with a rep (order date; the order's team and region) and every opportunity
    won up to as_of with an owner (close date; the opportunity's team and region)."""
    orders = inputs.orders.filter(
        ~pl.col("is_cancelled").fill_null(False) & pl.col("rep_id").is_not_null()
    ).select(
        pl.col("order_date").cast(pl.Date).alias("date"),
        pl.col("rep_id").cast(pl.String).alias("rep"),
        pl.col("team").cast(pl.String),
        pl.col("region").cast(pl.String),
    )
    won = won_opportunities(inputs.opportunities, inputs.as_of).filter(
        pl.col("owner_rep_id").is_not_null()
    ).select(
        pl.col("close_date").cast(pl.Date).alias("date"),
        pl.col("owner_rep_id").cast(pl.String).alias("rep"),
        pl.col("team").cast(pl.String),
        pl.col("region").cast(pl.String),
    )
    return pl.concat([orders, won])


def revenue_per_rep(inputs: KpiInputs) -> pl.DataFrame:
    """revenue_per_rep = revenue / reps credited with at least one order or won deal in
    the period (by team, region).

    A rep is credited in a period with an order not cancelled that names it (order
    date) or an opportunity it owns won in the period (close date); for ``team`` and
    ``region`` the order's (or deal's) team and region, as revenue has them. A rep who
    left keeps the credit of the periods in which it sold. numerator = revenue,
    denominator = credited reps; null without a credited rep, 0 for credited reps
    without revenue (a team that only won deals)."""
    reps = aggregate_by_period(
        credited_reps(inputs),
        date="date",
        aggs=[pl.col("rep").n_unique().cast(pl.Float64).alias("reps")],
        dimensions=REP_COUNT_DIMENSIONS,
        as_of=inputs.as_of,
        fill_gaps=False,
    )
    revenue = revenue_by_period(inputs).filter(
        pl.col("grain").is_in(GRAINS)
        & pl.col("dimension").is_in(["all", *REP_COUNT_DIMENSIONS])
    )
    keys = ["grain", "period_start", "period_end", "dimension", "dimension_value"]
    # grain ``all`` starts on the first order for revenue and on the first credit for
    # the reps: one period, the revenue's (else the credits')
    revenue_all = revenue.filter(pl.col("grain") == "all")
    reps_all = reps.filter(pl.col("grain") == "all")
    if revenue_all.height:
        reps_all = reps_all.drop("period_start", "period_end").join(
            revenue_all.select("grain", "period_start", "period_end").unique(), on="grain"
        )
    rows = (
        pl.concat(
            [
                revenue.filter(pl.col("grain") != "all").join(
                    reps.filter(pl.col("grain") != "all").select(*keys, "reps"),
                    on=keys,
                    how="full",
                    coalesce=True,
                ),
                revenue_all.join(reps_all.select(*keys, "reps"), on=keys, how="full", coalesce=True),
            ],
            how="vertical_relaxed",
        )
        .with_columns(pl.col("revenue").fill_null(0.0), pl.col("reps").fill_null(0.0))
        .with_columns(safe_ratio(pl.col("revenue"), pl.col("reps")).alias("per_rep"))
    )
    return to_kpi_values(
        rows,
        kpi="revenue_per_rep",
        unit="currency",
        as_of=inputs.as_of,
        value="per_rep",
        numerator="revenue",
        denominator="reps",
    )


def channel_revenue_share(inputs: KpiInputs) -> pl.DataFrame:
    """channel_revenue_share = revenue of the channel / revenue (dimension ``channel``
    only: the order's channel, else the customer's acquisition channel). The shares of
    a period add up to 1. Null where the period's revenue is 0."""
    revenue = revenue_by_period(inputs).filter(pl.col("grain").is_in(GRAINS))
    total = revenue.filter(pl.col("dimension") == "all").select(
        "grain", "period_start", pl.col("revenue").alias("total")
    )
    rows = (
        revenue.filter(pl.col("dimension") == "channel")
        .join(total, on=["grain", "period_start"], how="left")
        .with_columns(safe_ratio(pl.col("revenue"), pl.col("total")).alias("share"))
    )
    return to_kpi_values(
        rows,
        kpi="channel_revenue_share",
        unit="ratio",
        as_of=inputs.as_of,
        value="share",
        numerator="revenue",
        denominator="total",
    )


def roas(inputs: KpiInputs) -> pl.DataFrame:
    """roas = revenue of the channel in the period / marketing spend of the channel in
    the period (``all`` = revenue / total spend).

    Spend is ``fct_marketing_spend.amount`` in the period of its ``period_start`` and
    its own channel; revenue by the order's channel (as channel_revenue_share). A channel
    with spend and no revenue has roas 0; revenue and no spend, null. Without any
    marketing spend data roas is not reported (unknown, not infinite)."""
    spend = inputs.marketing_spend.select(
        pl.col("period_start").cast(pl.Date).alias("spend_date"),
        pl.col("channel").cast(pl.String),
        pl.col("amount").cast(pl.Float64).fill_null(0.0).alias("spend"),
    ).filter(pl.col("spend_date") <= inputs.as_of)
    if spend.is_empty():
        return empty_kpi_values()
    revenue = revenue_by_period(inputs).filter(
        pl.col("grain").is_in(GRAINS) & pl.col("dimension").is_in(["all", "channel"])
    )
    calendar = aggregate_by_period(
        spend,
        date="spend_date",
        aggs=[pl.col("spend").sum()],
        dimensions={"channel": "channel"},
        as_of=inputs.as_of,
        grains=CALENDAR_GRAINS,
    )
    # grain ``all``: every spend up to as_of, on revenue's single ``all`` period
    whole = pl.concat(
        [
            spend.select(pl.lit("all").alias("dimension_value"), "spend"),
            spend.select(pl.col("channel").fill_null("unknown").alias("dimension_value"), "spend"),
        ]
    )
    whole = whole.with_columns(
        pl.when(pl.col("dimension_value") == "all")
        .then(pl.lit("all"))
        .otherwise(pl.lit("channel"))
        .alias("dimension")
    ).group_by("dimension", "dimension_value").agg(pl.col("spend").sum())
    revenue_all = revenue.filter(pl.col("grain") == "all")
    all_period = revenue_all.select("grain", "period_start", "period_end").unique()
    if all_period.is_empty():
        all_period = pl.DataFrame(
            {
                "grain": ["all"],
                "period_start": [spend.get_column("spend_date").min()],
                "period_end": [inputs.as_of + dt.timedelta(days=1)],
            }
        )
    keys = ["grain", "period_start", "period_end", "dimension", "dimension_value"]
    rows = pl.concat(
        [
            revenue.filter(pl.col("grain") != "all").join(
                calendar.select(*keys, "spend"), on=keys, how="full", coalesce=True
            ),
            revenue_all.select(*keys, "revenue").join(
                whole.join(all_period, how="cross").select(*keys, "spend"),
                on=keys,
                how="full",
                coalesce=True,
            ),
        ],
        how="vertical_relaxed",
    ).with_columns(
        pl.col("revenue").fill_null(0.0),
        pl.col("spend").fill_null(0.0),
    ).with_columns(safe_ratio(pl.col("revenue"), pl.col("spend")).alias("roas"))
    return to_kpi_values(
        rows,
        kpi="roas",
        unit="ratio",
        as_of=inputs.as_of,
        value="roas",
        numerator="revenue",
        denominator="spend",
    )


def bookings_grains(inputs: KpiInputs) -> tuple[Grain, ...]:
    """The grains of bookings: month, quarter, year, all, and week with weekly targets."""
    return (WEEK, *GRAINS) if has_weekly_targets(inputs) else GRAINS


def bookings(inputs: KpiInputs) -> pl.DataFrame:
    """bookings = amount of the opportunities won in the period, by close date (up to
    as_of; a missing amount counts as 0): the actual of a bookings target. Dimensions
    those of the opportunity."""
    won = won_opportunities(inputs.opportunities, inputs.as_of)
    rows = aggregate_by_period(
        won,
        date="close_date",
        aggs=[pl.col("amount").fill_null(0).sum().cast(pl.Float64).alias("bookings")],
        dimensions=OPPORTUNITY_DIMENSIONS,
        as_of=inputs.as_of,
        grains=bookings_grains(inputs),
    )
    return to_kpi_values(
        rows, kpi="bookings", unit="currency", as_of=inputs.as_of, value="bookings"
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """All revenue-mix KPIs in the kpi_values format (``settings`` is not needed here)."""
    del settings
    return pl.concat(
        [
            revenue_yoy(inputs),
            revenue_by_customer_age(inputs),
            revenue_per_rep(inputs),
            channel_revenue_share(inputs),
            roas(inputs),
            bookings(inputs),
        ]
    )
