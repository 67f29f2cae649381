"""The nightly Prefect flow: ingest → validate → dbt build (+ docs) → KPIs → publish → report.

Thin by design: each task calls one step of ``salesdw.pipeline``; the flow only orders
them. Nothing here retries: every step works on the build file and is deterministic, a
failure leaves the published warehouse untouched and the next run starts over.

The heavy steps run in a child process (``salesdw.worker``): ingest and validate in one
(validation's imports overlap with loading), the KPIs in a fresh one, so that neither
carries the memory of the steps before it. dbt runs in its own process anyway.

``nightly`` is the Prefect flow (the deployment, and ``salesdw run`` when a Prefect API
is configured); ``nightly_direct`` runs the same tasks in the same order as plain
functions, without Prefect: a flow run without ``PREFECT_API_URL`` would start a
temporary Prefect server (about 10 s) only to record states that nobody reads.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.exceptions import MissingContextError

from salesdw import pipeline
from salesdw.config import load_config
from salesdw.pipeline import RunContext
from salesdw.worker import StepWorker

FLOW_NAME = "salesdw-nightly"

#: the log of a run without Prefect (``nightly_direct``); the CLI prints it
DIRECT_LOG = logging.getLogger("salesdw.nightly")

#: the task a run without Prefect is in (its progress lines name it)
_direct_step: contextvars.ContextVar[str] = contextvars.ContextVar("direct_step", default="")


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
    """Progress lines of the current task: Prefect's task run log, or in a run without
    Prefect the direct log, prefixed with the task's name."""
    try:
        logger = get_run_logger()
    except MissingContextError:
        prefix = f"Step '{_direct_step.get()}' - "

        def emit_direct(message: str) -> None:
            DIRECT_LOG.info(prefix + message)

        return emit_direct

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


#: runs one task of the nightly job: ``call(task, *args)`` returns the task's result
TaskCall = Callable[..., Any]


def _nightly(
    config_path: str | None,
    as_of: dt.date | None,
    full_refresh: bool,
    call: TaskCall,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> RunResult:
    """The order of the nightly job's tasks, each run through ``call``."""
    config = load_config(config_path)
    pipeline.check_config(config)
    ctx = RunContext(config, pipeline.new_run_id(), as_of=as_of, full_refresh=full_refresh)
    log.info(f"run {ctx.run_id}: {config.warehouse_path}")
    with pipeline.run_lock(config):
        pipeline.start(ctx)
        with StepWorker() as loading:
            call(ingest_task, ctx, loading)
            call(validate_task, ctx, loading)
        call(dbt_build_task, ctx)
        call(dbt_docs_task, ctx)
        with StepWorker() as kpis:
            call(kpis_task, ctx, kpis)
        call(publish_task, ctx)
    report = call(report_task, ctx)
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


def _as_prefect_task(task_: Any, *args: Any) -> Any:
    return task_(*args)


@flow(name=FLOW_NAME, log_prints=True)
def nightly(
    config_path: str | None = None, as_of: dt.date | None = None, full_refresh: bool = False
) -> RunResult:
    """The nightly job on the sources of the config file."""
    return _nightly(config_path, as_of, full_refresh, _as_prefect_task, get_run_logger())


@contextmanager
def _direct_run_logged(subject: str) -> Iterator[None]:
    """Begin and end lines of a run or task without Prefect, with its final state
    (Completed / Failed) and duration."""
    started = time.perf_counter()
    DIRECT_LOG.info(f"{subject} - Beginning")
    try:
        yield
    except BaseException:
        DIRECT_LOG.error(
            f"{subject} - Finished in state Failed ({time.perf_counter() - started:.1f} s)"
        )
        raise
    DIRECT_LOG.info(
        f"{subject} - Finished in state Completed ({time.perf_counter() - started:.1f} s)"
    )


def _as_function(task_: Any, *args: Any) -> Any:
    name = str(task_.name)
    token = _direct_step.set(name)
    try:
        with _direct_run_logged(f"Step '{name}'"):
            return task_.fn(*args)
    finally:
        _direct_step.reset(token)


def nightly_direct(
    config_path: str | None = None, as_of: dt.date | None = None, full_refresh: bool = False
) -> RunResult:
    """The nightly job without Prefect: the flow's tasks in the flow's order, as plain
    function calls in this process (no Prefect server, no recorded states). Its log
    lines go to ``DIRECT_LOG``."""
    with _direct_run_logged(f"Run '{FLOW_NAME}'"):
        return _nightly(config_path, as_of, full_refresh, _as_function, DIRECT_LOG)


logging.getLogger("salesdw").setLevel(logging.INFO)
