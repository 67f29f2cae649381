"""The nightly job's steps and their order, without Prefect.

``flows/nightly.py`` wraps each step in a Prefect task and runs :func:`run_nightly` as
the flow ``salesdw-nightly`` (the deployment, and ``salesdw run`` when a Prefect API is
configured). :func:`nightly_direct` runs the same steps in the same order as plain
function calls: a flow run without ``PREFECT_API_URL`` would start a temporary Prefect
server (about 8 s, and 2–3 s to stop it) only to record states that nobody reads, and
this module does not even import Prefect (about 2 s).

Each step calls library code (``salesdw.pipeline``) and takes the progress callback of
its task last. The heavy steps run in child processes (``salesdw.worker``): ingestion,
validation and the KPIs each in its own, so that none carries the memory of the steps
before it. dbt runs in its own process anyway. The validation worker and the dbt process
start with the run: they import Great Expectations and dbt (about 5 and 3–4 CPU
seconds; the dbt process then parses the project, 1–10 s) while the published
warehouse is copied and ingestion runs, when the landing folder seems to hold new files
(``pipeline.expects_new_files``) or the run is a full refresh; unused, they are killed.

Ingestion ends with the hygiene checks and exports the run's batches to Arrow files
(``salesdw.validate.batches``), on its own connection. Validation reads those files, not
the warehouse, so it runs in a thread of this process (``submit``; in Prefect, a
submitted task) while dbt builds; the run waits for it before the KPIs, or, for
batches of up to ``VALIDATE_DURING_KPIS_MAX_ROWS`` rows, before publication (it then
goes on while the KPIs are computed). Batches of more than
``VALIDATE_DURING_DBT_MAX_ROWS`` rows are validated before dbt instead, to keep the two
peaks of memory apart. Publication stores the results (``meta.dq_results``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kpis.registry import FAMILIES
from salesdw import pipeline
from salesdw.config import load_config
from salesdw.dbt_runner import DbtProcess
from salesdw.errors import RunFailedError, SalesdwError
from salesdw.pipeline import Progress, RunContext
from salesdw.run_records import RunRecorder, describe
from salesdw.worker import StepWorker

if TYPE_CHECKING:
    from salesdw.validate.batches import DqResult

FLOW_NAME = "salesdw-nightly"

#: what the validation worker imports before it is needed
VALIDATION_MODULES = ("salesdw.validate.runner",)

#: what the ingestion worker imports before its step arrives (the step's own module and
#: the loader; this process has imported them already)
LOADING_MODULES = ("flows.steps", "salesdw.ingest.loader", "salesdw.validate.batches")

#: what the KPI worker imports while dbt builds (kpis.registry imports nothing heavy;
#: importing kpis.compute in the run's process would cost 0.6 s)
KPI_MODULES = ("kpis.compute", *FAMILIES, "kpis.clv", "kpis.cohorts", "kpis.segments")

#: the log of a run without Prefect (``nightly_direct``); the CLI prints it
DIRECT_LOG = logging.getLogger("salesdw.nightly")


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


def ingest(ctx: RunContext, worker: StepWorker, progress: Progress) -> None:
    worker.run(pipeline.ingest, ctx, progress)


def validate(ctx: RunContext, worker: StepWorker | None, progress: Progress) -> list[DqResult]:
    """Great Expectations on the run's batches, in ``worker`` (in this process when
    there is no batch: nothing is imported then). The worker is released as soon as the
    step ends: its process (Great Expectations, pandas) does not stay alive, holding its
    memory, until the run takes the result, which may be after the KPI step."""
    if worker is None:
        return pipeline.validate(ctx, progress)
    try:
        return worker.run(pipeline.validate, ctx, progress)
    finally:
        worker.release()


def dbt_build(ctx: RunContext, dbt: DbtProcess, progress: Progress) -> None:
    pipeline.build_models(ctx, progress, dbt)


def dbt_docs(ctx: RunContext, progress: Progress) -> None:
    pipeline.build_docs(ctx, progress)


def kpis(ctx: RunContext, worker: StepWorker, progress: Progress) -> None:
    pipeline.compute_kpis(ctx, progress, worker)


def publish(ctx: RunContext, progress: Progress) -> None:
    pipeline.publish(ctx, progress)


def report(ctx: RunContext, progress: Progress) -> Path:
    return pipeline.report(ctx, progress)


#: step -> the name of its task (Prefect's task runs and the direct log use it)
STEP_NAMES: dict[Callable[..., Any], str] = {
    ingest: "ingest",
    validate: "validate",
    dbt_build: "dbt-build",
    dbt_docs: "dbt-docs",
    kpis: "kpis",
    publish: "publish",
    report: "report",
}

#: runs one step of the nightly job: ``call(step, *args)`` (the step's arguments before
#: its progress callback) returns the step's result
StepCall = Callable[..., Any]


class Pending(Protocol):
    """A step started by a :data:`StepSubmit` (a ``concurrent.futures.Future`` or a
    ``PrefectFuture``)."""

    def result(self) -> Any: ...

    def add_done_callback(self, fn: Callable[[Any], None]) -> None: ...


#: starts one step of the nightly job in a thread: ``submit(step, *args)`` returns at
#: once; ``.result()`` of what it returns waits for the step's result
StepSubmit = Callable[..., Pending]

#: the validation process's lower priority (``os.nice``): its import of Great
#: Expectations and the validation itself run alongside ingestion and the dbt build, the
#: run's critical path, and should take only the CPU those leave (2 cores: at M the
#: import alone delayed dbt's start by 2–3 s)
VALIDATION_NICENESS = 10

#: batches of up to this many rows in all are validated while dbt builds; larger ones
#: before it: GX's pandas frames of a 10 M-line load next to dbt's 2 GB would pass the
#: run's 4 GiB memory goal (docs/decisions/0003)
VALIDATE_DURING_DBT_MAX_ROWS = 3_000_000

#: batches of up to this many rows in all, validated while dbt builds, may go on while
#: the KPIs are computed (publication waits for them): at M a night's validation,
#: niced, ended after dbt's build and held the KPI step back (docs/decisions/0003).
#: Larger ones are waited for before the KPI step, whose peak of
#: memory (2.4 GB at L) is above dbt's.
VALIDATE_DURING_KPIS_MAX_ROWS = 1_000_000


def run_nightly(
    config_path: str | None,
    as_of: dt.date | None,
    full_refresh: bool,
    call: StepCall,
    submit: StepSubmit,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> RunResult:
    """The order of the nightly job's steps, each run through ``call``; validation runs
    through ``submit``, alongside the dbt build, when its batches are small enough.

    From the moment the run holds the build lock it is recorded beside the warehouse
    (``salesdw.run_records``): each step as it starts and ends (timings, rows, status),
    then the run's end, or its failure with the error and, in its log, the traceback.
    An unexpected error is raised as a RunFailedError that names the log."""
    config = load_config(config_path)
    pipeline.check_config(config)
    ctx = RunContext(config, pipeline.new_run_id(), as_of=as_of, full_refresh=full_refresh)
    log.info(f"run {ctx.run_id}: {config.warehouse_path}")
    record = RunRecorder(ctx.published, ctx.run_id, as_of)
    with pipeline.run_lock(config):
        try:
            record.begin()
            log.info(f"run {ctx.run_id}: log in {record.log_path}")
            report_path = _run_steps(ctx, *_recorded(call, submit, record))
        except BaseException as exc:
            log_file = record.log_file
            record.fail(exc)
            record.close()
            if isinstance(exc, SalesdwError):
                exc.log_file = log_file
                raise
            if isinstance(exc, Exception):  # unexpected: the log has its traceback
                raise RunFailedError(describe(exc), log_file=log_file) from exc
            raise
        finally:
            pipeline.remove_work(ctx)
        record.finish(ctx.status, ctx.as_of)
        record.close()
    loaded = ctx.ingest.loaded
    return RunResult(
        run_id=ctx.run_id,
        currency=ctx.config.reporting_currency,
        as_of=ctx.as_of,
        status=ctx.status,
        exit_code=pipeline.exit_status(ctx),
        published=ctx.published,
        report=report_path,
        files_loaded=len(loaded),
        rows_loaded=sum(f.rows_loaded for f in loaded),
        rows_quarantined=sum(f.rows_quarantined for f in loaded),
        data_errors=pipeline.data_errors(ctx),
    )


def _run_steps(ctx: RunContext, call: StepCall, submit: StepSubmit) -> Path:
    """The steps of a run in their order (under the build lock); returns the report."""
    with (
        StepWorker() as loading,
        StepWorker(niceness=VALIDATION_NICENESS) as validating,
        DbtProcess() as dbt,
        StepWorker() as kpi_worker,
    ):
        # every run ingests: the ingestion process imports its modules (0.3 s) while
        # the warehouse is copied; validation and dbt, when they will run, too
        loading.start(LOADING_MODULES)
        if ctx.full_refresh or pipeline.expects_new_files(ctx):
            validating.start(VALIDATION_MODULES)
            pipeline.start_dbt(ctx, dbt)
        pipeline.start(ctx)
        call(ingest, ctx, loading)  # with the hygiene checks and the batches' export
        loading.release()
        validation: Pending | None = None
        during_kpis = False  # whether validation may go on while the KPIs are computed
        if ctx.batches is None:  # nothing loaded: no GX, and the importing one is killed
            validating.release()
            ctx.dq_results = call(validate, ctx, None)
        elif ctx.batches.rows <= VALIDATE_DURING_DBT_MAX_ROWS:
            # GX reads the exported files, not the warehouse: dbt can build meanwhile
            validation = submit(validate, dataclasses.replace(ctx), validating)
            during_kpis = ctx.batches.rows <= VALIDATE_DURING_KPIS_MAX_ROWS
        else:
            ctx.dq_results = call(validate, ctx, validating)
        if ctx.ingest.loaded or ctx.full_refresh:  # imports the KPI layer during dbt
            kpi_worker.start(KPI_MODULES)
        call(dbt_build, ctx, dbt)
        call(dbt_docs, ctx)
        if validation is not None and not during_kpis:
            ctx.dq_results = validation.result()
            validation = None
        call(kpis, ctx, kpi_worker)
        # the KPI process frees its memory as it exits, while publication starts (the
        # end of the block waits for it, and for the others)
        kpi_worker.release()
        if validation is not None:  # publication stores its results
            ctx.dq_results = validation.result()
        call(publish, ctx)
    report_path: Path = call(report, ctx)
    return report_path


def _step_rows(name: str, ctx: RunContext) -> tuple[int | None, int | None]:
    """(rows in, rows out) of a step, where they apply: the rows read and loaded by
    ingestion, the rows validated, the KPI rows computed."""
    if name == "ingest":
        loaded = ctx.ingest.loaded
        return sum(f.rows_in for f in loaded), sum(f.rows_loaded for f in loaded)
    if name == "validate":
        return (ctx.batches.rows if ctx.batches is not None else 0), None
    if name == "kpis":
        return None, sum(ctx.kpi_rows.values())
    return None, None


def _recorded(
    call: StepCall, submit: StepSubmit, record: RunRecorder
) -> tuple[StepCall, StepSubmit]:
    """``call`` and ``submit`` that record each step's timing, rows and status in the
    run's record (``meta.run_steps`` once published). A step's context is its first
    argument."""

    def recorded_call(step: Callable[..., Any], ctx: RunContext, *args: Any) -> Any:
        name = STEP_NAMES[step]
        entry = record.step_started(name)
        try:
            result = call(step, ctx, *args)
        except BaseException as exc:
            record.step_finished(entry, exc)
            raise
        record.step_finished(entry, None, *_step_rows(name, ctx))
        return result

    def recorded_submit(step: Callable[..., Any], ctx: RunContext, *args: Any) -> Pending:
        name = STEP_NAMES[step]
        entry = record.step_started(name)
        pending = submit(step, ctx, *args)

        def done(finished: Any) -> None:
            try:
                finished.result()
            except BaseException as exc:
                record.step_finished(entry, exc)
                return
            record.step_finished(entry, None, *_step_rows(name, ctx))

        pending.add_done_callback(done)
        return pending

    return recorded_call, recorded_submit


@contextmanager
def _logged(subject: str) -> Iterator[None]:
    """Begin and end lines of a run or step without Prefect, with its final state
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


def _call_directly(step: Callable[..., Any], *args: Any) -> Any:
    prefix = f"Step '{STEP_NAMES[step]}' - "

    def progress(message: str) -> None:
        DIRECT_LOG.info(prefix + message)

    with _logged(prefix.removesuffix(" - ")):
        return step(*args, progress)


def nightly_direct(
    config_path: str | None = None, as_of: dt.date | None = None, full_refresh: bool = False
) -> RunResult:
    """The nightly job without Prefect: the flow's steps in the flow's order, as plain
    function calls in this process (no Prefect server, no recorded states); validation
    in a thread when the flow runs it alongside dbt. Its log lines go to
    ``DIRECT_LOG``."""
    with (
        _logged(f"Run '{FLOW_NAME}'"),
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesdw-step") as pool,
    ):

        def submit(step: Callable[..., Any], *args: Any) -> Pending:
            return pool.submit(_call_directly, step, *args)

        return run_nightly(config_path, as_of, full_refresh, _call_directly, submit, DIRECT_LOG)
