"""The long format of ``kpi.kpi_values`` (docs/architecture.md) and helpers to build it."""

from __future__ import annotations

import datetime as dt

import polars as pl

KPI_VALUES_SCHEMA: dict[str, pl.DataType] = {
    "kpi": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "value": pl.Float64(),
    "numerator": pl.Float64(),
    "denominator": pl.Float64(),
    "unit": pl.String(),
    "as_of": pl.Date(),
    #: the period contains the as-of date and does not end on it: its values are to date
    #: (null in kpi_history rows written before the column existed)
    "is_partial": pl.Boolean(),
}

UNKNOWN = "unknown"


def empty_kpi_values() -> pl.DataFrame:
    """An empty frame with the kpi_values schema."""
    return pl.DataFrame(schema=KPI_VALUES_SCHEMA)


def safe_ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null where the denominator is 0 or null (never inf)."""
    return (
        pl.when(denominator.is_null() | (denominator == 0))
        .then(None)
        .otherwise(numerator / denominator)
        .cast(pl.Float64)
    )


def to_kpi_values(
    frame: pl.DataFrame,
    *,
    kpi: str,
    unit: str,
    as_of: dt.date,
    value: str = "value",
    numerator: str | None = None,
    denominator: str | None = None,
) -> pl.DataFrame:
    """Shape a frame with grain, period_start, period_end, dimension, dimension_value
    and the value (plus numerator/denominator columns for ratios) into kpi_values rows;
    ``is_partial`` follows from the period and as_of (:func:`partial_period`)."""
    return frame.select(
        pl.lit(kpi).alias("kpi"),
        pl.col("grain").cast(pl.String),
        pl.col("period_start").cast(pl.Date),
        pl.col("period_end").cast(pl.Date),
        pl.col("dimension").cast(pl.String),
        pl.col("dimension_value").cast(pl.String).fill_null(UNKNOWN),
        pl.col(value).cast(pl.Float64).alias("value"),
        (pl.col(numerator) if numerator else pl.lit(None)).cast(pl.Float64).alias("numerator"),
        (pl.col(denominator) if denominator else pl.lit(None))
        .cast(pl.Float64)
        .alias("denominator"),
        pl.lit(unit).alias("unit"),
        pl.lit(as_of).cast(pl.Date).alias("as_of"),
        partial_period(as_of).alias("is_partial"),
    )


def partial_period(as_of: dt.date) -> pl.Expr:
    """Whether the period of a row (columns grain, period_start, period_end) is partial
    on ``as_of``: it contains as_of and as_of is not its last day (grain ``all`` runs
    through as_of and is never partial)."""
    return (
        (pl.col("grain").cast(pl.String) != "all")
        & (pl.col("period_start").cast(pl.Date) <= as_of)
        & (pl.col("period_end").cast(pl.Date) > as_of + dt.timedelta(days=1))
    )


def with_dimensions(frame: pl.DataFrame, dimensions: dict[str, str]) -> pl.DataFrame:
    """Repeat the rows once per dimension: adds ``dimension`` and ``dimension_value``.

    The result has (1 + number of dimensions) times the rows of ``frame``: use it on
    small, already aggregated frames (one row per combination of dimension values), not
    on line-level data (``periods.aggregate_by_period`` groups those per dimension).

    ``dimensions`` maps a dimension name to the frame column holding its value; the
    dimension ``all`` (value ``all``) is always included. Missing values become
    ``unknown`` (docs/kpis.md: reported, never dropped).
    """
    parts = [
        frame.with_columns(pl.lit("all").alias("dimension"), pl.lit("all").alias("dimension_value"))
    ]
    for name, column in dimensions.items():
        parts.append(
            frame.with_columns(
                pl.lit(name).alias("dimension"),
                pl.col(column).cast(pl.String).fill_null(UNKNOWN).alias("dimension_value"),
            )
        )
    return pl.concat(parts, how="vertical")
