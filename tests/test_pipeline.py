"""The run's exit status (README.md) and the steps' behaviour without Prefect."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import duckdb
import pytest

from salesdw import pipeline
from salesdw.ingest.loader import FileResult, IngestReport
from salesdw.ingest.meta import create_meta_tables
from salesdw.ingest.raw_tables import create_raw_tables
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


def test_a_source_that_matched_no_file_is_a_data_error() -> None:
    files = [FileResult("erp", "orders", "a.csv", "loaded", 10, 10, 0)]
    ctx = _ctx(files)
    ctx.unmatched = ["crm"]
    assert pipeline.exit_status(ctx) == 1
    assert pipeline.data_errors(ctx) == [
        "source 'crm': no file in the landing folder matches '*.csv'; nothing loaded for "
        "it (check the source's path)"
    ]


def test_ingest_says_which_source_matched_no_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real ingestion: one source with a typo in its glob, one with a file. The typo is
    in the run's log and data errors; the other source's rows all load."""
    landing = tmp_path / "landing" / "erp"
    landing.mkdir(parents=True)
    (landing / "orders_2024.csv").write_text(
        "order_id,order_date\nA1,2024-01-05\nA2,2024-01-06\n", encoding="utf-8"
    )
    columns = {"order_id": "order_id", "order_date": "order_date"}
    config = Config.model_validate(
        {
            "warehouse": "warehouse/sales.duckdb",
            "landing": "landing",
            "sources": [
                {"name": "erp", "entity": "orders", "path": "erp/orders_*.csv", "columns": columns},
                {"name": "typo", "entity": "orders", "path": "erp/ordres_*.csv", "columns": columns},
            ],
            "base_dir": tmp_path,
        }
    )
    ctx = pipeline.RunContext(config, "run-1")
    pipeline.start(ctx)
    messages: list[str] = []
    with caplog.at_level(logging.WARNING, logger="salesdw"):
        pipeline.ingest(ctx, messages.append)
    expected = (
        "source 'typo': no file in the landing folder matches 'erp/ordres_*.csv'; nothing "
        "loaded for it (check the source's path)"
    )
    assert ctx.unmatched == ["typo"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [expected]
    assert pipeline.data_errors(ctx) == [expected]
    assert pipeline.exit_status(ctx) == 1
    assert [(f.source, f.rows_in, f.rows_loaded, f.rows_quarantined) for f in ctx.ingest.files] == [
        ("erp", 2, 2, 0)
    ]
    con = duckdb.connect(str(ctx.build), read_only=True)
    try:
        assert con.execute("select order_id from raw.orders order by 1").fetchall() == [
            ("A1",),
            ("A2",),
        ]
    finally:
        con.close()


def test_dbt_builds_only_what_the_loaded_raw_tables_feed() -> None:
    files = [
        FileResult("erp", "orders", "a.csv", "loaded", 10, 10, 0),
        FileResult("erp_lines", "order_lines", "a.csv", "loaded", 10, 10, 0),
        FileResult("crm", "customers", "c.csv", "skipped"),
    ]
    ctx = _ctx(files)
    skip_unit_tests = ["--exclude-resource-type", "unit_test"]  # never in a user's night
    assert pipeline.dbt_build_args(ctx, same_project=True) == [
        "build",
        "--select",
        "source:raw.order_lines+",
        "source:raw.orders+",
        *skip_unit_tests,
    ]
    # a changed project (or vars) rebuilds everything
    assert pipeline.dbt_build_args(ctx, same_project=False) == ["build", *skip_unit_tests]
    # so does --full-refresh
    ctx.full_refresh = True
    full_refresh = ["build", "--full-refresh", *skip_unit_tests]
    assert pipeline.dbt_build_args(ctx, same_project=True) == full_refresh
    assert pipeline.dbt_build_args(ctx, same_project=False) == full_refresh
    # nothing loaded, same project: nothing to build
    assert pipeline.dbt_build_args(_ctx([]), same_project=True) is None
    assert pipeline.dbt_build_args(_ctx([]), same_project=False) == ["build", *skip_unit_tests]

D = dt.date


def _build_with_a_deal_won_ahead(path: Path) -> Path:
    """A build file whose raw and marts hold an order of 2026-10-31 and a deal marked won
    while its expected close date, 2029-01-13, is still ahead (the bench's delta)."""
    con = duckdb.connect(str(path))
    create_raw_tables(con)
    create_meta_tables(con)
    con.execute(
        "insert into raw.opportunities (opportunity_id, owner_rep_id, stage, created_at, "
        "close_date) values ('op1', 'R1', 'Closed Won', date '2026-03-02', date '2029-01-13')"
    )
    con.execute("create schema marts")
    con.execute("create table marts.fct_orders as select date '2026-10-31' as order_date")
    con.execute(
        "create table marts.fct_opportunities as select true as is_closed, "
        "date '2026-03-02' as created_at, date '2029-01-13' as close_date"
    )
    con.execute("create table marts.fct_leads (created_at date)")
    con.close()
    return path


class _NoKpis:
    """A stand-in for the KPI step's worker: records that it was asked, computes nothing."""

    def __init__(self) -> None:
        self.runs = 0

    def run(self, *_: Any) -> dict[str, int]:
        self.runs += 1
        return {}


def test_as_of_is_the_latest_data_date_up_to_the_run_date(tmp_path: Path) -> None:
    build = _build_with_a_deal_won_ahead(tmp_path / "build.duckdb")
    ctx = _ctx([])
    ctx.build, ctx.run_date = build, D(2026, 11, 22)
    messages: list[str] = []
    worker = _NoKpis()
    pipeline.compute_kpis(ctx, messages.append, worker)  # type: ignore[arg-type]
    assert ctx.as_of == D(2026, 10, 31)  # the order's date, not the deal's 2029-01-13
    assert worker.runs == 1 and messages == []
    # --as-of wins over the rule, even a date after the run date
    asked = _ctx([])
    asked.build, asked.run_date, asked.as_of = build, D(2026, 11, 22), D(2029, 1, 13)
    assert pipeline.resolve_as_of(asked) == D(2029, 1, 13)


def test_as_of_when_every_date_is_after_the_run_date(tmp_path: Path) -> None:
    ctx = _ctx([])
    ctx.build = _build_with_a_deal_won_ahead(tmp_path / "build.duckdb")
    ctx.run_date = D(2026, 1, 1)  # before every date of the build
    messages: list[str] = []
    pipeline.compute_kpis(ctx, messages.append, _NoKpis())  # type: ignore[arg-type]
    assert ctx.as_of == D(2029, 1, 13)  # the latest of them
    assert messages == [
        "kpis: every order, opportunity and lead is dated after the run date 2026-01-01: "
        "as of the latest of them (2029-01-13); see meta.hygiene"
    ]


def test_hygiene_reports_deals_closed_after_the_run_date(tmp_path: Path) -> None:
    ctx = _ctx([])
    ctx.build = _build_with_a_deal_won_ahead(tmp_path / "build.duckdb")
    ctx.run_date = D(2026, 11, 22)
    messages: list[str] = []
    con = duckdb.connect(str(ctx.build))
    try:
        assert pipeline.hygiene(ctx, con, messages.append) == 1
        assert messages == ["hygiene: closed_with_future_close_date: 1 (op1 (2029-01-13))"]
        ctx.run_date = D(2029, 1, 13)  # on its close date the deal is no longer ahead
        assert pipeline.hygiene(ctx, con, lambda _m: None) == 0
    finally:
        con.close()
    # nothing loaded: validation has no batch, imports nothing and says so
    assert ctx.batches is None
    messages.clear()
    assert pipeline.validate(ctx, messages.append) == []
    assert messages == ["validate: nothing new loaded, no batch to validate"]
