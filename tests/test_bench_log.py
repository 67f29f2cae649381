"""The benchmark's reading of a run's log and its measurement of a run's process tree (default
suite: no salesdw run, no data)."""

from __future__ import annotations

import sys

import pytest

from benchmarks import bench


def test_parse_steps_of_a_run_log() -> None:
    log = [
        "10:00:05.000 | INFO    | Flow run 'x' - Beginning flow run 'x' for flow 'salesdw-nightly'",
        "10:00:05.500 | INFO    | Flow run 'x' - run 2026: /w/sales.duckdb",
        "10:00:06.500 | INFO    | Task run 'ingest-1ab' - reps: reps.csv: 4 rows in, 4 loaded, 0 q",
        "10:00:08.000 | INFO    | Task run 'ingest-1ab' - Finished in state Completed()",
        "10:00:11.000 | INFO    | Task run 'dbt-build-2cd' -  1 of 9 OK created sql table model "
        "marts.fct_orders ..... [OK in 2.50s]",
        "10:00:12.000 | INFO    | Task run 'dbt-build-2cd' - Finished in state Completed()",
        "10:00:12.500 | INFO    | Flow run 'x' - Finished in state Completed()",
    ]
    lines = [(3.0 + i * 0.001, t) for i, t in enumerate(log)]
    run = bench.ChildRun(cmd=[], wall_s=20.0, lines=lines)
    parsed = bench.parse_steps(run)
    s = parsed["seconds"]
    assert s["startup"] == pytest.approx(3.0, abs=0.01)
    assert s["ingest"] == pytest.approx(3.0)
    assert s["dbt-build"] == pytest.approx(4.0)
    assert s["teardown"] == pytest.approx(20.0 - 10.5, abs=0.01)
    assert parsed["detail"]["dbt_slowest_nodes"] == {"marts.fct_orders": 2.5}
    assert parsed["detail"]["dbt_startup_s"] == pytest.approx(3.0)
    assert parsed["detail"]["ingest_by_source"] == {"reps": 1.0}
    # a run killed inside a step: the rest of the time goes to that step
    killed = bench.ChildRun(cmd=[], wall_s=9.0, lines=lines[:3])
    assert bench.parse_steps(killed)["seconds"]["ingest (unfinished)"] == pytest.approx(6.0)


def test_parse_steps_of_a_run_without_prefect() -> None:
    """The log of flows.steps.nightly_direct (salesdw run without a Prefect API) gives the same
    steps as the flow's."""
    log = [
        "10:00:01.000 | INFO    | Run 'salesdw-nightly' - Beginning",
        "10:00:01.500 | INFO    | run 20261122T182121Z-01693b: /w/sales.duckdb",
        "10:00:01.600 | INFO    | Step 'ingest' - Beginning",
        "10:00:02.500 | INFO    | Step 'ingest' - reps: reps.csv: 4 rows in, 4 loaded, 0 q",
        "10:00:03.000 | INFO    | Step 'ingest' - read 2 file(s), 1,200 rows, for erp_orders, "
        "erp_order_lines",
        "10:00:03.200 | INFO    | Step 'ingest' - erp_orders: a.csv: 700 rows in, 700 loaded, 0 q",
        "10:00:03.700 | INFO    | Step 'ingest' - erp_orders: b.csv: 500 rows in, 500 loaded, 0 q",
        "10:00:03.900 | INFO    | Step 'ingest' - erp_order_lines: a.csv: 700 rows in, 700 loaded, "
        "0 quarantined",
        "10:00:04.000 | INFO    | Step 'ingest' - Finished in state Completed (2.4 s)",
        "10:00:04.100 | INFO    | Step 'dbt-build' - Beginning",
        "10:00:07.000 | INFO    | Step 'dbt-build' -  1 of 9 OK created sql table model "
        "marts.fct_orders ..... [OK in 2.50s]",
        "10:00:08.000 | INFO    | Step 'dbt-build' - Finished in state Completed (3.9 s)",
        "10:00:08.200 | INFO    | Run 'salesdw-nightly' - Finished in state Completed (7.2 s)",
    ]
    lines = [(2.0 + i * 0.001, t) for i, t in enumerate(log)]
    parsed = bench.parse_steps(bench.ChildRun(cmd=[], wall_s=10.0, lines=lines))
    s = parsed["seconds"]
    assert s["startup"] == pytest.approx(2.0, abs=0.01)
    assert s["ingest"] == pytest.approx(3.0)
    assert s["dbt-build"] == pytest.approx(4.0)
    assert s["flow_end"] == pytest.approx(0.2)
    assert s["teardown"] == pytest.approx(10.0 - 9.2, abs=0.01)
    assert parsed["detail"]["dbt_slowest_nodes"] == {"marts.fct_orders": 2.5}
    assert parsed["detail"]["dbt_startup_s"] == pytest.approx(3.0)  # from ingest's end
    # the read of files shared by two sources is its own entry, not the first source's
    assert parsed["detail"]["ingest_by_source"] == {
        "reps": 1.0,
        "read (erp_orders, erp_order_lines)": 0.5,
        "erp_orders": 0.7,
        "erp_order_lines": 0.2,
    }


