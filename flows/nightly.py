"""The nightly Prefect flow: ingest → validate → dbt build (+ docs) → KPIs → publish → report.

Thin by design: each task wraps one step of ``flows.steps`` (which calls
``salesdw.pipeline``); the flow runs the steps in the order ``flows.steps.run_nightly``
gives them, each as its task. Nothing here retries: every step works on the build file
and is deterministic, a failure leaves the published warehouse untouched and the next
run starts over. ``salesdw run`` without a Prefect API runs the same steps without
Prefect (``flows.steps.nightly_direct``).
"""

# No ``from __future__ import annotations`` here: Prefect validates a deployment run's
# parameters against the flow's signature, which must name real types, not strings.
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from flows import steps
from flows.steps import FLOW_NAME, RunResult
from salesdw import pipeline
from salesdw.dbt_runner import DbtProcess
from salesdw.pipeline import RunContext
from salesdw.validate.batches import DqResult
from salesdw.worker import StepWorker

__all__ = ["RunResult", "nightly"]


def _progress() -> pipeline.Progress:
    logger = get_run_logger()

    def emit(message: str) -> None:
        logger.info(message)

    return emit


@task(name="ingest", cache_policy=NONE)
def ingest_task(ctx: RunContext, worker: StepWorker) -> None:
    steps.ingest(ctx, worker, _progress())


@task(name="validate", cache_policy=NONE)
def validate_task(ctx: RunContext, worker: StepWorker | None) -> list[DqResult]:
    return steps.validate(ctx, worker, _progress())


@task(name="dbt-build", cache_policy=NONE)
def dbt_build_task(ctx: RunContext, dbt: DbtProcess) -> None:
    steps.dbt_build(ctx, dbt, _progress())


@task(name="dbt-docs", cache_policy=NONE)
def dbt_docs_task(ctx: RunContext) -> None:
    steps.dbt_docs(ctx, _progress())


@task(name="kpis", cache_policy=NONE)
def kpis_task(ctx: RunContext, worker: StepWorker) -> None:
    steps.kpis(ctx, worker, _progress())


@task(name="publish", cache_policy=NONE)
def publish_task(ctx: RunContext) -> None:
    steps.publish(ctx, _progress())


@task(name="report", cache_policy=NONE)
def report_task(ctx: RunContext) -> Path:
    return steps.report(ctx, _progress())


#: step -> its Prefect task
TASKS: dict[Callable[..., Any], Any] = {
    steps.ingest: ingest_task,
    steps.validate: validate_task,
    steps.dbt_build: dbt_build_task,
    steps.dbt_docs: dbt_docs_task,
    steps.kpis: kpis_task,
    steps.publish: publish_task,
    steps.report: report_task,
}


def _as_task(step: Callable[..., Any], *args: Any) -> Any:
    return TASKS[step](*args)


def _as_submitted_task(step: Callable[..., Any], *args: Any) -> Any:
    """The step's task submitted to the flow's task runner (threads): a PrefectFuture."""
    return TASKS[step].submit(*args)


@flow(name=FLOW_NAME, log_prints=True)
def nightly(
    config_path: str | None = None, as_of: dt.date | None = None, full_refresh: bool = False
) -> RunResult:
    """The nightly job on the sources of the config file."""
    return steps.run_nightly(
        config_path, as_of, full_refresh, _as_task, _as_submitted_task, get_run_logger()
    )


logging.getLogger("salesdw").setLevel(logging.INFO)
