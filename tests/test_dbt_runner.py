"""The dbt child process: started ahead of its command, killed when unused, failures
reported with dbt's own errors."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from salesdw.dbt_runner import DbtProcess, dbt_args, run_dbt
from salesdw.errors import StepFailedError


def test_an_unused_process_is_killed_at_close() -> None:
    process = DbtProcess().start()
    child = process._proc
    assert child is not None
    started = time.perf_counter()
    process.close()
    assert child.poll() is not None  # ended (killed while importing dbt, or waiting)
    assert time.perf_counter() - started < 10
    process.close()  # twice is harmless


def test_a_failing_command_raises_with_dbt_s_errors(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(StepFailedError, match="dbt run-operation failed") as raised:
        run_dbt(["run-operation", "no_such_macro"], db, work_dir=tmp_path / "dbt")
    assert "no_such_macro" in str(raised.value)


def test_the_command_runs_in_the_process_started_ahead(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    lines: list[str] = []
    with DbtProcess().start() as process:
        child = process._proc
        assert child is not None
        process.run(["parse"], db, work_dir=tmp_path / "dbt", progress=lines.append)
        assert child.poll() == 0  # this very process ran the command, and ended
    assert (tmp_path / "dbt" / "target" / "manifest.json").exists()
    assert process._proc is None


def test_the_arguments_name_the_project_and_the_work_folder(tmp_path: Path) -> None:
    args = dbt_args(["build"], work_dir=tmp_path, dbt_vars={"reporting_currency": "EUR"})
    assert args[0] == "build"
    assert args[args.index("--target-path") + 1] == str(tmp_path / "target")
    assert args[args.index("--vars") + 1] == '{"reporting_currency": "EUR"}'


def _wait_for_parse(log_dir: Path, count: int = 1) -> None:
    """Until dbt's log says that ``count`` parses ended."""
    deadline = time.perf_counter() + 120
    log = log_dir / "dbt.log"
    while time.perf_counter() < deadline:
        if log.exists() and log.read_text().count("Command `cli parse` succeeded") >= count:
            return
        time.sleep(0.2)
    raise AssertionError("the parse ahead did not finish")


VARS = {"reporting_currency": "USD", "churn_window_days": 365}


def test_the_command_uses_the_manifest_parsed_ahead(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    work = tmp_path / "dbt"
    with DbtProcess().start(db, work_dir=work, dbt_vars=VARS) as process:
        _wait_for_parse(work / "logs")
        written = work / "target" / "partial_parse.msgpack"
        assert written.exists()
        written.unlink()
        process.run(["ls", "--resource-type", "model"], db, work_dir=work, dbt_vars=VARS)
    assert not written.exists()  # the command did not parse again
    # the check can fail: a command with other vars parses again (and writes the file)
    with DbtProcess().start(db, work_dir=work, dbt_vars=VARS) as process:
        _wait_for_parse(work / "logs", count=2)
        written.unlink()
        other = {**VARS, "churn_window_days": 90}
        process.run(["ls", "--resource-type", "model"], db, work_dir=work, dbt_vars=other)
    assert written.exists()


def test_the_child_ends_with_the_warehouse_closed_and_its_log_written(tmp_path: Path) -> None:
    """The child leaves without the interpreter's teardown (salesdw.dbt_runner._end):
    the build file must still be closed properly (no write-ahead log left for the next
    step to replay) and dbt's log complete."""
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    work = tmp_path / "dbt"
    with DbtProcess().start(db, work_dir=work, dbt_vars=VARS) as process:
        _wait_for_parse(work / "logs")
        # the parse ahead writes no manifest.json: the command writes its own
        assert not (work / "target" / "manifest.json").exists()
        process.run(["seed"], db, work_dir=work, dbt_vars=VARS)
    assert (work / "target" / "manifest.json").exists()
    assert (work / "target" / "run_results.json").exists()
    assert not Path(f"{db}.wal").exists()
    log = (work / "logs" / "dbt.log").read_text()
    assert "Command `cli seed` succeeded" in log
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'seeds'"
        ).fetchall()
    assert tables[0][0] >= 2
