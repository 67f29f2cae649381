"""The steps of the nightly job, as library code the Prefect flow calls one by one.

ingest → validate → dbt build → KPIs → publish → report. Every step before
publication works on the build file (salesdw.warehouse): if any of them fails, the
published warehouse stays as it was.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from salesdw import warehouse
from salesdw.db import scalar
from salesdw.dbt_runner import DbtProcess, run_dbt
from salesdw.errors import SalesdwError
from salesdw.ingest.loader import IngestReport, Loader
from salesdw.ingest.mapping import plan, source_files
from salesdw.ingest.meta import create_meta_tables
from salesdw.run_records import RunRecord, now, read_records, runs_folder, store_records
from salesdw.worker import StepWorker
from schemas.config import Config

if TYPE_CHECKING:  # imported where used: the run's process needs neither
    from salesdw.validate.batches import BatchExport, DqResult

log = logging.getLogger("salesdw")

Progress = Callable[[str], None]


class RunLockedError(SalesdwError):
    """Another run is building the warehouse right now."""

    exit_code = 2


@dataclass
class RunContext:
    """What the steps of one run share."""

    config: Config
    run_id: str
    as_of: dt.date | None = None
    #: the day of the run: a record dated after it is not a data date (resolve_as_of)
    #: and is reported by the hygiene checks
    run_date: dt.date = field(default_factory=dt.date.today)
    full_refresh: bool = False
    build: Path = Path()
    ingest: IngestReport = field(default_factory=IngestReport)
    #: the sources whose glob matched no file in the landing folder (a data error)
    unmatched: list[str] = field(default_factory=list)
    #: the run's batches, exported by ingestion for validation (None: nothing loaded)
    batches: BatchExport | None = None
    #: validation's results, stored by publish in meta.dq_results
    dq_results: list[DqResult] = field(default_factory=list)
    kpi_rows: dict[str, int] = field(default_factory=dict)
    status: str = "running"

    @property
    def published(self) -> Path:
        return self.config.warehouse_path

    @property
    def work_dir(self) -> Path:
        """The build folder: the build file, the lock, dbt's target and logs."""
        return self.published.parent / ".build"

    @property
    def run_dir(self) -> Path:
        """This run's own work folder (transcoded files, the batches for validation):
        keyed by the run id, so that nothing a killed run left behind can touch the
        files of the next run."""
        return self.work_dir / "runs" / self.run_id


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@contextmanager
def run_lock(config: Config) -> Iterator[None]:
    """Hold the build lock of the warehouse for the whole run (one build at a time)."""
    lock_dir = warehouse.build_path(config.warehouse_path).parent
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / "run.lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RunLockedError(
                f"another salesdw run is building {config.warehouse_path.name}; try again later"
            ) from exc
        yield


def check_config(config: Config) -> None:
    """Resolve every source and its files' headers; raises ConfigError before loading."""
    plan(config)


def start(ctx: RunContext) -> None:
    """Create the build file (copy of the published warehouse, with the meta tables);
    drop
    the work folders that killed runs left (the run holds the lock: no other run is
    using them) and create this run's."""
    runs = ctx.run_dir.parent
    if runs.is_dir():
        for stale in runs.iterdir():
            if stale.name != ctx.run_id:
                shutil.rmtree(stale, ignore_errors=True)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    ctx.build = warehouse.start_build(ctx.published)
    con = warehouse.connect(ctx.build)
    try:
        create_meta_tables(con)
    finally:
        con.close()


def expects_new_files(ctx: RunContext) -> bool:
    """Whether the landing folder seems to hold files the published warehouse has not
    loaded (:func:`landing_changed` on it, read-only: this runs before the copy, so that
    the processes started for new data start that much earlier); without a published
    warehouse, whether there is any landing file."""
    if not ctx.published.exists():
        return any(source_files(ctx.config, source) for source in ctx.config.sources)
    con = warehouse.connect(ctx.published, read_only=True)
    try:
        known = scalar(
            con,
            "select count(*) from information_schema.tables where table_schema = 'meta' "
            "and table_name in ('file_hashes', 'load_manifest')",
        )
        return known < 2 or landing_changed(con, ctx.config)
    finally:
        con.close()


