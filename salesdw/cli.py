"""The `salesdw` command line (README.md).

Exit status (salesdw.errors): 0 success, 1 data errors found (the run completed and
published; rows quarantined above a source's threshold, unreadable files skipped, or a
source whose path matched no file), 2 usage or config error (nothing was run), 3 the run
failed and published nothing (the last published warehouse is unchanged). Messages go to
stderr, results to stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from salesdw.errors import EXIT_RUN_FAILED, EXIT_USAGE, SalesdwError

if TYPE_CHECKING:
    from flows.steps import RunResult

FORMATS = click.Choice(["table", "csv", "json"])
format_option = click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default="table",
    show_default=True,
    help="csv is safe to open in a spreadsheet: a text cell starting with = + - @, a tab "
    "or a carriage return gets a ' first (numbers stay numbers).",
)


def _fail(exc: SalesdwError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _info(message: str) -> None:
    click.echo(message, err=True)


def _parse_date(_: click.Context, __: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from exc


config_option = click.option(
    "--config",
    "config",
    default=None,
    metavar="PATH",
    help="Config file (default: $SALESDW_CONFIG, else ./salesdw.yml).",
)
as_of_option = click.option(
    "--as-of",
    "as_of",
    default=None,
    callback=_parse_date,
    metavar="DATE",
    help="Compute KPIs as of this date (default: the latest data date up to today; a "
    "record dated after today, such as a deal won with a future close date, is not a "
    "data date).",
)
prefect_option = click.option(
    "--prefect",
    is_flag=True,
    help="Run as the Prefect flow even without PREFECT_API_URL (Prefect then starts a "
    "temporary local server, about 10 s). With PREFECT_API_URL set, runs always go "
    "through Prefect and appear in its UI.",
)
kpi_as_of_option = click.option(
    "--as-of",
    "as_of",
    default=None,
    callback=_parse_date,
    metavar="DATE",
    help="Show the values reported as of this date (default: the latest run's).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="salesdw")
def main() -> None:
    """salesdw: CRM and ERP exports in, a tested DuckDB warehouse, sales KPIs and a report out.

    \b
    Typical use:
      salesdw demo                         generate the demo data set and run on it
      salesdw run                          the nightly job on the sources of salesdw.yml
      salesdw kpi win_rate --by region     a KPI from the published warehouse
      salesdw sql "select ..."             read-only SQL on the published warehouse
      salesdw runs                         the latest runs, failed ones too
    """


def _use_prefect(prefect: bool) -> bool:
    """Run as a Prefect flow when asked to, or when a Prefect API is configured (its runs
    appear in the server's UI); otherwise the same tasks run without Prefect."""
    return prefect or bool(os.environ.get("PREFECT_API_URL"))


def _log_to_stderr() -> None:
    """Print the log of a run without Prefect as Prefect's console does: time | level |
    message."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d | %(levelname)-7s | %(message)s", "%H:%M:%S")
    )
    for name in ("salesdw", "kpis"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _run(config: str | None, as_of: dt.date | None, full_refresh: bool, prefect: bool) -> int:
    from salesdw.pipeline import environment_defaults, summary

    environment_defaults()
    run_nightly: Callable[..., RunResult]
    if _use_prefect(prefect):
        os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "salesdw")
        from flows.nightly import nightly

        run_nightly = nightly
    else:
        _log_to_stderr()
        from flows.steps import nightly_direct

        run_nightly = nightly_direct
    try:
        result = run_nightly(config_path=config, as_of=as_of, full_refresh=full_refresh)
    except SalesdwError as exc:
        if exc.exit_code == EXIT_USAGE:  # nothing was run
            _fail(exc)
        details = f" Details: {exc.log_file}" if exc.log_file else ""
        click.echo(
            f"error: the run failed: {exc}\nThe published warehouse is unchanged.{details}",
            err=True,
        )
        return EXIT_RUN_FAILED
    except Exception as exc:  # before the run started: short message, traceback in a file
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        log_file = _write_traceback(config)
        click.echo(
            f"error: the run failed ({type(exc).__name__}: {first_line}); "
            "the published warehouse is unchanged. "
            + (f"Details: {log_file}" if log_file else "Details:\n" + traceback.format_exc()),
            err=True,
        )
        return EXIT_RUN_FAILED
    click.echo(
        f"run {result.run_id}: {result.status}; {result.files_loaded} new file(s), "
        f"{result.rows_loaded:,} rows loaded, {result.rows_quarantined:,} quarantined; "
        f"as of {result.as_of}"
    )
    for label, value in summary(result.published, result.currency):
        click.echo(f"  {label:<42} {value:>18}")
    click.echo(f"warehouse: {result.published}")
    if result.report:
        click.echo(f"report:    {result.report}")
    for err in result.data_errors:
        click.echo(f"data error: {err}", err=True)
    return result.exit_code


def _write_traceback(config: str | None) -> Path | None:
    """The current traceback in a new file of the warehouse's logs folder (None when
    the config cannot say where that is)."""
    from salesdw.config import load_config
    from salesdw.run_records import logs_folder, open_log

    try:
        folder = logs_folder(load_config(config).warehouse_path)
        name = f"error-{dt.datetime.now():%Y%m%dT%H%M%S}-{os.getpid()}.log"
        with open_log(folder, name) as fh:
            fh.write(traceback.format_exc())
    except (SalesdwError, OSError):
        return None
    return folder / name


@main.command()
@config_option
@as_of_option
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild every dbt model from scratch "
    "(incremental facts included); the raw data and load manifest are kept.",
)
@prefect_option
def run(config: str | None, as_of: dt.date | None, full_refresh: bool, prefect: bool) -> None:
    """Run the nightly job: ingest new files, validate, dbt build, KPIs, publish, report.

    Files already loaded (same content) are skipped; the published warehouse is replaced
    atomically at the end, and left as it was if anything fails. A source whose path
    matches no file is a data error (named on stderr, exit status 1). With PREFECT_API_URL
    set (or --prefect) it runs as the Prefect flow salesdw-nightly; otherwise the same
    steps run without Prefect.

    Every run, failed or not, is recorded beside the warehouse (runs/<run_id>.json, shown
    by `salesdw runs`, published in meta.runs and meta.run_steps) with its log
    (logs/<run_id>.log, with the traceback of an unexpected error).

    \b
    Exit status:
      0  success
      1  data errors: the run completed and published, but rows were quarantined
         above a source's threshold, unreadable files were skipped, or a source's
         path matched no file
      2  usage or config error: nothing was run
      3  the run failed and published nothing; the last published warehouse is unchanged
    """
    sys.exit(_run(config, as_of, full_refresh, prefect))


@main.command()
@click.option(
    "--scale",
    type=click.Choice(["demo", "S", "M", "L"]),
    default="demo",
    show_default=True,
    help="Size of the generated data set.",
)
@click.option("--seed", type=int, default=42, show_default=True)
@config_option
@prefect_option
def demo(scale: str, seed: int, config: str | None, prefect: bool) -> None:
    """Generate the embedded demo data set into the landing folder and run on it.

    Uses ./salesdw.yml (the demo config of the repo) unless --config is given. The data
    set is deterministic: running the demo twice loads nothing new the second time.
    """
    from salesdw.config import load_config
    from salesdw.demo import generate

    try:
        cfg = load_config(config)
    except SalesdwError as exc:
        _fail(exc)
    _info(f"generating the demo data set (scale {scale}) into {cfg.landing_path} ...")
    counts = generate(cfg.landing_path, scale=scale, seed=seed, progress=_info)
    _info("generated: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    sys.exit(_run(config, None, False, prefect))


@main.command()
@click.option(
    "--scale",
    type=click.Choice(["demo", "S", "M", "L"]),
    required=True,
    help="S ≈ 100k, M ≈ 1M, L ≈ 10M order lines (customers, deals, leads, targets "
    "and spend in proportion).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the landing files and a salesdw.yml into.",
)
@click.option("--seed", type=int, default=42, show_default=True)
def generate(scale: str, out: Path, seed: int) -> None:
    """Generate a data set of the demo company at a benchmark size (streamed to disk).

    Writes OUT/landing/... and OUT/salesdw.yml; run it with
    `salesdw run --config OUT/salesdw.yml`.
    """
    from salesdw.demo import generate as gen
    from salesdw.demo import write_config

    counts = gen(out / "landing", scale=scale, seed=seed, progress=_info)
    write_config(out / "salesdw.yml", warehouse="warehouse/sales.duckdb", landing="landing")
    for entity, n in counts.items():
        click.echo(f"{entity}\t{n}")
    _info(f"config: {out / 'salesdw.yml'}")


@main.command()
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many of the latest runs to show.",
)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@config_option
def runs(limit: int, fmt: str, config: str | None) -> None:
    """Show the latest runs, failed ones too, with their steps, timings and errors.

    Reads the run records kept beside the warehouse (the folder runs/ next to the
    warehouse file; each run's log is in logs/), so it works also when no warehouse was
    published yet. A run killed or crashed shows as interrupted once the next run
    starts. --format csv has one row per step (the run's columns repeated); json one
    object per run with its steps.
    """
    from salesdw.config import load_config
    from salesdw.run_records import read_records, runs_folder

    try:
        published = load_config(config).warehouse_path
    except SalesdwError as exc:
        _fail(exc)
    records = read_records(runs_folder(published))[:limit]
    if not records:
        _info(f"no run recorded yet for {published}")
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in records], ensure_ascii=False, indent=2))
    elif fmt == "csv":
        _emit(_runs_frame(records), "csv")
    else:
        for record in records:
            for line in _run_lines(record):
                click.echo(line)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} s"


def _run_lines(record: Any) -> list[str]:
    """A run and its steps as the lines of `salesdw runs`."""
    as_of = f"as of {record.as_of}" if record.as_of else ""
    lines = [
        f"{record.run_id}  {record.status:<11} {record.started_at:%Y-%m-%d %H:%M:%S}  "
        f"{_seconds(record.seconds):>6}  {as_of}".rstrip()
    ]
    for step in record.steps:
        rows = []
        if step.rows_in is not None:
            rows.append(f"{step.rows_in:,} rows in")
        if step.rows_out is not None:
            rows.append(f"{step.rows_out:,} rows out")
        lines.append(
            f"  {step.step:<10} {step.status:<11} {_seconds(step.seconds):>6}  "
            + ", ".join(rows)
        )
        if step.error:
            lines.append(f"    error: {step.error.splitlines()[0]}")
    if record.error:
        lines.append(f"  error: {record.error}")
    if record.log and record.status not in ("success", "running"):
        lines.append(f"  log: {record.log}")
    return [line.rstrip() for line in lines]


def _runs_frame(records: list[Any]) -> Any:
    """One row per step of each run (a run without steps: one row without a step)."""
    import polars as pl

    rows = []
    for r in records:
        run = {
            "run_id": r.run_id,
            "status": r.status,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "seconds": r.seconds,
            "as_of": r.as_of,
            "error": r.error,
        }
        for s in r.steps or [None]:
            rows.append(
                {
                    **run,
                    "step": s.step if s else None,
                    "step_status": s.status if s else None,
                    "step_seconds": s.seconds if s else None,
                    "rows_in": s.rows_in if s else None,
                    "rows_out": s.rows_out if s else None,
                    "step_error": s.error if s else None,
                }
            )
    schema = {
        "run_id": pl.String,
        "status": pl.String,
        "started_at": pl.Datetime,
        "finished_at": pl.Datetime,
        "seconds": pl.Float64,
        "as_of": pl.Date,
        "error": pl.String,
        "step": pl.String,
        "step_status": pl.String,
        "step_seconds": pl.Float64,
        "rows_in": pl.Int64,
        "rows_out": pl.Int64,
        "step_error": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def _published(config: str | None) -> Path:
    from salesdw.config import load_config

    return load_config(config).warehouse_path


def _emit(frame: Any, fmt: str) -> None:
    """Write a polars frame to stdout as a table, CSV (safe to open in a spreadsheet:
    salesdw.csv_output) or JSON."""
    import polars as pl

    if fmt in ("csv", "table"):  # lists (e.g. a KPI's grains) as text
        frame = frame.with_columns(
            [pl.col(c).list.join(", ") for c, t in frame.schema.items() if t == pl.List(pl.String)]
        )
    if fmt == "csv":  # text that a spreadsheet would run as a formula gets a ' first
        from salesdw.csv_output import to_csv

        click.echo(to_csv(frame), nl=False)
    elif fmt == "json":
        rows = frame.with_columns(
            [pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t.is_temporal()]
        ).to_dicts()
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
    else:
        with pl.Config(
            tbl_rows=-1,
            tbl_cols=-1,
            tbl_width_chars=200,
            fmt_str_lengths=60,
            tbl_hide_dataframe_shape=True,
            tbl_hide_column_data_types=True,
            float_precision=4,
            thousands_separator=False,
        ):
            click.echo(str(frame))


@main.command()
@click.argument("kpi_id", required=False, metavar="[KPI]")
@click.option(
    "--by",
    "by",
    default="all",
    show_default=True,
    help=(
        "Dimension: all, region (the sales region), team, rep, channel, product_category, "
        "segment, country, customer_region (the customer's geography), stage."
    ),
)
@click.option(
    "--grain",
    type=click.Choice(["week", "month", "quarter", "year", "all"]),
    default="month",
    show_default=True,
    help="Period grain; week (ISO, Monday start) where targets are weekly.",
)
@click.option(
    "--from",
    "start",
    callback=_parse_date,
    default=None,
    metavar="DATE",
    help="First period start to show.",
)
@click.option(
    "--to",
    "end",
    callback=_parse_date,
    default=None,
    metavar="DATE",
    help="Last period start to show.",
)
@kpi_as_of_option
@format_option
@click.option("--list", "list_kpis", is_flag=True, help="List the KPIs with their definitions.")
@config_option
def kpi(
    kpi_id: str | None,
    by: str,
    grain: str,
    start: dt.date | None,
    end: dt.date | None,
    as_of: dt.date | None,
    fmt: str,
    list_kpis: bool,
    config: str | None,
) -> None:
    """Show a KPI from the published warehouse (all KPIs of the latest period without KPI).

    With --as-of, the values reported on that date (kpi.kpi_history) are shown, or
    recomputed from the marts as of that date if no run reported on it (or its
    snapshot was thinned by kpi.history.daily_months; docs/kpis.md, "History").
    """
    from kpis import api

    if list_kpis:
        if fmt == "table":
            for row in api.list_kpis().to_dicts():
                click.echo(f"{row['id']} ({row['unit']})")
                click.echo(f"    {row['description']}")
                click.echo(f"    formula:    {row['formula']}")
                click.echo(f"    grains:     {', '.join(row['grains'])}")
                click.echo(f"    dimensions: {', '.join(row['dimensions'])}")
        else:
            _emit(api.list_kpis(), fmt)
        return
    try:
        with _read_only(config) as con:
            if kpi_id is None:
                frame = api.latest(con, by=by, grain=grain, as_of=as_of)
            else:
                frame = api.kpi(con, kpi_id, by=by, grain=grain, start=start, end=end, as_of=as_of)
                if as_of is not None and frame.is_empty():
                    frame = api.recompute(
                        con,
                        kpi_id,
                        by=by,
                        grain=grain,
                        start=start,
                        end=end,
                        as_of=as_of,
                        settings=_settings(config),
                    )
    except api.UnknownKpiError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except SalesdwError as exc:
        _fail(exc)
    if frame.is_empty():
        _info("no values for this selection")
    _emit(frame, fmt)


def _settings(config: str | None) -> Any:
    from salesdw.config import load_config

    return load_config(config).kpi


def _read_only(config: str | None) -> Any:
    from salesdw import warehouse

    return warehouse.read_only(_published(config))


@main.command()
@click.argument("query")
@format_option
@config_option
def sql(query: str, fmt: str, config: str | None) -> None:
    """Run one read-only SQL QUERY on the published warehouse and print the result.

    QUERY is a single SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN statement on the
    published warehouse. Anything else (COPY, ATTACH, INSTALL/LOAD, SET, PRAGMA, a second
    statement) and reading any other file (read_csv, read_parquet, …) is refused with
    exit status 2 (docs/security.md).
    """
    import duckdb

    from salesdw import sandbox

    try:
        sandbox.check_query(query)
        with _read_only(config) as con:
            frame = con.sql(query).pl()
    except duckdb.PermissionException as exc:
        click.echo(
            "error: salesdw sql reads the published warehouse only, no other file "
            f"({str(exc).splitlines()[0]})",
            err=True,
        )
        sys.exit(2)
    except duckdb.Error as exc:
        click.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        sys.exit(2)
    except SalesdwError as exc:
        _fail(exc)
    _emit(frame, fmt)


LEVELS = ("info", "warning", "critical")


@main.command()
@click.option(
    "--as-of",
    "as_of",
    default=None,
    callback=_parse_date,
    metavar="DATE",
    help="The alerts of the run as of this date (default: the latest run's).",
)
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="info",
    show_default=True,
    help="Show the alerts at or above this level.",
)
@format_option
@click.option(
    "--fail-on",
    "fail_on",
    type=click.Choice(LEVELS),
    default=None,
    help="Exit with status 1 when an alert at or above this level exists (for schedulers).",
)
@config_option
def alerts(
    as_of: dt.date | None, level: str, fmt: str, fail_on: str | None, config: str | None
) -> None:
    """Show what needs attention (kpi.alerts of the published warehouse): targets pacing
    behind, thin pipeline, key customers at risk, deals past their close date or stuck,
    overdue receivables, targets that do not add up. Rules and thresholds: `alerts:` in
    the config (docs/kpis.md, "Alerts").

    Exit status 0, or 1 with --fail-on LEVEL when an alert at or above LEVEL exists.
    """
    import duckdb

    rank = {name: position for position, name in enumerate(LEVELS)}
    try:
        with _read_only(config) as con:
            frame = con.sql(
                """
                select rule, level, subject_type, subject_id, value, threshold, message, as_of
                from kpi.alerts
                where as_of = coalesce($as_of, (select max(as_of) from kpi.alerts))
                """,
                params={"as_of": as_of},
            ).pl()
    except duckdb.CatalogException:
        click.echo(
            "error: the published warehouse has no kpi.alerts: run `salesdw run` first",
            err=True,
        )
        sys.exit(2)
    except SalesdwError as exc:
        _fail(exc)
    if as_of is not None and frame.is_empty():
        _info(f"no alerts as of {as_of} (or no run as of that date: salesdw run --as-of {as_of})")
    import polars as pl

    severity = pl.col("level").replace_strict(rank, return_dtype=pl.Int64)
    frame = frame.with_columns(severity.alias("_severity")).sort(
        "_severity", "rule", "subject_type", "subject_id", descending=[True, False, False, False]
    )
    shown = frame.filter(pl.col("_severity") >= rank[level]).drop("_severity")
    if shown.is_empty():
        _info("no alerts at or above this level")
    _emit(shown, fmt)
    if fail_on is not None and frame.filter(pl.col("_severity") >= rank[fail_on]).height:
        sys.exit(1)


if __name__ == "__main__":
    main()
