"""Every run leaves a trace where operators look: a record beside the warehouse (failed
runs too), `salesdw runs`, `meta.runs` / `meta.run_steps` from the next publication on,
and a log beside the warehouse; nothing is written to a fixed path in a shared folder
or through a symbolic link."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from salesdw import cli, pipeline
from salesdw.errors import EXIT_RUN_FAILED
from salesdw.ingest.meta import create_meta_tables
from salesdw.run_records import (
    RunRecord,
    RunRecorder,
    StepRecord,
    UnsafePathError,
    open_log,
    read_records,
    write_record,
)
from schemas.config import Config

CONFIG = """\
warehouse: warehouse/sales.duckdb
landing: landing
sources:
  - name: erp
    entity: orders
    path: "*.csv"
    columns: {order_id: order_id, order_date: order_date}
"""


def _project(root: Path) -> Path:
    (root / "landing").mkdir(parents=True)
    (root / "landing/orders.csv").write_text(
        "order_id,order_date\nA1,2026-01-05\nA2,2026-01-06\n", encoding="utf-8"
    )
    config = root / "salesdw.yml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def _fail_ingest(ctx: Any, progress: Any) -> Any:
    raise RuntimeError("disk full on /data")


@pytest.fixture()
def failing_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`salesdw run` on a small project whose ingestion fails with an unexpected error,
    with a symbolic link planted where the traceback used to go (the shared temp folder)
    pointing at a file that must not change."""
    config = _project(tmp_path / "p")
    shared = tmp_path / "shared_tmp"
    shared.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (shared / "salesdw-last-error.log").symlink_to(victim)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("SALESDW_STEP_PROCESS", "0")  # the failing step runs in this process
    monkeypatch.setattr(pipeline, "ingest", _fail_ingest)
    result = CliRunner().invoke(cli.main, ["run", "--config", str(config)])
    return {
        "result": result,
        "config": config,
        "warehouse": tmp_path / "p/warehouse",
        "shared": shared,
        "victim": victim,
    }


def test_a_failed_run_is_recorded_with_its_error_and_its_log(failing_run: dict[str, Any]) -> None:
    result, warehouse = failing_run["result"], failing_run["warehouse"]
    assert result.exit_code == EXIT_RUN_FAILED, result.output
    [record] = read_records(warehouse / "runs")
    log = warehouse / "logs" / f"{record.run_id}.log"
    assert (
        f"error: the run failed: RuntimeError: disk full on /data\n"
        f"The published warehouse is unchanged. Details: {log}"
    ) in result.output
    assert "Traceback" not in result.output
    # the record: failed, with the error, the log and the step that failed
    assert record.status == "failed"
    assert record.error == "RuntimeError: disk full on /data"
    assert record.log == str(log)
    assert record.finished_at is not None and record.finished_at >= record.started_at
    assert [(s.step, s.status, s.error) for s in record.steps] == [
        ("ingest", "failed", "RuntimeError: disk full on /data")
    ]
    # the log beside the warehouse has the run's lines and the traceback
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: disk full on /data" in text
    assert f"run {record.run_id}: log in {log}" in text
    # nothing was published, nothing written to the shared folder or through the link
    assert not (warehouse / "sales.duckdb").exists()
    assert failing_run["victim"].read_text(encoding="utf-8") == "precious\n"
    assert sorted(p.name for p in failing_run["shared"].iterdir()) == ["salesdw-last-error.log"]
    # the run's work folder is gone
    assert list((warehouse / ".build/runs").iterdir()) == []


def test_salesdw_runs_shows_failed_runs_without_a_published_warehouse(
    failing_run: dict[str, Any],
) -> None:
    config = str(failing_run["config"])
    [record] = read_records(failing_run["warehouse"] / "runs")
    table = CliRunner().invoke(cli.main, ["runs", "--config", config])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].startswith(f"{record.run_id}  failed ")
    assert lines[1].split() == ["ingest", "failed", "0", "s"]
    assert "  error: RuntimeError: disk full on /data" in lines
    assert f"  log: {record.log}" in lines
    as_json = CliRunner().invoke(cli.main, ["runs", "--config", config, "--format", "json"])
    [run] = json.loads(as_json.output)
    assert (run["run_id"], run["status"], run["error"]) == (
        record.run_id,
        "failed",
        "RuntimeError: disk full on /data",
    )
    assert [s["step"] for s in run["steps"]] == ["ingest"]
    as_csv = CliRunner().invoke(cli.main, ["runs", "--config", config, "--format", "csv"])
    header, row = as_csv.output.splitlines()
    assert header.split(",")[:2] == ["run_id", "status"]
    assert row.startswith(f"{record.run_id},failed,")
    assert ",ingest,failed," in row