def landing_changed(con: duckdb.DuckDBPyConnection, config: Config) -> bool:
    """Whether some landing file is not known as loaded for its source, judged by name,
    size and modification time alone (``meta.file_hashes``, ``meta.load_manifest``):
    no file is read. True may be wrong (a file touched but unchanged: ingestion then
    finds its content loaded); False means that ingestion will find nothing new."""
    files = [
        (source.name, str(path), path.stat())
        for source in config.sources
        for path in source_files(config, source)
    ]
    if not files:
        return False
    unknown = con.execute(
        """
        select count(*)
        from (
            select unnest($sources) as source, unnest($files) as file,
                   unnest($sizes) as size, unnest($mtimes) as mtime_ns
        ) as landing
        where not exists (
            select 1
            from meta.file_hashes as h
            join meta.load_manifest as m on m.sha256 = h.sha256
            where h.file = landing.file and h.size = landing.size
              and h.mtime_ns = landing.mtime_ns and m.source = landing.source
        )
        """,
        {
            "sources": [name for name, _, _ in files],
            "files": [path for _, path, _ in files],
            "sizes": [stat.st_size for _, _, stat in files],
            "mtimes": [stat.st_mtime_ns for _, _, stat in files],
        },
    ).fetchall()[0][0]
    return bool(unknown)


def ingest(ctx: RunContext, progress: Progress) -> IngestReport:
    """Load the new landing files of every source into raw.*; then, on the same
    connection (its DuckDB has just read and written the raw tables), the hygiene checks
    (:func:`hygiene`) and the export of the run's batches for their validation
    (``ctx.batches``, see :mod:`salesdw.validate.batches`)."""
    plans = plan(ctx.config)
    ctx.unmatched = [p.source.name for p in plans if not p.files]
    for p in plans:
        if not p.files:
            log.warning(_unmatched_message(p.source.name, p.source.path))
    con = warehouse.connect(ctx.build)
    try:
        ctx.ingest = Loader(con, ctx.run_id, ctx.run_dir, progress).load(plans)
        loaded = ctx.ingest.loaded
        progress(
            f"ingest: {len(loaded)} new file(s), {sum(f.rows_in for f in loaded):,} rows in, "
            f"{sum(f.rows_loaded for f in loaded):,} loaded, "
            f"{sum(f.rows_quarantined for f in loaded):,} quarantined, "
            f"{len(ctx.ingest.unreadable)} unreadable"
        )
        hygiene(ctx, con, progress)
        if loaded:
            from salesdw.validate.batches import export_batches

            ctx.batches = export_batches(con, ctx.run_id, ctx.run_dir / "batches")
    finally:
        con.close()
    return ctx.ingest


def hygiene(ctx: RunContext, con: duckdb.DuckDBPyConnection, progress: Progress) -> int:
    """The hygiene checks of the raw layer (``meta.hygiene``); returns the number of
    checks with findings."""
    from salesdw.validate.hygiene import hygiene_checks

    findings = [h for h in hygiene_checks(con, ctx.run_id, ctx.run_date) if h.count]
    for h in findings:
        progress(f"hygiene: {h.check}: {h.count:,} ({h.examples})")
    return len(findings)


def validate(ctx: RunContext, progress: Progress) -> list[DqResult]:
    """Great Expectations on every batch loaded in this run, from the files ingestion
    exported (``ctx.batches``; deleted afterwards): the warehouse is not opened, so this
    can run while dbt builds. Returns the results; :func:`publish` stores them
    (``ctx.dq_results``)."""
    export = ctx.batches
    if export is None or not export.batches:
        progress("validate: nothing new loaded, no batch to validate")
        return []
    from salesdw.validate.runner import validate_batches  # imports GX: seconds

    docs = ctx.config.reports_path / "data_docs"
    try:
        results = validate_batches(export, docs)
    finally:
        shutil.rmtree(export.folder, ignore_errors=True)
    failed = [r for r in results if r.is_error]
    warnings = [r for r in results if not r.success and not r.is_error]
    progress(
        f"validate: {len(export.batches)} batch(es), {export.rows:,} rows, {len(results)} "
        f"expectations, {len(failed)} failed, {len(warnings)} warnings (ids that do not "
        f"resolve); Data Docs in {docs}"
    )
    for r in failed:
        progress(f"validate: {r.source}: {r.expectation} failed ({r.unexpected_count} rows)")
    return results


def _dbt_vars(ctx: RunContext) -> dict[str, object]:
    return {
        "reporting_currency": ctx.config.reporting_currency,
        "churn_window_days": ctx.config.kpi.churn_window_days,
        "payment_terms_days": ctx.config.kpi.payment_terms_days,
    }


