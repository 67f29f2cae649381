"""Calendar periods (docs/kpis.md): month, quarter, year and all, plus ISO weeks (Monday
start) where targets are weekly; ``period_end`` is exclusive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal

import polars as pl

from kpis.values import UNKNOWN

Grain = Literal["week", "month", "quarter", "year", "all"]
GRAINS: tuple[Grain, ...] = ("month", "quarter", "year", "all")
CALENDAR_GRAINS: tuple[Grain, ...] = ("month", "quarter", "year")
#: the grain of ISO weeks (Monday to Sunday): revenue, bookings and the target KPIs have
#: it when a target is weekly (docs/kpis.md)
WEEK: Grain = "week"
_TRUNC = {"week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}
#: grain -> the polars offset of one period
PERIOD_STEP = {"week": "1w", "month": "1mo", "quarter": "3mo", "year": "1y"}


def period_start(column: str | pl.Expr, grain: Grain, first_day: dt.date | None = None) -> pl.Expr:
    """Start of the period containing each date (``first_day`` for grain ``all``)."""
    expr = pl.col(column) if isinstance(column, str) else column
    if grain == "all":
        return pl.lit(first_day, dtype=pl.Date)
    return expr.cast(pl.Date).dt.truncate(_TRUNC[grain])


def next_period_start(start: pl.Expr, grain: Grain) -> pl.Expr:
    """Start of the following period (the exclusive end of the period at ``start``)."""
    months = PERIOD_STEP[grain] if grain != "all" else "0d"
    return start.dt.offset_by(months)


def previous_period_start(start: pl.Expr, grain: Grain) -> pl.Expr:
    """Start of the preceding period of the same grain."""
    months = f"-{PERIOD_STEP[grain]}" if grain != "all" else "0d"
    return start.dt.offset_by(months)


def shift_date(day: dt.date, offset: str) -> dt.date:
    """``day`` moved by a polars offset (``-3mo``, ``-1y``, ``-1w``), the day of month
    clamped to the target month's last day: 2024-02-29 - 1y = 2023-02-28,
    2024-05-31 - 3mo = 2024-02-29."""
    shifted = pl.select(pl.lit(day, dtype=pl.Date).dt.offset_by(offset)).item()
    assert isinstance(shifted, dt.date)
    return shifted


def previous_to_date(as_of: dt.date, grain: Grain) -> dt.date:
    """The day of the previous period of ``grain`` that corresponds to ``as_of``: the
    last day of "the previous period to the same day" (docs/kpis.md, open periods compare
    like with like). 2024-11-15 for a quarter -> 2024-08-15; 2024-03-31 for a month ->
    2024-02-29."""
    return shift_date(as_of, f"-{PERIOD_STEP[grain]}")


def is_partial(period_start: dt.date, period_end: dt.date, as_of: dt.date) -> bool:
    """Whether a period is open on ``as_of`` and not complete: it contains ``as_of`` and
    ``as_of`` is not its last day (a period whose last day is the as-of date is whole)."""
    return period_start <= as_of and as_of + dt.timedelta(days=1) < period_end


def period_grid(first_day: dt.date, as_of: dt.date, grain: Grain) -> pl.DataFrame:
    """All periods from the one containing ``first_day`` to the one containing ``as_of``.

    Columns: grain, period_start, period_end (exclusive). For grain ``all`` a single
    period from ``first_day`` to the day after ``as_of``.
    """
    if grain == "all":
        return pl.DataFrame(
            {
                "grain": ["all"],
                "period_start": [first_day],
                "period_end": [as_of + dt.timedelta(days=1)],
            },
            schema={"grain": pl.String, "period_start": pl.Date, "period_end": pl.Date},
        )
    starts = pl.date_range(
        pl.lit(first_day).dt.truncate(_TRUNC[grain]),
        pl.lit(as_of).dt.truncate(_TRUNC[grain]),
        interval=PERIOD_STEP[grain],
        eager=True,
    )
    return pl.DataFrame({"period_start": starts}).select(
        pl.lit(grain).alias("grain"),
        pl.col("period_start"),
        next_period_start(pl.col("period_start"), grain).alias("period_end"),
    )


def dimension_value(column: str) -> pl.Expr:
    """The value of a dimension held by ``column``, as text; missing is ``unknown``
    (docs/kpis.md: reported, never dropped)."""
    return pl.col(column).cast(pl.String).fill_null(UNKNOWN)


def grouping_value(column: str, dtype: pl.DataType) -> pl.Expr:
    """What rows are grouped on for a dimension held by ``column``: the categories
    themselves for a Categorical column (missing is the category ``unknown``, so the
    groups are those of :func:`dimension_value`), whose integer codes group much faster
    than their text; :func:`dimension_value` otherwise. Cast to text after grouping."""
    if isinstance(dtype, pl.Categorical):
        return pl.col(column).fill_null(pl.lit(UNKNOWN, dtype=dtype))
    return dimension_value(column)


def aggregate_by_period(
    frame: pl.DataFrame,
    *,
    date: str,
    aggs: Sequence[pl.Expr],
    dimensions: Mapping[str, str],
    as_of: dt.date,
    first_day: dt.date | None = None,
    grains: Sequence[Grain] = GRAINS,
    fill_gaps: bool = True,
) -> pl.DataFrame:
    """Aggregate rows per calendar period of every grain and per dimension value.

    Each row falls into the period of its ``date`` column (rows after ``as_of`` are left
    out; grain ``all`` runs from ``first_day``, default the earliest date, through
    ``as_of`` and also holds rows without a date). The dimension ``all`` plus one per
    entry of ``dimensions`` (name -> column; a missing value is ``unknown``).

    Returns grain, period_start, period_end, dimension, dimension_value and one column
    per aggregation. With ``fill_gaps`` (for sums and counts only) every period of the
    grid gets a row, with 0 where nothing happened: for dimension ``all`` every period
    from ``first_day`` to ``as_of``, for a dimension value every period from the first
    one in which it appears.

    The rows are grouped once per grain and dimension, directly on ``frame`` (no copy of
    the rows per dimension), so any aggregation works, distinct counts and medians
    included; the period of each row is computed once per grain, and the groupings run
    together in one lazy query.
    """
    day = pl.col(date).cast(pl.Date)
    rows = frame.lazy().filter(day.is_null() | (day <= as_of))
    if first_day is None:
        earliest = rows.select(day.min()).collect().item()
        first_day = earliest if earliest is not None else as_of
    rows = rows.filter(day.is_null() | (day >= first_day))
    names = [agg.meta.output_name() for agg in aggs]
    keys = ["dimension", "dimension_value"]
    schema = rows.collect_schema()
    values = {"all": pl.lit("all", dtype=pl.String)} | {
        name: grouping_value(column, schema[column]) for name, column in dimensions.items()
    }
    dated = rows.with_columns(
        period_start(day, grain, first_day).alias(f"_start_{grain}") for grain in grains
    )
    groupings = [
        dated.group_by(
            pl.col(f"_start_{grain}").alias("period_start"),
            value.alias("dimension_value"),
        )
        .agg(aggs)
        .filter(pl.col("period_start").is_not_null())  # no date: grain ``all`` only
        .select(
            pl.lit(grain, dtype=pl.String).alias("grain"),
            pl.lit(name, dtype=pl.String).alias("dimension"),
            pl.col("dimension_value").cast(pl.String),
            "period_start",
            *names,
        )
        for grain in grains
        for name, value in values.items()
    ]
    if not groupings:
        raise ValueError("aggregate_by_period needs at least one grain")
    totals = pl.concat(groupings, how="vertical_relaxed").collect()

    parts = []
    for grain in grains:
        grid = period_grid(first_day, as_of, grain)
        in_grain = totals.filter(pl.col("grain") == grain).drop("grain")
        if fill_gaps:
            grid_start = pl.lit(grid.get_column("period_start").min(), dtype=pl.Date)
            company = pl.DataFrame({"dimension": ["all"], "dimension_value": ["all"]}).with_columns(
                grid_start.alias("first_seen")
            )
            first_seen = pl.concat(
                [
                    company,
                    in_grain.filter(pl.col("dimension") != "all")
                    .group_by(keys)
                    .agg(pl.col("period_start").min().alias("first_seen")),
                ]
            )
            result = (
                first_seen.join(grid, how="cross")
                .filter(pl.col("period_start") >= pl.col("first_seen"))
                .join(in_grain, on=[*keys, "period_start"], how="left")
                .with_columns(pl.col(names).fill_null(0))
            )
        else:
            result = grid.join(in_grain, on="period_start", how="inner")
        parts.append(result.select("grain", "period_start", "period_end", *keys, *names))
    return pl.concat(parts, how="vertical_relaxed")


def sum_by_period(
    frame: pl.DataFrame,
    *,
    date: str,
    sums: Mapping[str, pl.Expr],
    dimensions: Mapping[str, str],
    as_of: dt.date,
    grains: Sequence[Grain] = GRAINS,
) -> pl.DataFrame:
    """:func:`aggregate_by_period` for sums only: column ``name`` = sum of ``sums[name]``
    per period and dimension value (0 where nothing happened; every grain, dimension
    ``all`` and one per entry of ``dimensions``).

    Sums add up, so the rows are first summed per day and value of each dimension (one
    grouping of the rows per dimension instead of one per dimension and grain), and the
    periods sum those days; grain ``all`` (from the earliest date, rows without a date
    included) is the same as over the rows.
    """
    day = pl.col(date).cast(pl.Date)
    rows = frame.lazy().filter(day.is_null() | (day <= as_of))
    earliest = rows.select(day.min()).collect().item()
    first_day = earliest if earliest is not None else as_of
    schema = rows.collect_schema()
    totals = [pl.col(name).sum() for name in sums]
    by_value = {"all": pl.lit("all", dtype=pl.String)} | {
        name: grouping_value(column, schema[column]) for name, column in dimensions.items()
    }
    days = pl.collect_all(
        [
            rows.group_by(day.alias(date), value.alias("_value")).agg(
                expr.sum().alias(name) for name, expr in sums.items()
            )
            for value in by_value.values()
        ]
    )
    return pl.concat(
        [
            aggregate_by_period(
                by_day,
                date=date,
                aggs=totals,
                dimensions={} if name == "all" else {name: "_value"},
                as_of=as_of,
                first_day=first_day,
                grains=grains,
            ).filter(pl.col("dimension") == name)
            for name, by_day in zip(by_value, days, strict=True)
        ]
    )
