"""The Python API for analysts: KPIs from the published warehouse as polars frames.

from kpis import api
con = api.connect()                       # read-only, sandboxed
api.query(con, "select count(*) from marts.fct_orders")
api.kpi(con, "revenue", by="region", grain="quarter", start=date(2024, 1, 1))
api.list_kpis()
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from kpis.compute import compute_kpi_values
from kpis.inputs import load_inputs
from kpis.registry import (
    PER_METRIC_KPIS,
    PER_STAGE_KPIS,
    REGISTRY,
    WITHOUT_ALL,
    metric_kpi_id,
    stored_ids,
)
from salesdw import sandbox
from schemas.config import KpiSettings

DEFAULT_WAREHOUSE = Path("data/warehouse/sales.duckdb")
GRAINS = ("day", "week", "month", "quarter", "year", "all")


class UnknownKpiError(ValueError):
    """A KPI id, grain or dimension that the warehouse does not know."""


def connect(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse (default
    ``data/warehouse/sales.duckdb``; pass the config's ``warehouse_path`` otherwise), in
    the sandbox of ``salesdw sql``: it reads that file only (no other file, no network,
    no extension), and its settings are locked (docs/security.md)."""
    target = Path(path) if path is not None else DEFAULT_WAREHOUSE
    if not target.exists():
        raise FileNotFoundError(
            f"no warehouse at {target}: run `salesdw run` first or pass its path"
        )
    return sandbox.connect(target)


def query(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """The result of one read-only query (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or
    EXPLAIN) as a polars frame, checked as ``salesdw sql`` checks it: anything else
    raises ``salesdw.errors.QueryRefusedError``."""
    frame: pl.DataFrame = con.sql(sandbox.check_query(sql)).pl()
    return frame


def _kpi_ids(kpi_id: str) -> list[str]:
    base, _, metric = kpi_id.partition(".")
    if base in PER_STAGE_KPIS and metric in PER_STAGE_KPIS[base]:
        return [kpi_id]
    if base in PER_STAGE_KPIS and not metric:
        return list(stored_ids(base))
    if base not in REGISTRY or (metric and metric not in PER_METRIC_KPIS.get(base, ())):
        known = ", ".join(sorted(REGISTRY))
        raise UnknownKpiError(f"unknown KPI '{kpi_id}' (known: {known})")
    if metric or base not in PER_METRIC_KPIS:
        return [kpi_id]
    return [metric_kpi_id(base, name) for name in PER_METRIC_KPIS[base]]


def kpi(
    con: duckdb.DuckDBPyConnection,
    kpi_id: str,
    by: str = "all",
    grain: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
    as_of: dt.date | None = None,
) -> pl.DataFrame:
    """Values of one KPI from kpi.kpi_values (or, for an earlier ``as_of``, from
    kpi.kpi_history), for one dimension (``by``) and grain, periods starting in
    [start, end] (both optional, inclusive), sorted by period and dimension value.

    Per-metric KPIs (target_achievement_rate, target_pacing, pipeline_coverage) return
    every metric unless one is named: ``target_achievement_rate.bookings``.
    """
    if grain not in GRAINS:
        raise UnknownKpiError(f"unknown grain '{grain}' (known: {', '.join(GRAINS)})")
    ids = _kpi_ids(kpi_id)
    dimensions = {"all", *REGISTRY[kpi_id.partition(".")[0]].dimensions}
    if by not in dimensions:
        raise UnknownKpiError(
            f"KPI '{kpi_id}' has no dimension '{by}' (has: {', '.join(sorted(dimensions))})"
        )
    table = "kpi.kpi_values" if as_of is None else "kpi.kpi_history"
    sql = f"""
        select kpi, grain, period_start, period_end, dimension, dimension_value,
               value, numerator, denominator, unit, as_of
        from {table}
        where list_contains($ids, kpi)
          and dimension = $by
          and grain = $grain
          and ($start is null or period_start >= $start)
          and ($end is null or period_start <= $end)
          and ($as_of is null or as_of = $as_of)
        order by kpi, period_start, dimension_value
    """
    params = {
        "ids": ids,
        "by": by,
        "grain": grain,
        "start": start,
        "end": end,
        "as_of": as_of,
    }
    relation = con.sql(sql, params=params)
    frame: pl.DataFrame = relation.pl() if relation is not None else pl.DataFrame()
    return frame


def list_kpis() -> pl.DataFrame:
    """The KPI registry: id, description, formula, unit, grains, dimensions."""
    return pl.DataFrame(
        [
            {
                "id": d.id,
                "description": d.description,
                "formula": d.formula,
                "unit": d.unit,
                "grains": list(d.grains),
                "dimensions": ["all", *d.dimensions]
                if d.id not in WITHOUT_ALL
                else list(d.dimensions),
            }
            for d in REGISTRY.values()
        ],
        schema={
            "id": pl.String,
            "description": pl.String,
            "formula": pl.String,
            "unit": pl.String,
            "grains": pl.List(pl.String),
            "dimensions": pl.List(pl.String),
        },
    )


def latest(
    con: duckdb.DuckDBPyConnection,
    by: str = "all",
    grain: str = "month",
    as_of: dt.date | None = None,
) -> pl.DataFrame:
    """Every KPI for the latest period of ``grain`` (the period containing the as-of
    date of the published values, or of ``as_of`` from kpi.kpi_history)."""
    if grain not in GRAINS:
        raise UnknownKpiError(f"unknown grain '{grain}' (known: {', '.join(GRAINS)})")
    table = "kpi.kpi_values" if as_of is None else "kpi.kpi_history"
    sql = f"""
        with rows as (
            select kpi, grain, period_start, period_end, dimension, dimension_value,
                   value, numerator, denominator, unit, as_of
            from {table}
            where grain = $grain and dimension = $by and ($as_of is null or as_of = $as_of)
        )
        select * from rows
        where period_start = (select max(period_start) from rows)
        order by kpi, dimension_value
    """
    frame: pl.DataFrame = con.sql(sql, params={"grain": grain, "by": by, "as_of": as_of}).pl()
    return frame


def recompute(
    con: duckdb.DuckDBPyConnection,
    kpi_id: str,
    *,
    as_of: dt.date,
    by: str = "all",
    grain: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
    settings: KpiSettings | None = None,
) -> pl.DataFrame:
    """A KPI recomputed from the marts as of ``as_of`` (for a date no run reported on):
    the same functions as the nightly run, on the data dated up to ``as_of``."""
    ids = _kpi_ids(kpi_id)
    values = compute_kpi_values(load_inputs(con, as_of), settings or KpiSettings())
    frame = values.filter(
        pl.col("kpi").is_in(ids),
        pl.col("dimension") == by,
        pl.col("grain") == grain,
    )
    if start is not None:
        frame = frame.filter(pl.col("period_start") >= start)
    if end is not None:
        frame = frame.filter(pl.col("period_start") <= end)
    return frame.sort("kpi", "period_start", "dimension_value")