def project_fingerprint(dbt_vars: dict[str, object]) -> str:
    """sha256 of the dbt project (models, seeds, macros, snapshots, dbt_project.yml)
    and the vars it is built with."""
    import hashlib
    import json

    from salesdw.dbt_runner import PROJECT_DIR

    digest = hashlib.sha256()
    for folder in ("models", "seeds", "macros", "snapshots"):
        for path in sorted((PROJECT_DIR / folder).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(PROJECT_DIR).as_posix().encode())
                digest.update(path.read_bytes())
    digest.update((PROJECT_DIR / "dbt_project.yml").read_bytes())
    digest.update(json.dumps(dbt_vars, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def dbt_build_args(ctx: RunContext, same_project: bool) -> list[str] | None:
    """The ``dbt`` arguments of the night's build, None when there is nothing to build.

    When the marts in the copied warehouse were built by this very project and vars
    (``same_project``), only the raw tables that received rows tonight changed, so dbt
    builds what depends on them (``source:raw.<entity>+``: their models, snapshots and
    tests) and nothing when no file was loaded. Otherwise, or with ``--full-refresh``,
    everything is built.

    The dbt unit tests check the project's SQL on fixed rows, not the night's data: a
    run never executes them (``make test`` does, tests/test_dbt_models.py).
    """
    skip_unit_tests = ["--exclude-resource-type", "unit_test"]
    if ctx.full_refresh:
        return ["build", "--full-refresh", *skip_unit_tests]
    if not same_project:
        return ["build", *skip_unit_tests]
    changed = sorted({f.entity for f in ctx.ingest.loaded})
    if not changed:
        return None
    return [
        "build",
        "--select",
        *(f"source:raw.{entity}+" for entity in changed),
        *skip_unit_tests,
    ]


def start_dbt(ctx: RunContext, process: DbtProcess) -> None:
    """Start ``process`` for this run's dbt build: it imports dbt and parses the project
    (with the run's vars and folders) while the steps before the build run."""
    build = warehouse.build_path(ctx.published)  # the copy may still be in progress
    process.start(build, work_dir=ctx.work_dir / "dbt", dbt_vars=_dbt_vars(ctx))


def build_models(ctx: RunContext, progress: Progress, process: DbtProcess | None = None) -> None:
    """dbt build (seeds, snapshots, models, tests) on the build file, of what tonight's
    data touches (:func:`dbt_build_args`); skipped when no file was loaded and the
    project and its vars are those the marts were built with. ``process``: a dbt
    process started ahead of the step (it has imported dbt meanwhile)."""
    dbt_vars = _dbt_vars(ctx)
    fingerprint = project_fingerprint(dbt_vars)
    con = warehouse.connect(ctx.build)
    try:
        con.execute(
            "create table if not exists meta.dbt_state "
            "(project_sha256 varchar, run_id varchar, built_at timestamp)"
        )
        built = con.execute("select project_sha256 from meta.dbt_state").fetchall()
    finally:
        con.close()
    args = dbt_build_args(ctx, same_project=built == [(fingerprint,)])
    if args is None:
        progress("dbt build skipped: no new data and the project is unchanged")
        return
    if "--select" in args:
        selected = [arg for arg in args if arg.startswith("source:")]
        progress("dbt build of what tonight's data touches: " + " ".join(selected))
    run_dbt(
        args,
        ctx.build,
        dbt_vars=dbt_vars,
        work_dir=ctx.work_dir / "dbt",
        progress=progress,
        process=process,
    )
    con = warehouse.connect(ctx.build)
    try:
        con.execute("delete from meta.dbt_state")
        con.execute(
            "insert into meta.dbt_state values (?, ?, current_timestamp)",
            [fingerprint, ctx.run_id],
        )
    finally:
        con.close()


def build_docs(ctx: RunContext, progress: Progress) -> Path | None:
    """The dbt docs site (one static page) under the reports folder, regenerated when
    the dbt project changed since the last time (it describes models, not data)."""
    import shutil

    out = ctx.config.reports_path / "dbt_docs"
    fingerprint = project_fingerprint(_dbt_vars(ctx))
    stamp = out / ".project_sha256"
    if stamp.exists() and stamp.read_text() == fingerprint and (out / "index.html").exists():
        return out / "index.html"
    work = ctx.work_dir / "dbt"
    run_dbt(["docs", "generate", "--static"], ctx.build, work_dir=work, dbt_vars=_dbt_vars(ctx))
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work / "target" / "static_index.html", out / "index.html")
    stamp.write_text(fingerprint)
    progress(f"docs: dbt docs site in {out / 'index.html'}")
    return out / "index.html"


#: DuckDB's memory limit while the KPIs are computed: the work happens in polars, DuckDB
#: only reads the marts and writes the kpi tables, so its cache would only add to the peak
KPI_DUCKDB_MEMORY = "512MB"


def resolve_as_of(ctx: RunContext) -> dt.date | None:
    """The run's as-of date: the one asked for, else the latest data date of the build
    file on or before the run date (None while it holds no orders, opportunities or
    leads; see kpis.inputs.latest_data_date)."""
    from kpis.inputs import latest_data_date

    if ctx.as_of is None:
        con = warehouse.connect(ctx.build, memory=KPI_DUCKDB_MEMORY)
        try:
            ctx.as_of = latest_data_date(con, ctx.run_date)
        finally:
            con.close()
    return ctx.as_of


def compute_kpis(
    ctx: RunContext, progress: Progress, worker: StepWorker | None = None
) -> dict[str, int]:
    """Every KPI as of the run's as-of date into the kpi schema; in ``worker``'s process
    when given (a run without any data starts none)."""
    asked = ctx.as_of
    if resolve_as_of(ctx) is None:
        progress("kpis: no orders, opportunities or leads yet: nothing to compute")
        return {}
    if asked is None and ctx.as_of is not None and ctx.as_of > ctx.run_date:
        progress(
            f"kpis: every order, opportunity and lead is dated after the run date "
            f"{ctx.run_date}: as of the latest of them ({ctx.as_of}); see meta.hygiene"
        )
    if worker is not None:
        return worker.run(_compute_kpis, ctx, progress)
    return _compute_kpis(ctx, progress)


def _compute_kpis(ctx: RunContext, progress: Progress) -> dict[str, int]:
    from kpis.compute import compute_all

    con = warehouse.connect(ctx.build, memory=KPI_DUCKDB_MEMORY)
    try:
        ctx.kpi_rows = compute_all(
            con, ctx.as_of, ctx.config.kpi, run_id=ctx.run_id, alert_rules=ctx.config.alerts
        )
    finally:
        con.close()
    progress(
        f"kpis: as of {ctx.as_of}: " + ", ".join(f"{k} {v:,}" for k, v in ctx.kpi_rows.items())
    )
    return ctx.kpi_rows


def remove_work(ctx: RunContext) -> None:
    """Delete the run's own work folder (at the end of the run, failed or not)."""
    shutil.rmtree(ctx.run_dir, ignore_errors=True)


def exit_status(ctx: RunContext) -> int:
    """0, or 1 when rows were quarantined above a source's threshold, a file was
    unreadable or a source matched no file (README.md)."""
    return 1 if data_errors(ctx) else 0


def _unmatched_message(source: str, path: str) -> str:
    return (
        f"source '{source}': no file in the landing folder matches '{path}'; "
        "nothing loaded for it (check the source's path)"
    )


def data_errors(ctx: RunContext) -> list[str]:
    """Human-readable data errors of the run (threshold breaches, unreadable files,
    sources that matched no file)."""
    thresholds = {
        s.name: s.quarantine_threshold
        if s.quarantine_threshold is not None
        else ctx.config.quarantine_threshold
        for s in ctx.config.sources
    }
    errors = [
        f"source '{src}': {share:.1%} of the rows quarantined (threshold {limit:.0%}); "
        "see meta.quarantine"
        for src, share, limit in ctx.ingest.breaches(thresholds)
    ]
    errors += [f"source '{f.source}': {f.message} — file skipped" for f in ctx.ingest.unreadable]
    paths = {s.name: s.path for s in ctx.config.sources}
    errors += [_unmatched_message(name, paths[name]) for name in ctx.unmatched]
    return errors


def publish(ctx: RunContext, progress: Progress) -> Path:
    """Store validation's results (``meta.dq_results``) and the run records
    (``meta.runs``, ``meta.run_steps``: :func:`_run_records`), write the
    changed marts and KPI tables to temporary Parquet files, swap the build file in, then rename the Parquet files into place: a crash
    before the swap leaves the published warehouse and its Parquet files as they were."""
    ctx.status = "data_errors" if data_errors(ctx) else "success"
    progress("publish: exporting the marts to Parquet and swapping in the new warehouse")
    con = warehouse.connect(ctx.build)
    try:
        if ctx.batches is not None:
            from salesdw.validate.batches import store_results

            store_results(con, ctx.run_id, ctx.dq_results)
        store_records(con, _run_records(ctx))
        export = warehouse.stage_parquet(con, ctx.published.parent / "parquet")
    finally:
        con.close()
    warehouse.publish(ctx.build, ctx.published)
    parquet = export.commit()
    progress(f"publish: {ctx.published} ({len(parquet)} changed Parquet files rewritten)")
    return ctx.published


def _run_records(ctx: RunContext) -> list[RunRecord]:
    """The records of every run kept beside the warehouse (failed ones too), this run's
    as published: with its status and its steps so far (the next publication stores its
    final record)."""
    records = read_records(runs_folder(ctx.published))
    this = next((r for r in records if r.run_id == ctx.run_id), None)
    if this is None:  # publication outside a recorded run (called as a library)
        this = RunRecord(ctx.run_id, started_at=now())
        records.append(this)
    this.status, this.as_of = ctx.status, ctx.as_of
    this.finished_at = now()
    this.steps = [s for s in this.steps if s.finished_at is not None]  # publish: running
    return records


def report(ctx: RunContext, progress: Progress) -> Path:
    """The HTML KPI report of the published warehouse."""
    from salesdw.report import render_report

    out = ctx.config.reports_path / "kpi_report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    with warehouse.read_only(ctx.published) as con:
        render_report(con, out, currency=ctx.config.reporting_currency)
    progress(f"report: {out}")
    return out


def summary(published: Path, currency: str = "USD") -> list[tuple[str, str]]:
    """Headline KPIs of the latest full month for the console (label, formatted value)."""
    from kpis.registry import REGISTRY
    from salesdw.report.html import fmt_value

    wanted = [
        "revenue",
        "target_achievement_rate",
        "win_rate",
        "lead_conversion_rate",
        "sales_cycle_days",
        "new_customers",
        "active_customers",
        "logo_churn_rate",
        "cac",
        "ltv",
        "ltv_cac_ratio",
        "collection_rate",
        "on_time_collection_rate",
        "overdue_receivables",
        "dso",
        "activities",
        "follow_up_rate",
        "lead_response_hours",
        "gross_margin",
    ]
    out: list[tuple[str, str]] = []
    with warehouse.read_only(published) as con:
        if not scalar(
            con,
            "select count(*) from duckdb_tables() where schema_name = 'kpi' "
            "and table_name = 'kpi_values'",
        ):
            return out
        rows = con.execute(
            """
            with month_rows as (
                select kpi, period_start, value, unit from kpi.kpi_values
                where grain = 'month' and dimension = 'all' and value is not null
                  and period_end <= as_of + 1
            )
            select kpi, arg_max(value, period_start), max(period_start), any_value(unit)
            from month_rows group by kpi
            """
        ).fetchall()
        extra = _management_summary(con)
    found = {r[0]: r for r in rows}
    for kpi in wanted:
        if kpi in found:
            _, value, period, unit = found[kpi]
            label = f"{kpi} ({period:%Y-%m})"
            out.append((label, fmt_value(value, unit, currency=currency, kpi=kpi)))
        elif kpi in REGISTRY:
            out.append((kpi, "—"))
    for label, value, unit in extra:
        out.append((label, value if unit is None else fmt_value(float(value), unit, currency=currency)))
    return out


def _management_summary(con: duckdb.DuckDBPyConnection) -> list[tuple[str, Any, str | None]]:
    """The open quarter's revenue forecast and target, the scorecard's top rep of the
    latest quarter and the alerts by level: (label, value, unit or None for text)."""
    out: list[tuple[str, Any, str | None]] = []
    tables = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'kpi'"
        ).fetchall()
    }
    if "forecast" in tables:
        row = con.execute(
            """
            select period_start, value, target from kpi.forecast
            where kpi = 'revenue_forecast' and grain = 'quarter'
              and as_of = (select max(as_of) from kpi.forecast) and period_start <= as_of
            order by period_start desc limit 1
            """
        ).fetchone()
        if row is not None:
            out.append((f"revenue_forecast ({row[0]:%Y-%m} quarter)", row[1], "currency"))
            if row[2] is not None:
                out.append(("  against the quarter's target", row[2], "currency"))
    if "rep_scorecard" in tables:
        row = con.execute(
            """
            select coalesce(rep_name, rep_id), team, revenue from kpi.rep_scorecard
            where grain = 'quarter' and rank_company_revenue = 1
              and period_start = (select max(period_start) from kpi.rep_scorecard
                                  where grain = 'quarter')
            order by rep_id limit 1
            """
        ).fetchone()
        if row is not None:
            out.append(("top rep by revenue (scorecard, quarter)", f"{row[0]} ({row[1]})", None))
    if "alerts" in tables:
        counts = dict(
            con.execute(
                "select level, count(*) from kpi.alerts "
                "where as_of = (select max(as_of) from kpi.alerts) group by level"
            ).fetchall()
        )
        text = ", ".join(f"{counts.get(level, 0)} {level}" for level in ("critical", "warning", "info"))
        out.append(("alerts (salesdw alerts)", text, None))
    return out


def environment_defaults() -> None:
    """Quiet third-party telemetry for every run (no network here, nothing to send)."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # the temporary Prefect server of a run without PREFECT_API_URL may start slowly on a
    # busy machine (its default patience is 20 s)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