def test_salesdw_runs_without_any_run(tmp_path: Path) -> None:
    config = _project(tmp_path / "p")
    result = CliRunner().invoke(cli.main, ["runs", "--config", str(config)])
    assert result.exit_code == 0
    assert "no run recorded yet" in result.output


def _record(run_id: str, status: str, minute: int, **more: Any) -> RunRecord:
    started = dt.datetime(2026, 3, 1, 2, minute)
    return RunRecord(run_id, started_at=started, status=status, **more)


def test_a_record_keeps_its_times_to_the_millisecond(tmp_path: Path) -> None:
    """A step of a small night lasts well under a second: the record times it in
    milliseconds, in its JSON file and back."""
    runs = tmp_path / "warehouse/runs"
    step = StepRecord(
        "report",
        dt.datetime(2026, 3, 1, 2, 0, 5, 120_000),
        dt.datetime(2026, 3, 1, 2, 0, 5, 370_000),
        "completed",
    )
    path = write_record(runs, _record("r1", "success", 0, steps=[step]))
    [written] = json.loads(path.read_text(encoding="utf-8"))["steps"]
    assert (written["started_at"], written["finished_at"]) == (
        "2026-03-01 02:00:05.120",
        "2026-03-01 02:00:05.370",
    )
    assert json.loads(path.read_text(encoding="utf-8"))["started_at"] == "2026-03-01 02:00:00.000"
    [read] = read_records(runs)
    assert read.steps[0].seconds == 0.25
    # the recorder's clock: milliseconds, nothing finer
    recorder = RunRecorder(tmp_path / "warehouse/sales.duckdb", "r2", None)
    recorder.begin()
    entry = recorder.step_started("ingest")
    recorder.step_finished(entry)
    recorder.close()
    times = [recorder.record.started_at, entry.started_at, entry.finished_at]
    assert all(t is not None and t.microsecond % 1000 == 0 for t in times)
    [again] = [r for r in read_records(runs) if r.run_id == "r2"]
    assert again.steps[0].started_at == entry.started_at


def test_an_unfinished_run_is_marked_interrupted_by_the_next(tmp_path: Path) -> None:
    runs = tmp_path / "warehouse/runs"
    killed = _record(
        "r1", "running", 0, steps=[StepRecord("ingest", dt.datetime(2026, 3, 1, 2, 0))]
    )
    write_record(runs, killed)
    write_record(runs, _record("r0", "success", 0, finished_at=dt.datetime(2026, 3, 1, 2, 1)))
    recorder = RunRecorder(tmp_path / "warehouse/sales.duckdb", "r2", None)
    recorder.begin()
    recorder.close()
    by_id = {r.run_id: r for r in read_records(runs)}
    assert by_id["r1"].status == "interrupted"
    assert by_id["r1"].error == "the run ended without finishing (killed or crashed)"
    assert [s.status for s in by_id["r1"].steps] == ["interrupted"]
    assert by_id["r0"].status == "success" and by_id["r2"].status == "running"


