"""The nightly job's two runners: the Prefect flow and the run without Prefect."""

from __future__ import annotations

import subprocess
import sys

from flows import nightly, steps


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
