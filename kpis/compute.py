"""Compute every KPI family and write the ``kpi`` schema (docs/architecture.md).

Each KPI family is a module with ``kpi_values(inputs, settings) -> pl.DataFrame``;
:data:`kpis.registry.FAMILIES` lists them and they are imported when computed, so that this module
imports without them. ``compute_all`` is the one place that reads the marts (through
``kpis.inputs``) and writes the kpi tables.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import cast

import duckdb
import polars as pl

from kpis.inputs import KpiInputs, latest_data_date, load_inputs
from kpis.registry import FAMILIES
from kpis.values import KPI_VALUES_SCHEMA, empty_kpi_values
from schemas.config import AlertsConfig, KpiSettings

log = logging.getLogger(__name__)

KpiFamily = Callable[[KpiInputs, KpiSettings], pl.DataFrame]

KPI_HISTORY_SCHEMA: dict[str, pl.DataType] = {
    **KPI_VALUES_SCHEMA,
    "run_id": pl.String(),
}
CUSTOMER_CLV_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "frequency": pl.Int64(),
    "recency": pl.Float64(),
    "t": pl.Float64(),
    "monetary_value": pl.Float64(),
    "p_alive": pl.Float64(),
    "expected_purchases": pl.Float64(),
    "expected_avg_value": pl.Float64(),
    "clv": pl.Float64(),
}


class NoDataError(ValueError):
    """The warehouse has no dated records, so there is no as-of date to compute KPIs at."""


def family(module: str) -> KpiFamily:
    """The ``kpi_values`` function of a KPI family module."""
    return cast(KpiFamily, importlib.import_module(module).kpi_values)


def compute_kpi_values(
    inputs: KpiInputs, settings: KpiSettings, families: Sequence[str] = FAMILIES
) -> pl.DataFrame:
    """All KPIs of all families as kpi_values rows, sorted by kpi, grain, dimension,
    dimension value and period."""
    parts = [family(module)(inputs, settings) for module in families]
    return pl.concat([empty_kpi_values(), *parts], how="vertical_relaxed").sort(
        "kpi", "grain", "dimension", "dimension_value", "period_start"
    )


def clv_transactions(inputs: KpiInputs) -> pl.DataFrame:
    """The CLV input: purchases (not cancelled, positive net amount) as customer_id,
    order_date, amount."""
    return inputs.orders.filter(pl.col("is_purchase").fill_null(False)).select(
        "customer_id", "order_date", pl.col("net_amount").alias("amount")
    )


def compute_clv(inputs: KpiInputs, settings: KpiSettings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(customer_clv, clv_model); both empty, with a warning, when the models cannot be
    fitted on these purchases."""
    from kpis import clv

    calibration_end = settings.clv.calibration_end or inputs.as_of
    try:
        customer_clv, clv_model = clv.run_clv(
            clv_transactions(inputs),
            calibration_end,
            settings.clv.time_unit,
            settings.clv.horizon,
            settings.clv.discount_rate_annual,
        )
        # the customers' keys sort as their ids do (KpiInputs.customer_ids): still sorted
        return inputs.with_customer_ids(customer_clv), clv_model
    except clv.ClvFitError as error:
        log.warning("customer CLV skipped: %s", error)
        return (
            pl.DataFrame(schema=CUSTOMER_CLV_SCHEMA),
            pl.DataFrame(schema=dict(clv.CLV_MODEL_SCHEMA)),
        )


def _replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    con.register("_kpi_frame", frame.to_arrow())
    try:
        con.execute(f"create or replace table {table} as select * from _kpi_frame")
    finally:
        con.unregister("_kpi_frame")
    return frame.height


def _append_history(
    con: duckdb.DuckDBPyConnection, values: pl.DataFrame, as_of: dt.date, run_id: str
) -> int:
    """Append to kpi.kpi_history, replacing earlier rows of the same as_of (reruns are
    idempotent)."""
    history = values.with_columns(pl.lit(run_id).alias("run_id")).select(list(KPI_HISTORY_SCHEMA))
    con.register("_kpi_frame", history.to_arrow())
    try:
        con.execute(
            "create table if not exists kpi.kpi_history as select * from _kpi_frame limit 0"
        )
        # a history written before kpi_values had is_partial gets the column (null in
        # its older rows: not recorded then)
        con.execute("alter table kpi.kpi_history add column if not exists is_partial boolean")
        con.execute("delete from kpi.kpi_history where as_of = $as_of", {"as_of": as_of})
        con.execute(
            f"insert into kpi.kpi_history ({', '.join(KPI_HISTORY_SCHEMA)}) select * from _kpi_frame"
        )
    finally:
        con.unregister("_kpi_frame")
    return history.height


def _append_night(
    con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, as_of: dt.date
) -> int:
    """Append the night's rows to ``table`` (kpi.forecast, kpi.alerts), replacing
    earlier rows of the same as_of (reruns are idempotent)."""
    con.register("_kpi_frame", frame.to_arrow())
    try:
        con.execute(f"create table if not exists {table} as select * from _kpi_frame limit 0")
        con.execute(f"delete from {table} where as_of = $as_of", {"as_of": as_of})
        con.execute(f"insert into {table} ({', '.join(frame.columns)}) select * from _kpi_frame")
    finally:
        con.unregister("_kpi_frame")
    return frame.height