def test_publication_stores_every_recorded_run_and_its_steps(tmp_path: Path) -> None:
    """meta.runs and meta.run_steps hold the runs of the record store, failed ones
    with their error, and the publishing run with its status and finished steps."""
    config = Config.model_validate(
        {"sources": [{"name": "erp", "entity": "orders", "path": "*.csv"}], "base_dir": tmp_path}
    )
    ctx = pipeline.RunContext(config, "r2", as_of=dt.date(2026, 2, 28))
    runs = ctx.published.parent / "runs"
    failed_step = StepRecord(
        "dbt-build",
        dt.datetime(2026, 3, 1, 2, 0, 10),
        dt.datetime(2026, 3, 1, 2, 0, 40),
        "failed",
        error="dbt build failed: fct_orders",
    )
    write_record(
        runs,
        _record(
            "r1",
            "failed",
            0,
            finished_at=dt.datetime(2026, 3, 1, 2, 1),
            error="dbt build failed: fct_orders",
            steps=[failed_step],
        ),
    )
    ingest = StepRecord(
        "ingest",
        dt.datetime(2026, 3, 1, 3, 0, 0, 250_000),
        dt.datetime(2026, 3, 1, 3, 0, 5, 120_000),
        "completed",
        10,
        9,
    )
    publish = StepRecord("publish", dt.datetime(2026, 3, 1, 3, 1))  # running
    write_record(runs, _record("r2", "running", 59, steps=[ingest, publish]))
    ctx.status = "success"
    db = tmp_path / "build.duckdb"
    con = duckdb.connect(str(db))
    try:
        create_meta_tables(con)
        con.execute("insert into meta.runs values ('r0', null, null, 'success', null, null)")
        pipeline.store_records(con, pipeline._run_records(ctx))
        pipeline.store_records(con, pipeline._run_records(ctx))  # twice: nothing doubled
        assert con.execute(
            "select run_id, status, as_of, error from meta.runs order by run_id"
        ).fetchall() == [
            ("r0", "success", None, None),
            ("r1", "failed", None, "dbt build failed: fct_orders"),
            ("r2", "success", dt.date(2026, 2, 28), None),
        ]
        assert con.execute(
            "select run_id, step, status, rows_in, rows_out, error, "
            "epoch_ms(finished_at) - epoch_ms(started_at) from meta.run_steps order by run_id"
        ).fetchall() == [
            ("r1", "dbt-build", "failed", None, None, "dbt build failed: fct_orders", 30_000),
            ("r2", "ingest", "completed", 10, 9, None, 4_870),  # to the millisecond
        ]
    finally:
        con.close()


def test_nothing_is_written_through_a_symbolic_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    logs = tmp_path / "warehouse/logs"
    logs.mkdir(parents=True)
    (logs / "r1.log").symlink_to(victim)
    with pytest.raises(UnsafePathError, match="exists already"):
        open_log(logs, "r1.log")
    # a record's name planted as a link: the link is replaced, its target untouched
    runs = tmp_path / "warehouse/runs"
    runs.mkdir()
    (runs / "r1.json").symlink_to(victim)
    write_record(runs, _record("r1", "running", 0))
    assert not (runs / "r1.json").is_symlink()
    assert [r.run_id for r in read_records(runs)] == ["r1"]
    # a folder planted as a link is refused
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "w2").mkdir()
    (tmp_path / "w2/logs").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        open_log(tmp_path / "w2/logs", "r2.log")
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert list(elsewhere.iterdir()) == []


def test_a_run_refuses_a_logs_folder_planted_as_a_link_and_records_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _project(tmp_path / "p")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "p/warehouse").mkdir()
    (tmp_path / "p/warehouse/logs").symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = CliRunner().invoke(cli.main, ["run", "--config", str(config)])
    assert result.exit_code == EXIT_RUN_FAILED, result.output
    assert "is a symbolic link, not a folder" in result.output
    assert "Details:" not in result.output  # no log could be written
    assert list(elsewhere.iterdir()) == []
    [record] = read_records(tmp_path / "p/warehouse/runs")
    assert record.status == "failed" and "is a symbolic link" in (record.error or "")
    assert not (tmp_path / "p/warehouse/sales.duckdb").exists()


def test_salesdw_runs_shows_the_latest_runs_first_up_to_the_limit(tmp_path: Path) -> None:
    config = _project(tmp_path / "p")
    runs = tmp_path / "p/warehouse/runs"
    for minute, run_id in enumerate(["r1", "r2", "r3"]):
        write_record(runs, _record(run_id, "success", minute))
    result = CliRunner().invoke(cli.main, ["runs", "--config", str(config), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["r3", "r2"]
