"""The benchmark's step timings, read from a run's record and dbt's run results, and its
measurement of a run's process tree (default suite: no salesdw run, no data)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench
from salesdw.run_records import RunRecord, StepRecord, write_record

#: the local time the measured process was started
START = dt.datetime(2026, 12, 7, 22, 0, 0)


def _at(ms: int) -> dt.datetime:
    """``ms`` milliseconds after the process's start."""
    return START + dt.timedelta(milliseconds=ms)


def _step(name: str, start_ms: int, end_ms: int | None, status: str = "completed") -> StepRecord:
    end = _at(end_ms) if end_ms is not None else None
    return StepRecord(name, _at(start_ms), end, status if end is not None else "running")


def _measured(
    record: RunRecord | None,
    wall_s: float,
    dbt_results: dict[str, Any] | None = None,
    samples: list[tuple[float, float]] | None = None,
) -> bench.ChildRun:
    """A measured run started at START with ``record`` (and the poller's ``samples``:
    seconds since the start, MB)."""
    return bench.ChildRun(
        cmd=[],
        wall_s=wall_s,
        started_at=START,
        record=record,
        dbt_results=dbt_results,
        samples=samples or [],
    )


#: a night: validation runs alongside the dbt build (begun 40 ms after it), every other
#: step after the one before
NIGHT = [
    _step("ingest", 1_900, 4_150),
    _step("validate", 4_160, 6_000),
    _step("dbt-build", 4_200, 9_000),
    _step("dbt-docs", 9_000, 9_050),
    _step("kpis", 9_100, 10_600),
    _step("publish", 10_700, 11_300),
    _step("report", 11_320, 11_500),
]


def test_steps_of_a_run_from_its_record(tmp_path: Path) -> None:
    runs = tmp_path / "warehouse/runs"
    earlier = RunRecord("r0", _at(-60_000), _at(-50_000), "success")
    write_record(runs, earlier)
    night = RunRecord("r1", _at(1_250), _at(11_520), "success", steps=NIGHT)
    write_record(runs, night)
    # the run the bench just measured: the record written since it started
    record = bench.new_record(runs, before={"r0"})
    assert record is not None and record.run_id == "r1"
    assert bench.new_record(runs, before={"r0", "r1"}) is None

    result = bench.step_seconds(_measured(record, wall_s=12.5))
    assert result["seconds"] == {
        "startup": 1.25,  # process start -> the run's start
        "ingest": 2.25,
        "dbt-build": 4.8,
        "dbt-docs": 0.05,
        "kpis": 1.5,
        "publish": 0.6,
        "report": 0.18,
        # before ingestion 0.65, ingest -> dbt 0.05, docs -> kpis 0.05, kpis -> publish
        # 0.1, publish -> report 0.02, report -> the run's end 0.02
        "between-steps": 0.89,
        "teardown": 0.98,  # the run's end -> the process's exit
    }
    # validation ran alongside the dbt build: its own time is kept, the steps add up
    assert result["detail"]["step_own_s"] == {
        "ingest": 2.25,
        "validate": 1.84,
        "dbt-build": 4.8,
        "dbt-docs": 0.05,
        "kpis": 1.5,
        "publish": 0.6,
        "report": 0.18,
    }
    assert sum(result["seconds"].values()) == pytest.approx(12.5)
    assert result["detail"]["run_status"] == "success"
    # the memory polled during each step (dbt-docs, 50 ms, saw no poll)
    samples = [(0.5, 90.0), (3.0, 400.0), (5.0, 700.0), (8.0, 650.0), (10.0, 500.0)]
    polled = bench.step_seconds(_measured(record, wall_s=12.5, samples=samples))
    assert polled["detail"]["peak_rss_mb_by_step"] == {
        "startup": 90.0,
        "ingest": 400.0,
        "dbt-build": 700.0,
        "kpis": 500.0,
    }
    assert bench.step_seconds(_measured(None, wall_s=3.0)) == {}  # no record: no steps


def test_waiting_for_validation_is_time_between_steps() -> None:
    """Validation outlasts the KPIs: publication waits for it, and that wait is the
    run's time between steps, not a step's."""
    steps = [
        _step("ingest", 1_000, 2_000),
        _step("validate", 2_000, 6_500),
        _step("dbt-build", 2_100, 5_000),
        _step("dbt-docs", 5_000, 5_100),
        _step("kpis", 5_100, 6_000),
        _step("publish", 6_600, 7_000),
    ]
    record = RunRecord("r1", _at(500), _at(7_000), "success", steps=steps)
    seconds = bench.step_seconds(_measured(record, wall_s=7.25))["seconds"]
    assert seconds == {
        "startup": 0.5,
        "ingest": 1.0,
        "dbt-build": 2.9,
        "dbt-docs": 0.1,
        "kpis": 0.9,
        "publish": 0.4,
        "between-steps": 1.2,  # 0.5 before ingestion, 0.1 before dbt, 0.6 waiting
        "teardown": 0.25,
    }


