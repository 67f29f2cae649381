"""The forecast (docs/kpis.md, "Forecast"): revenue_forecast, bookings_forecast,
forecast_accuracy and the table ``kpi.forecast``.

As of a day d, for the period of each forecast grain (month, quarter) that contains d
and the next two:

    forecast = actual to date
             + Σ over the opportunities open on d with a close date in the period of
               amount × probability on d
             + (revenue only) daily run-rate × days left in the period

- **actual to date**: revenue (kpis.revenue) of the period up to d; bookings = amount
  of the opportunities won with a close date in the period up to d. 0 for a period
  that starts after d.
- **open on d, probability on d**: the opportunity's stage on d (kpis.stages.stage_on:
  the stage history, else the stages derived from the nightly snapshots) is an open
  funnel stage; it weighs with the opportunity's probability while that stage is still
  its current one, else with the default probability of the stage it was in on d (a
  later stage change does not move a forecast made before it). Amount and close date
  are the opportunity's (a missing amount counts 0). Overdue deals whose close date is
  in an earlier period count in no period.
- **run-rate** (revenue only): the revenue of the ``RUN_RATE_DAYS`` (90) days ending on
  d of the orders not linked to an opportunity, divided by 90. An order is linked to an
  opportunity when its customer won one in the 90 days up to the order date (close date
  ≤ order date < close date + 90 days): such orders deliver deals the pipeline already
  counts. **Days left** = the days of the period after d (all of them for a later period).

A forecast as of a past date uses only what was known on that date: orders and closes
up to it, the stages entered by it. ``forecast_accuracy`` of a closed period (one that
ended by as_of, within the last ``ACCURACY_YEARS`` years) for the forecasts made at the
period's start, at 1/3 and at 2/3 of it (dimension ``lead``: ``start``, ``third``,
``two_thirds``; made as of the period's first day, and as of its first day + ⌊n/3⌋ and
+ ⌊2n/3⌋ days for a period of n days):

    forecast_accuracy = 1 − |forecast − actual| / actual

(numerator = the forecast, denominator = the actual; null where the actual is 0). Kpi
ids ``forecast_accuracy`` (revenue) and ``forecast_accuracy.bookings``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kpis.funnel import FUNNEL_STAGES, won_opportunities
from kpis.inputs import KpiInputs
from kpis.periods import PERIOD_STEP, Grain, period_start, shift_date
from kpis.revenue import daily_revenue
from kpis.stages import stage_on
from kpis.values import empty_kpi_values, to_kpi_values
from schemas.config import KpiSettings

FORECAST_GRAINS: tuple[Grain, ...] = ("month", "quarter")
FORECAST_METRICS: tuple[str, ...] = ("revenue", "bookings")
#: the open period and the next two
HORIZON = 3
RUN_RATE_DAYS = 90
#: forecast_accuracy covers the periods that ended within this many years before as_of
ACCURACY_YEARS = 2
LEADS: dict[str, int] = {"start": 0, "third": 1, "two_thirds": 2}

FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "kpi": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "value": pl.Float64(),
    "actual_to_date": pl.Float64(),
    "pipeline": pl.Float64(),
    "run_rate_daily": pl.Float64(),
    "days_left": pl.Int64(),
    "run_rate": pl.Float64(),
    "target": pl.Float64(),
}


def forecast_kpi_id(metric: str) -> str:
    """``revenue_forecast`` or ``bookings_forecast``."""
    return f"{metric}_forecast"


def _periods(day: dt.date, grain: Grain) -> list[tuple[dt.date, dt.date]]:
    """The period of ``grain`` containing ``day`` and the next HORIZON − 1: (start, end)."""
    start = pl.select(period_start(pl.lit(day, dtype=pl.Date), grain)).item()
    out = []
    for _ in range(HORIZON):
        end = shift_date(start, PERIOD_STEP[grain])
        out.append((start, end))
        start = end
    return out


def linked_orders_excluded_run_rate(inputs: KpiInputs, day: dt.date) -> float:
    """The daily run-rate on ``day``: revenue of the 90 days ending on ``day`` of the
    orders not linked to an opportunity / 90."""
    first = day - dt.timedelta(days=RUN_RATE_DAYS - 1)
    orders = inputs.orders.filter(
        ~pl.col("is_cancelled").fill_null(False)
        & pl.col("order_date").is_between(first, day)
    ).select(
        pl.int_range(pl.len()).alias("_row"),
        "customer_id",
        pl.col("order_date").cast(pl.Date),
        pl.col("net_amount").cast(pl.Float64).fill_null(0.0),
    )
    wins = won_opportunities(inputs.opportunities, day).filter(
        pl.col("customer_id").is_not_null()
    ).select("customer_id", pl.col("close_date").cast(pl.Date))
    linked = (
        orders.filter(pl.col("customer_id").is_not_null())
        .join(wins, on="customer_id")
        .filter(
            (pl.col("close_date") <= pl.col("order_date"))
            & (pl.col("order_date") < pl.col("close_date") + pl.duration(days=RUN_RATE_DAYS))
        )
        .select("_row")
        .unique()
    )
    unlinked = orders.join(linked, on="_row", how="anti")
    return float(unlinked.get_column("net_amount").sum()) / RUN_RATE_DAYS


def forecast_as_of(
    inputs: KpiInputs, day: dt.date, grains: tuple[Grain, ...] = FORECAST_GRAINS
) -> pl.DataFrame:
    """The forecasts made as of ``day`` (on or before as_of): one row per metric, grain
    and period (the one containing ``day`` and the next two) with the columns of
    ``FORECAST_SCHEMA`` but ``target``."""
    revenue_days = daily_revenue(inputs).filter(
        (pl.col("dimension") == "all") & (pl.col("order_date") <= day)
    )
    won = won_opportunities(inputs.opportunities, day).select(
        pl.col("close_date").cast(pl.Date), pl.col("amount").cast(pl.Float64).fill_null(0.0)
    )
    stages = stage_on(inputs, day).filter(pl.col("stage").is_in(list(FUNNEL_STAGES)))
    open_deals = inputs.opportunities.select(
        "opportunity_id",
        pl.col("close_date").cast(pl.Date),
        pl.col("amount").cast(pl.Float64).fill_null(0.0),
    ).join(stages.select("opportunity_id", "probability"), on="opportunity_id")
    run_rate = linked_orders_excluded_run_rate(inputs, day)
    rows = []
    for grain in grains:
        for start, end in _periods(day, grain):
            last_known = min(day, end - dt.timedelta(days=1))
            days_left = max((end - max(start, day + dt.timedelta(days=1))).days, 0)
            pipeline = float(
                open_deals.filter(pl.col("close_date").is_between(start, end, closed="left"))
                .select((pl.col("amount") * pl.col("probability").fill_null(0.0)).sum())
                .item()
            )
            for metric in FORECAST_METRICS:
                if metric == "revenue":
                    actual = float(
                        revenue_days.filter(pl.col("order_date").is_between(start, last_known))
                        .get_column("amount")
                        .sum()
                    )
                    daily = run_rate
                else:
                    actual = float(
                        won.filter(pl.col("close_date").is_between(start, last_known))
                        .get_column("amount")
                        .sum()
                    )
                    daily = 0.0
                rows.append(
                    {
                        "as_of": day,
                        "kpi": forecast_kpi_id(metric),
                        "grain": grain,
                        "period_start": start,
                        "period_end": end,
                        "value": actual + pipeline + daily * days_left,
                        "actual_to_date": actual,
                        "pipeline": pipeline,
                        "run_rate_daily": daily,
                        "days_left": days_left,
                        "run_rate": daily * days_left,
                    }
                )
    schema = {name: dtype for name, dtype in FORECAST_SCHEMA.items() if name != "target"}
    return pl.DataFrame(rows, schema=schema, orient="row")


def forecast_table(inputs: KpiInputs, settings: KpiSettings | None = None) -> pl.DataFrame:
    """kpi.forecast rows of this night: the forecasts as of as_of, with the company
    target of the metric for the period (null without one)."""
    del settings
    made = forecast_as_of(inputs, inputs.as_of)
    company = inputs.targets.filter(pl.col("level") == "company").select(
        pl.concat_str(pl.col("metric"), pl.lit("_forecast")).alias("kpi"),
        pl.col("grain").cast(pl.String),
        pl.col("period_start").cast(pl.Date),
        pl.col("target_value").cast(pl.Float64).alias("target"),
    ).group_by("kpi", "grain", "period_start").agg(pl.col("target").sum())
    return made.join(company, on=["kpi", "grain", "period_start"], how="left").select(
        list(FORECAST_SCHEMA)
    )


def forecast_values(inputs: KpiInputs) -> pl.DataFrame:
    """revenue_forecast and bookings_forecast as kpi_values rows (dimension ``all``)."""
    made = forecast_as_of(inputs, inputs.as_of).with_columns(
        pl.lit("all").alias("dimension"), pl.lit("all").alias("dimension_value")
    )
    return pl.concat(
        [
            to_kpi_values(rows, kpi=str(kpi), unit="currency", as_of=inputs.as_of)
            for (kpi,), rows in made.partition_by("kpi", as_dict=True, maintain_order=True).items()
        ]
    )


def forecast_accuracy(inputs: KpiInputs) -> pl.DataFrame:
    """forecast_accuracy = 1 − |forecast − actual| / actual for the closed periods of the
    last ``ACCURACY_YEARS`` years, per lead (start, third, two_thirds)."""
    first_data = daily_revenue(inputs).get_column("order_date").min()
    if not isinstance(first_data, dt.date):
        return empty_kpi_values()
    horizon = shift_date(inputs.as_of, f"-{ACCURACY_YEARS}y")
    day_after = inputs.as_of + dt.timedelta(days=1)
    parts = []
    for grain in FORECAST_GRAINS:
        first = max(horizon, first_data)
        start = pl.select(period_start(pl.lit(first, dtype=pl.Date), grain)).item()
        while True:
            end = shift_date(start, PERIOD_STEP[grain])
            if end > day_after:
                break
            length = (end - start).days
            actuals = forecast_as_of(inputs, end - dt.timedelta(days=1), (grain,)).filter(
                pl.col("period_start") == start
            )
            for lead, thirds in LEADS.items():
                made_on = start + dt.timedelta(days=length * thirds // 3)
                made = forecast_as_of(inputs, made_on, (grain,)).filter(
                    pl.col("period_start") == start
                )
                parts.append(
                    made.select(
                        "kpi", "grain", "period_start", "period_end",
                        pl.col("value").alias("forecast"),
                    )
                    .join(
                        actuals.select("kpi", pl.col("actual_to_date").alias("actual")),
                        on="kpi",
                    )
                    .with_columns(pl.lit(lead).alias("dimension_value"))
                )
            start = end
    if not parts:
        return empty_kpi_values()
    rows = pl.concat(parts).with_columns(
        pl.lit("lead").alias("dimension"),
        pl.when(pl.col("actual") != 0)
        .then(1 - (pl.col("forecast") - pl.col("actual")).abs() / pl.col("actual"))
        .otherwise(None)
        .alias("value"),
        pl.when(pl.col("kpi") == "revenue_forecast")
        .then(pl.lit("forecast_accuracy"))
        .otherwise(pl.lit("forecast_accuracy.bookings"))
        .alias("accuracy_kpi"),
    )
    return pl.concat(
        [
            to_kpi_values(
                part, kpi=str(kpi), unit="ratio", as_of=inputs.as_of,
                numerator="forecast", denominator="actual",
            )
            for (kpi,), part in rows.partition_by(
                "accuracy_kpi", as_dict=True, maintain_order=True
            ).items()
        ]
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """revenue_forecast, bookings_forecast and forecast_accuracy in the kpi_values format."""
    del settings
    return pl.concat([forecast_values(inputs), forecast_accuracy(inputs)])
