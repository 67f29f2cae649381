"""The nightly Prefect flow: ingest → validate → dbt build (+ docs) → KPIs → publish → report.

Thin by design: each task calls one step of ``salesdw.pipeline``; the flow only orders
them. Nothing here retries: every step works on the build file and is deterministic, a
failure leaves the published warehouse untouched and the next run starts over.

The heavy steps run in a child process (``salesdw.worker``): ingest and validate in one
(validation's imports overlap with loading), the KPIs in a fresh one, so that neither
carries the memory of the steps before it. dbt runs in its own process anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from salesdw import pipeline
from salesdw.config import load_config
from salesdw.pipeline import RunContext
from salesdw.worker import StepWorker


@dataclass
class RunResult:
    """What a run reports back to the CLI."""

    run_id: str
    currency: str
    as_of: dt.date | None
    status: str
    exit_code: int
    published: Path
    report: Path | None
    files_loaded: int
    rows_loaded: int
    rows_quarantined: int
    data_errors: list[str]


def _progress() -> pipeline.Progress:
    logger = get_run_logger()

    def emit(message: str) -> None:
        logger.info(message)

    return emit


@task(name="ingest", cache_policy=NONE)
def ingest_task(ctx: RunContext, worker: StepWorker) -> None:
    worker.run(pipeline.ingest, ctx, _progress())


@task(name="validate", cache_policy=NONE)
def validate_task(ctx: RunContext, worker: StepWorker) -> None:
    worker.run(pipeline.validate, ctx, _progress())


@task(name="dbt-build", cache_policy=NONE)
def dbt_build_task(ctx: RunContext) -> None:
    pipeline.build_models(ctx, _progress())


@task(name="dbt-docs", cache_policy=NONE)
def dbt_docs_task(ctx: RunContext) -> None:
    pipeline.build_docs(ctx, _progress())


@task(name="kpis", cache_policy=NONE)
def kpis_task(ctx: RunContext, worker: StepWorker) -> None:
    pipeline.compute_kpis(ctx, _progress(), worker)


@task(name="publish", cache_policy=NONE)
def publish_task(ctx: RunContext) -> None:
    pipeline.publish(ctx, _progress())


@task(name="report", cache_policy=NONE)
def report_task(ctx: RunContext) -> Path:
    return pipeline.report(ctx, _progress())


@flow(name="salesdw-nightly", log_prints=True)
def nightly(
    config_path: str | None = None, as_of: dt.date | None = None, full_refresh: bool = False
) -> RunResult:
    """The nightly job on the sources of the config file."""
    config = load_config(config_path)
    pipeline.check_config(config)
    ctx = RunContext(config, pipeline.new_run_id(), as_of=as_of, full_refresh=full_refresh)
    get_run_logger().info(f"run {ctx.run_id}: {config.warehouse_path}")
    with pipeline.run_lock(config):
        pipeline.start(ctx)
        with StepWorker() as loading:
            ingest_task(ctx, loading)
            validate_task(ctx, loading)
        dbt_build_task(ctx)
        dbt_docs_task(ctx)
        with StepWorker() as kpis:
            kpis_task(ctx, kpis)
        publish_task(ctx)
    report = report_task(ctx)
    loaded = ctx.ingest.loaded
    return RunResult(
        run_id=ctx.run_id,
        currency=ctx.config.reporting_currency,
        as_of=ctx.as_of,
        status=ctx.status,
        exit_code=pipeline.exit_status(ctx),
        published=ctx.published,
        report=report,
        files_loaded=len(loaded),
        rows_loaded=sum(f.rows_loaded for f in loaded),
        rows_quarantined=sum(f.rows_quarantined for f in loaded),
        data_errors=pipeline.data_errors(ctx),
    )


logging.getLogger("salesdw").setLevel(logging.INFO)
