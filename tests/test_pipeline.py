"""The run's exit status (SPEC §7) and the steps' behaviour without Prefect."""

from __future__ import annotations

from pathlib import Path

from salesdw import pipeline
from salesdw.ingest.loader import FileResult, IngestReport
from schemas.config import Config


def _ctx(files: list[FileResult], **source: object) -> pipeline.RunContext:
    config = Config.model_validate(
        {
            "sources": [
                {"name": "erp", "entity": "orders", "path": "*.csv", **source},
                {"name": "crm", "entity": "customers", "path": "*.csv"},
            ],
            "base_dir": Path("."),
        }
    )
    ctx = pipeline.RunContext(config, "run-1")
    ctx.ingest = IngestReport(files)
    return ctx


def test_clean_run_exits_0() -> None:
    files = [FileResult("erp", "orders", "a.csv", "loaded", 100, 96, 4)]  # 4% < 5%
    assert pipeline.exit_status(_ctx(files)) == 0
    assert pipeline.data_errors(_ctx(files)) == []


def test_quarantine_above_threshold_exits_1() -> None:
    files = [
        FileResult("erp", "orders", "a.csv", "loaded", 100, 97, 3),
        FileResult("erp", "orders", "b.csv", "loaded", 100, 97, 3),  # 6 of 200 = 3%
        FileResult("crm", "customers", "c.csv", "loaded", 50, 47, 3),  # 6% > 5%
    ]
    ctx = _ctx(files)
    assert pipeline.exit_status(ctx) == 1
    assert pipeline.data_errors(ctx) == [
        "source 'crm': 6.0% of the rows quarantined (threshold 5%); see meta.quarantine"
    ]


def test_per_source_threshold_overrides_the_default() -> None:
    files = [FileResult("erp", "orders", "a.csv", "loaded", 100, 90, 10)]  # 10%
    assert pipeline.exit_status(_ctx(files)) == 1
    assert pipeline.exit_status(_ctx(files, quarantine_threshold=0.2)) == 0


def test_unreadable_file_is_a_data_error_but_not_a_failure() -> None:
    files = [
        FileResult("erp", "orders", "a.csv", "loaded", 10, 10, 0),
        FileResult("erp", "orders", "bad.csv", "unreadable", message="bad.csv: the file is empty"),
    ]
    ctx = _ctx(files)
    assert pipeline.exit_status(ctx) == 1
    assert pipeline.data_errors(ctx) == ["source 'erp': bad.csv: the file is empty — file skipped"]


def test_dbt_builds_only_what_the_loaded_raw_tables_feed() -> None:
    files = [
        FileResult("erp", "orders", "a.csv", "loaded", 10, 10, 0),
        FileResult("erp_lines", "order_lines", "a.csv", "loaded", 10, 10, 0),
        FileResult("crm", "customers", "c.csv", "skipped"),
    ]
    ctx = _ctx(files)
    assert pipeline.dbt_build_args(ctx, same_project=True) == [
        "build", "--select", "source:raw.order_lines+", "source:raw.orders+"
    ]
    # a changed project (or vars) rebuilds everything; so does --full-refresh
    assert pipeline.dbt_build_args(ctx, same_project=False) == ["build"]
    ctx.full_refresh = True
    assert pipeline.dbt_build_args(ctx, same_project=True) == ["build", "--full-refresh"]
    # nothing loaded, same project: nothing to build
    assert pipeline.dbt_build_args(_ctx([]), same_project=True) is None
    assert pipeline.dbt_build_args(_ctx([]), same_project=False) == ["build"]