def test_a_step_alongside_a_later_one_takes_no_share() -> None:
    """Validation runs alongside the dbt build: the steps still add up to the run, and
    each step's own duration is kept."""
    log = [
        "10:00:01.000 | INFO    | Run 'salesdw-nightly' - Beginning",
        "10:00:01.600 | INFO    | Step 'ingest' - Beginning",
        "10:00:04.000 | INFO    | Step 'ingest' - Finished in state Completed (2.4 s)",
        "10:00:04.010 | INFO    | Step 'validate' - Beginning",
        "10:00:04.020 | INFO    | Step 'dbt-build' - Beginning",
        "10:00:06.010 | INFO    | Step 'validate' - Finished in state Completed (2.0 s)",
        "10:00:09.000 | INFO    | Step 'dbt-build' - Finished in state Completed (5.0 s)",
        "10:00:09.100 | INFO    | Step 'kpis' - Beginning",
        "10:00:10.000 | INFO    | Step 'kpis' - Finished in state Completed (0.9 s)",
        "10:00:10.200 | INFO    | Run 'salesdw-nightly' - Finished in state Completed (9.2 s)",
    ]
    lines = [(2.0 + i * 0.001, t) for i, t in enumerate(log)]
    parsed = bench.parse_steps(bench.ChildRun(cmd=[], wall_s=12.0, lines=lines))
    s = parsed["seconds"]
    assert "validate" not in s
    assert s["ingest"] == pytest.approx(3.0)
    assert s["dbt-build"] == pytest.approx(5.0)  # from ingest's end
    assert s["kpis"] == pytest.approx(1.0)
    assert sum(s.values()) == pytest.approx(12.0, abs=0.01)
    assert parsed["detail"]["step_own_s"] == {
        "ingest": 2.4,
        "validate": 2.0,
        "dbt-build": 5.0,
        "kpis": 0.9,
    }
    # validation outlasting dbt: the run waits for it, and that wait is its share
    later = [t.replace("10:00:06.010", "10:00:09.050") for t in log]
    later.sort(key=lambda t: t[:12])
    lines = [(2.0 + i * 0.001, t) for i, t in enumerate(later)]
    s = bench.parse_steps(bench.ChildRun(cmd=[], wall_s=12.0, lines=lines))["seconds"]
    assert s["dbt-build"] == pytest.approx(5.0) and s["validate"] == pytest.approx(0.05)


def test_the_table_shows_a_step_that_ran_alongside_with_its_own_duration() -> None:
    goal = {"value": 1.0, "limit": None, "unit": "s", "met": None}
    result = {
        "scale": "S",
        "rows": 10,
        "input_bytes": 2**20,
        "floor_s": 1.0,
        "overhead_s": 1.0,
        "full_s": 9.0,
        "incremental_s": 5.0,
        "kpi_s": 1.0,
        "query_p95_ms": 5.0,
        "peak_rss_mb": 100.0,
        "goals": {"overhead_as_small_as_possible": goal},
        "steps": {
            "overhead": {"ingest": 0.5},
            "full": {"ingest": 3.0, "validate": 2.0, "dbt-build": 4.0},
            "incremental": {"ingest": 1.0, "dbt-build": 4.0},
        },
        "details": {"steps_detail": {"incremental": {"step_own_s": {"validate": 1.5}}}},
    }
    rows = {
        line.split()[0]: line.split()[1:]
        for line in bench.table(result).splitlines()
        if line[:1].isalpha()
    }
    assert rows["validate"] == ["-", "2.0", "(1.5)"]
    assert rows["dbt-build"] == ["-", "4.0", "4.0"]
    assert "(x): the step ran alongside" in bench.table(result)
    assert "(g)" not in bench.table(result)  # a result from before the month night

    # with the night that opens a month: its line, its CPU and its column of steps
    result["month_night_s"] = 6.5
    result["steps"]["month_night"] = {"ingest": 1.1, "dbt-build": 4.5}
    result["details"]["steps_detail"]["month_night"] = {"step_own_s": {"validate": 1.25}}
    result["details"]["cpu_s_by_run"] = {"incremental": 7.0, "month_night": 8.0}
    text = bench.table(result)
    assert "(g) night opening a month" in text and "6.5 s" in text
    assert "CPU s, month_night (process tree)" in text and "8.0 s" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line[:1].isalpha()}
    assert rows["step"] == ["(s)", "overhead", "full", "incremental", "month_night"]
    assert rows["ingest"] == ["0.5", "3.0", "1.0", "1.1"]
    assert rows["validate"] == ["-", "2.0", "(1.5)", "(1.2)"]
    assert rows["dbt-build"] == ["-", "4.0", "4.0", "4.5"]


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
