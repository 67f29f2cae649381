"""The nightly job's two runners: the Prefect flow and the run without Prefect."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from flows import nightly, steps
from salesdw.errors import RunFailedError
from salesdw.run_records import read_records
from salesdw.validate.batches import Batch, BatchExport


def test_every_step_is_a_prefect_task_of_the_same_name() -> None:
    assert set(nightly.TASKS) == set(steps.STEP_NAMES)
    for step, task in nightly.TASKS.items():
        assert task.name == steps.STEP_NAMES[step]


def test_a_run_without_prefect_does_not_import_it() -> None:
    """`salesdw run` without a Prefect API imports the CLI and flows.steps only: Prefect's
    import alone takes about 2 s, most of the run's fixed cost."""
    code = (
        "import sys, salesdw.cli, flows.steps, salesdw.pipeline, salesdw.worker; "
        "sys.exit('prefect' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_workers_preload_what_their_steps_import() -> None:
    import importlib

    from kpis.registry import FAMILIES

    assert set(FAMILIES) <= set(steps.KPI_MODULES)
    for module in (*steps.KPI_MODULES, *steps.VALIDATION_MODULES):
        importlib.import_module(module)  # every name is a module


def test_the_run_s_process_imports_neither_the_kpi_layer_nor_great_expectations() -> None:
    """They are imported by the step workers (ahead, while earlier steps run)."""
    code = (
        "import sys, salesdw.cli, flows.steps; "
        "sys.exit(any(m in sys.modules for m in ('kpis.compute', 'great_expectations', 'dbt')))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


class _Orchestration:
    """Fakes of the steps for run_nightly: records what ran, how, and in what order."""

    def __init__(self, rows: int | None, dbt_fails: bool = False) -> None:
        self.rows, self.dbt_fails = rows, dbt_fails
        self.events: list[str] = []
        self.dbt_running = threading.Event()

    def call(self, step: Any, ctx: Any, *_: Any) -> Any:
        name = steps.STEP_NAMES[step]
        self.events.append(f"call {name}")
        if name == "ingest" and self.rows is not None:
            batch = Batch("orders", "erp", Path("0.arrow"), self.rows)
            ctx.batches = BatchExport("run-1", Path("."), (batch,), None, frozenset())
        if name == "validate":
            return ["result"] if self.rows is not None else []
        if name == "dbt-build":
            self.dbt_running.set()
            time.sleep(0.2)  # the submitted validation runs meanwhile
            if self.dbt_fails:
                raise RuntimeError("dbt failed")
        if name in ("kpis", "publish"):
            self.events.append(f"{name} sees {ctx.dq_results}")
        return Path("report.html") if name == "report" else None

    def submit(self, step: Any, ctx: Any, *_: Any) -> Future[Any]:
        name = steps.STEP_NAMES[step]
        self.events.append(f"submit {name}")
        future: Future[Any] = Future()

        def validate() -> None:
            self.dbt_running.wait(5)  # proves it runs while dbt builds
            self.events.append("validated during dbt")
            future.set_result(["result"])

        threading.Thread(target=validate).start()
        return future


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: _Orchestration) -> Any:
    from schemas.config import Config

    config = Config.model_validate(
        {"sources": [{"name": "erp", "entity": "orders", "path": "*.csv"}], "base_dir": tmp_path}
    )
    monkeypatch.setattr(steps, "load_config", lambda _path: config)
    monkeypatch.setattr(steps.pipeline, "check_config", lambda _config: None)
    monkeypatch.setattr(steps.pipeline, "expects_new_files", lambda _ctx: False)
    monkeypatch.setattr(steps.pipeline, "start", lambda _ctx: None)
    monkeypatch.setattr(steps.pipeline, "exit_status", lambda _ctx: 0)
    monkeypatch.setattr(steps.pipeline, "data_errors", lambda _ctx: [])
    return steps.run_nightly(None, None, False, fake.call, fake.submit, logging.getLogger("t"))


def test_small_batches_are_validated_while_dbt_builds_and_the_kpis_are_computed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Orchestration(rows=10)
    _run(monkeypatch, tmp_path, fake)
    assert fake.events == [
        "call ingest",
        "submit validate",
        "call dbt-build",
        "validated during dbt",
        "call dbt-docs",
        "call kpis",
        "kpis sees []",  # not waited for before the KPIs
        "call publish",
        "publish sees ['result']",
        "call report",
    ]
    # every step is recorded, validation (in its thread) too, and the run as finished
    [record] = read_records(tmp_path / "data/warehouse/runs")
    assert record.status == "running"  # the fake publication set no status
    assert record.finished_at is not None
    assert sorted((s.step, s.status) for s in record.steps) == [
        ("dbt-build", "completed"),
        ("dbt-docs", "completed"),
        ("ingest", "completed"),
        ("kpis", "completed"),
        ("publish", "completed"),
        ("report", "completed"),
        ("validate", "completed"),
    ]
    validate = next(s for s in record.steps if s.step == "validate")
    assert validate.rows_in == 10


def test_batches_above_the_kpi_limit_are_waited_for_before_the_kpis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Orchestration(rows=steps.VALIDATE_DURING_KPIS_MAX_ROWS + 1)
    _run(monkeypatch, tmp_path, fake)
    assert fake.events[:4] == [
        "call ingest",
        "submit validate",
        "call dbt-build",
        "validated during dbt",
    ]
    assert "kpis sees ['result']" in fake.events
    assert "publish sees ['result']" in fake.events


def test_large_batches_are_validated_before_dbt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Orchestration(rows=steps.VALIDATE_DURING_DBT_MAX_ROWS + 1)
    _run(monkeypatch, tmp_path, fake)
    assert fake.events[:3] == ["call ingest", "call validate", "call dbt-build"]
    assert "kpis sees ['result']" in fake.events


def test_without_batches_validation_is_called_with_no_worker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Orchestration(rows=None)
    _run(monkeypatch, tmp_path, fake)
    assert fake.events[:3] == ["call ingest", "call validate", "call dbt-build"]
    assert "kpis sees []" in fake.events


def test_a_dbt_failure_during_validation_fails_the_run_before_publication(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Orchestration(rows=10, dbt_fails=True)
    with pytest.raises(RunFailedError, match="RuntimeError: dbt failed"):
        _run(monkeypatch, tmp_path, fake)
    assert "call publish" not in fake.events and "call kpis" not in fake.events


def test_the_validation_worker_is_released_as_soon_as_validation_ends(tmp_path: Path) -> None:
    """Its process (Great Expectations, pandas) must not stay alive until the run takes
    the result, which may be after the KPI step (the peak of a night's memory)."""
    from salesdw.pipeline import RunContext
    from salesdw.worker import StepWorker
    from schemas.config import Config

    config = Config.model_validate(
        {"sources": [{"name": "erp", "entity": "orders", "path": "*.csv"}], "base_dir": tmp_path}
    )
    with StepWorker() as worker:
        assert steps.validate(RunContext(config, "run-1"), worker, lambda _m: None) == []
        assert worker._process is None  # released: the next run() would start a new one
        assert len(worker._ending) == 1