def thin_history(con: duckdb.DuckDBPyConnection, daily_months: int) -> int:
    """Delete from kpi.kpi_history the snapshots (all rows of one ``as_of``) of the months
    before the newest snapshot's month and the ``daily_months`` months before it, except
    the last snapshot of each of those months. Returns the number of rows deleted.

    The rule depends only on the snapshots in the table, so it thins a month once, on
    the first run whose newest snapshot is ``daily_months`` + 1 months later (its Parquet
    file is rewritten once), and a rerun for an older date than that keeps its snapshot
    only if it is its month's last."""
    (deleted,) = con.execute(
        """
        delete from kpi.kpi_history
        where as_of in (
            with snapshots as (select distinct as_of from kpi.kpi_history)
            select as_of from snapshots
            where as_of < (
                select date_trunc('month', max(as_of)) - to_months($daily_months)
                from snapshots
            )
            and as_of not in (
                select max(as_of) from snapshots group by date_trunc('month', as_of)
            )
        )
        """,
        {"daily_months": daily_months},
    ).fetchall()[0]
    return int(deleted)


@contextmanager
def _duckdb_cache_released(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's memory limit lowered to a minimum for the duration: it evicts the table
    blocks it cached while the inputs were read (hundreds of MB at 10 M order lines),
    which would otherwise stay next to the polars frames. Restored afterwards."""
    limit = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    con.execute("set memory_limit = '32MB'")
    try:
        yield
    finally:
        con.execute(f"set memory_limit = '{limit}'")


def compute_all(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date | None,
    settings: KpiSettings,
    *,
    run_id: str | None = None,
    run_date: dt.date | None = None,
    alert_rules: AlertsConfig | None = None,
) -> dict[str, int]:
    """Compute every KPI as of ``as_of`` (default: the latest data date on or before
    ``run_date``, default today; see :func:`kpis.inputs.latest_data_date`) and write the
    kpi schema: kpi_values (replaced), kpi_history (appended; rows of the same as_of
    replaced; then thinned when ``settings.history.daily_months`` is set, see
    :func:`thin_history`), cohort_retention, customer_segments, customer_clv, clv_model,
    rep_scorecard, stuck_opportunities (replaced), forecast and alerts (appended: the
    night's forecasts and alerts, ``alert_rules`` default the config's defaults; rows of
    the same as_of replaced).

    Returns the number of rows written per table, and under ``kpi.kpi_history thinned``
    the rows the thinning deleted (when it is configured).
    """
    from kpis.activities import stale_opportunities
    from kpis.alerts import alerts
    from kpis.cohorts import cohort_retention
    from kpis.forecast import forecast_table
    from kpis.receivables import receivables_ageing
    from kpis.scorecard import rep_scorecard
    from kpis.segments import customer_segments
    from kpis.stages import stuck_opportunities

    as_of = as_of or latest_data_date(con, run_date or dt.date.today())
    if as_of is None:
        raise NoDataError(
            "no orders, opportunities or leads in the warehouse: nothing to compute KPIs on"
        )
    inputs = load_inputs(con, as_of)
    with _duckdb_cache_released(con):  # the work is in polars until the writes
        values = compute_kpi_values(inputs, settings)
        customer_clv, clv_model = compute_clv(inputs, settings)
        cohorts = cohort_retention(inputs, settings)
        segments = customer_segments(inputs, settings)
        ageing = receivables_ageing(inputs, settings)
        stale = stale_opportunities(inputs, settings)
        scorecard = rep_scorecard(values, inputs)
        stuck = stuck_opportunities(inputs, settings)
        forecasts = forecast_table(inputs, settings)
        alert_rows = alerts(
            values,
            segments,
            stuck,
            inputs,
            alert_rules or AlertsConfig(),
            ageing,
        )
    con.execute("create schema if not exists kpi")
    return {
        "kpi.kpi_values": _replace_table(con, "kpi.kpi_values", values),
        "kpi.kpi_history": _append_history(con, values, as_of, run_id or uuid.uuid4().hex),
        **(
            {}
            if settings.history.daily_months is None
            else {"kpi.kpi_history thinned": thin_history(con, settings.history.daily_months)}
        ),
        "kpi.cohort_retention": _replace_table(con, "kpi.cohort_retention", cohorts),
        "kpi.customer_segments": _replace_table(con, "kpi.customer_segments", segments),
        "kpi.customer_clv": _replace_table(con, "kpi.customer_clv", customer_clv),
        "kpi.clv_model": _replace_table(con, "kpi.clv_model", clv_model),
        "kpi.receivables_ageing": _replace_table(con, "kpi.receivables_ageing", ageing),
        "kpi.stale_opportunities": _replace_table(con, "kpi.stale_opportunities", stale),
        "kpi.rep_scorecard": _replace_table(con, "kpi.rep_scorecard", scorecard),
        "kpi.stuck_opportunities": _replace_table(con, "kpi.stuck_opportunities", stuck),
        "kpi.forecast": _append_night(con, "kpi.forecast", forecasts, as_of),
        "kpi.alerts": _append_night(con, "kpi.alerts", alert_rows, as_of),
    }