def test_a_failed_run_and_a_killed_run() -> None:
    # a failed run has its record too: the failed step is timed like any other
    failed = RunRecord(
        "r1",
        _at(1_000),
        _at(4_100),
        "failed",
        error="dbt build failed: fct_orders",
        steps=[_step("ingest", 1_200, 2_000), _step("dbt-build", 2_000, 4_000, "failed")],
    )
    result = bench.step_seconds(_measured(failed, wall_s=4.5))
    assert result["seconds"] == {
        "startup": 1.0,
        "ingest": 0.8,
        "dbt-build": 2.0,
        "between-steps": 0.3,
        "teardown": 0.4,
    }
    assert result["detail"]["run_status"] == "failed"
    # killed by the memory guard during the dbt build, validation still running beside
    # it: the rest of the run's time goes to the step it was killed in
    killed = RunRecord(
        "r2",
        _at(1_000),
        steps=[
            _step("ingest", 1_200, 2_000),
            _step("validate", 2_010, None),
            _step("dbt-build", 2_050, None),
        ],
    )
    result = bench.step_seconds(_measured(killed, wall_s=9.05))
    assert result["seconds"] == {
        "startup": 1.0,
        "ingest": 0.8,
        "between-steps": 0.25,
        "dbt-build (unfinished)": 7.0,
    }
    assert result["detail"]["step_own_s"] == {"ingest": 0.8}
    # killed between two steps: the time since the last one is between steps
    between = RunRecord("r3", _at(1_000), steps=[_step("ingest", 1_200, 2_000)])
    seconds = bench.step_seconds(_measured(between, wall_s=5.0))["seconds"]
    assert seconds == {"startup": 1.0, "ingest": 0.8, "between-steps": 3.2}


def _utc(local: dt.datetime) -> str:
    """A local time as dbt writes its times (UTC, ISO 8601)."""
    return local.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _node(unique_id: str, seconds: float, started: dt.datetime) -> dict[str, object]:
    ended = started + dt.timedelta(seconds=seconds)
    return {
        "unique_id": unique_id,
        "status": "success",
        "execution_time": seconds,
        "timing": [
            {"name": "compile", "started_at": _utc(started), "completed_at": _utc(started)},
            {"name": "execute", "started_at": _utc(started), "completed_at": _utc(ended)},
        ],
    }


def test_the_slowest_dbt_nodes_come_from_the_builds_run_results(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    results = {
        "args": {"which": "build"},
        "elapsed_time": 3.4,
        "results": [
            _node("model.salesdw.fct_orders", 2.5, _at(5_700)),
            _node("test.salesdw.unique_fct_orders_order_id.1a2b", 0.25, _at(8_200)),
            _node("model.salesdw.dim_customer", 0.75, _at(5_750)),
        ],
    }
    path = target / "run_results.json"
    path.write_text(json.dumps(results), encoding="utf-8")
    written = dt.datetime.fromtimestamp(path.stat().st_mtime)
    assert bench.dbt_build_results(target, since=written - dt.timedelta(seconds=1)) == results
    # written before the run started: an earlier run's build, not this one's
    assert bench.dbt_build_results(target, since=written + dt.timedelta(seconds=1)) is None
    assert bench.dbt_build_results(tmp_path / "nowhere", since=written) is None
    # replaced by a later command of the run (dbt docs generate): no detail
    docs = {**results, "args": {"which": "generate"}}
    path.write_text(json.dumps(docs), encoding="utf-8")
    os.utime(path, (written.timestamp(), written.timestamp()))
    assert bench.dbt_build_results(target, since=written - dt.timedelta(seconds=1)) is None

    record = RunRecord("r1", _at(1_250), _at(11_520), "success", steps=NIGHT)
    detail = bench.step_seconds(_measured(record, wall_s=12.5, dbt_results=results))["detail"]
    assert detail["dbt_slowest_nodes"] == {
        "model.salesdw.fct_orders": 2.5,
        "model.salesdw.dim_customer": 0.75,
        "test.salesdw.unique_fct_orders_order_id.1a2b": 0.25,
    }
    assert detail["dbt_reported_run_s"] == 3.4
    assert detail["dbt_startup_s"] == 1.5  # the dbt-build step's start -> its first node
    assert "dbt_slowest_nodes" not in bench.step_seconds(_measured(record, 12.5))["detail"]


def test_the_table_shows_a_step_that_ran_alongside_with_its_own_duration() -> None:
    """The table lists the steps in the run's order, a step that only ever ran alongside
    another with its own duration in brackets."""
    goal = {"value": 1.0, "limit": None, "unit": "s", "met": None}
    overhead = RunRecord(
        "r0", _at(1_000), _at(2_100), "success", steps=[_step("ingest", 1_050, 1_550)]
    )
    night = RunRecord("r1", _at(1_250), _at(11_520), "success", steps=NIGHT)
    measured = {
        "overhead": bench.step_seconds(_measured(overhead, wall_s=2.5)),
        "incremental": bench.step_seconds(_measured(night, wall_s=12.5)),
    }
    result: dict[str, Any] = {
        "scale": "S",
        "rows": 10,
        "input_bytes": 2**20,
        "floor_s": 1.0,
        "overhead_s": 2.5,
        "full_s": 9.0,
        "incremental_s": 12.5,
        "kpi_s": 1.0,
        "query_p95_ms": 5.0,
        "peak_rss_mb": 100.0,
        "goals": {"overhead_as_small_as_possible": goal},
        "steps": {k: v["seconds"] for k, v in measured.items()},
        "details": {"steps_detail": {k: v["detail"] for k, v in measured.items()}},
    }
    text = bench.table(result)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line[:1].isalpha()}
    assert rows["step"] == ["(s)", "overhead", "incremental"]
    steps = [line.split()[0] for line in text.split("step (s)")[1].splitlines()[1:11]]
    assert steps == [
        "startup",
        "ingest",
        "validate",
        "dbt-build",
        "dbt-docs",
        "kpis",
        "publish",
        "report",
        "between-steps",
        "teardown",
    ]
    assert rows["startup"] == ["1.0", "1.2"]
    assert rows["validate"] == ["-", "(1.8)"]
    assert rows["dbt-build"] == ["-", "4.8"]
    assert rows["between-steps"] == ["0.6", "0.9"]
    assert rows["teardown"] == ["0.4", "1.0"]
    assert "(x): the step ran alongside" in text
    assert "(g)" not in text  # a result from before the month night

    # with the night that opens a month: its line, its CPU and its column of steps
    result["month_night_s"] = 6.5
    result["steps"]["month_night"] = {"ingest": 1.1, "dbt-build": 4.5}
    result["details"]["steps_detail"]["month_night"] = {"step_own_s": {"validate": 1.25}}
    result["details"]["cpu_s_by_run"] = {"incremental": 7.0, "month_night": 8.0}
    text = bench.table(result)
    assert "(g) night opening a month" in text and "6.5 s" in text
    assert "CPU s, month_night (process tree)" in text and "8.0 s" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line[:1].isalpha()}
    assert rows["step"] == ["(s)", "overhead", "incremental", "month_night"]
    assert rows["ingest"] == ["0.5", "2.2", "1.1"]
    assert rows["validate"] == ["-", "(1.8)", "(1.2)"]
    assert rows["dbt-build"] == ["-", "4.8", "4.5"]


def test_a_measured_run_counts_the_cpu_of_its_whole_process_tree() -> None:
    # the run's process waits for a child that burns 0.6 s of CPU: both are in cpu_s
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    parent = (
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"
        "print('done')\n"
        "sys.exit(3)"
    )
    run = bench.run_child([sys.executable, "-c", parent], poll_s=0.05)
    assert run.returncode == 3 and run.text == "done"
    assert run.cpu_s >= 0.6
    # the poller saw both processes of the tree (the child's command has no role marker)
    assert [role for role, *_ in run.processes.values()] == ["run", "run"]
    roles = bench.cpu_by_role(run)
    assert set(roles) == {"run", "unseen"}
    assert roles["run"] <= run.cpu_s + 0.01 and roles["run"] >= 0.4


def test_process_roles_of_a_salesdw_run() -> None:
    python = "/x/.venv/bin/python3"
    assert bench.process_role([python, "-m", "salesdw.dbt_runner"]) == "dbt"
    spawn = "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)"
    assert bench.process_role([python, "-B", "-c", spawn]) == "step"
    tracker = "from multiprocessing.resource_tracker import main;main(4)"
    assert bench.process_role([python, "-B", "-c", tracker]) == "helper"
    assert bench.process_role([python, "/x/.venv/bin/salesdw", "run"]) == "run"
