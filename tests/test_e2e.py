"""End to end: `salesdw run` on the generated demo company, as a user runs it.

One run is shared by the whole pytest run (tests/conftest.py: about a minute — the Prefect flow
with its temporary server, dbt and the KPIs); later runs go without Prefect, as
`salesdw run` does when no Prefect API is configured. KPI values are checked against
independent SQL on the marts.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from salesdw import warehouse
from tests.e2e_helpers import ROOT, copy_project, env, query, salesdw


@pytest.fixture(scope="module")
def project(demo_baseline: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A copy of the test run's published demo project (the first run's output kept)."""
    config = copy_project(demo_baseline, tmp_path_factory.mktemp("e2e") / "p")
    folder = config.parent
    return {
        "config": config,
        "db": folder / "warehouse/sales.duckdb",
        "first": (folder / "first_run.out").read_text(encoding="utf-8"),
        "first_log": (folder / "first_run.err").read_text(encoding="utf-8"),
        "folder": folder,
    }


def test_run_prints_a_kpi_summary_and_publishes(project: dict[str, object]) -> None:
    out = str(project["first"])
    assert "success" in out
    # the first run went through Prefect: its flow and task runs are in the log
    log = str(project["first_log"])
    assert "Beginning flow run" in log
    for step in ("ingest", "validate", "dbt-build", "kpis", "publish", "report"):
        assert f"Task run '{step}-" in log, step
    for kpi in (
        "revenue",
        "target_achievement_rate",
        "win_rate",
        "lead_conversion_rate",
        "sales_cycle_days",
        "logo_churn_rate",
        "cac",
        "ltv",
    ):
        assert kpi in out
    db = project["db"]
    tables = {
        f"{s}.{t}" for s, t in query(db, "select schema_name, table_name from duckdb_tables()")
    }
    for table in (
        "marts.dim_date",
        "marts.dim_customer",
        "marts.dim_rep",
        "marts.dim_product",
        "marts.dim_channel",
        "marts.fct_orders",
        "marts.fct_order_lines",
        "marts.fct_opportunities",
        "marts.fct_opportunity_stages",
        "marts.fct_leads",
        "marts.fct_targets",
        "marts.fct_marketing_spend",
        "marts.fct_customer_periods",
        "kpi.kpi_values",
        "kpi.customer_clv",
        "kpi.clv_model",
        "kpi.cohort_retention",
        "kpi.customer_segments",
        "kpi.kpi_history",
        "kpi.rep_scorecard",
        "kpi.stuck_opportunities",
        "kpi.forecast",
        "kpi.alerts",
        "meta.load_manifest",
        "meta.quarantine",
        "meta.dq_results",
        "meta.runs",
    ):
        assert table in tables
    report = Path(str(project["folder"])) / "data/reports/kpi_report.html"
    assert report.exists() and "Sales KPI report" in report.read_text(encoding="utf-8")
    # every mart and KPI table is exported; the order facts one file per period
    parquet = Path(str(project["folder"])) / "warehouse/parquet"
    for table in sorted(t for t in tables if t.startswith(("marts.", "kpi."))):
        schema, name = table.split(".")
        if (schema, name) in warehouse.PARTITIONED:
            files = f"{parquet / schema / name}/*.parquet"
        else:
            files = str(parquet / schema / f"{name}.parquet")
        exported = duckdb.sql(f"select count(*) from read_parquet('{files}')").fetchall()
        assert exported == query(db, f"select count(*) from {table}"), table
    # one file per year before the latest order year, one per quarter in it
    periods = sorted(p.stem for p in (parquet / "marts/fct_order_lines").glob("*.parquet"))
    in_table = query(
        db,
        "select distinct coalesce(case when year(order_date) < "
        "(select max(year(order_date)) from marts.fct_order_lines) "
        "then year(order_date)::varchar else year(order_date) || '-Q' || quarter(order_date) "
        "end, 'undated') as period from marts.fct_order_lines order by 1",
    )
    assert periods == [p for (p,) in in_table]
    assert any("-Q" in p for p in periods)


def test_every_loaded_batch_was_validated(project: dict[str, object]) -> None:
    """Validation runs alongside dbt (in the first run, through Prefect: a submitted
    task) from the batches ingestion exported; publication stores its results."""
    db = project["db"]
    assert query(
        db,
        """
        select count(*) from (
            select run_id, source from meta.load_manifest where rows_loaded > 0
            except
            select run_id, source from meta.dq_results
        )
        """,
    ) == [(0,)]
    assert query(db, "select count(*) > 100, bool_or(not success) from meta.dq_results") == [
        (True, True)  # the demo's deliberate defects fail some expectations
    ]


def test_every_row_is_accounted_for(project: dict[str, object]) -> None:
    db = project["db"]
    assert query(
        db,
        "select count(*) from meta.load_manifest where rows_in <> rows_loaded + rows_quarantined",
    ) == [(0,)]
    # the generator's deliberate defects (docs/demo_data.md), each quarantined with a reason
    got = query(
        db, "select source, reason, count(*) from meta.quarantine group by all order by all"
    )
    assert got == [
        ("erp_order_lines", "order_id: duplicate of row 1147", 1),
        ("erp_order_lines", "order_id: duplicate of row 1557", 1),
        ("erp_order_lines", "order_id: duplicate of row 1967", 1),
        ("erp_order_lines", "order_id: duplicate of row 328", 1),
        ("erp_order_lines", "order_id: duplicate of row 737", 1),
        ("erp_orders", "order_date: cannot read 31/02/2025 as a date", 1),
        ("erp_orders", "order_date: cannot read n/a as a date", 1),
        ("salesforce_leads", "created_at: cannot read 31/02/2025 as a date", 2),
        ("salesforce_leads", "created_at: cannot read n/a as a date", 1),
    ]
    assert query(db, "select status from meta.runs") == [("success",)]


def test_revenue_matches_an_independent_query(project: dict[str, object]) -> None:
    db = project["db"]
    # independent: raw lines × FX as of the order date, orders not cancelled, Sep 2026
    expected = query(
        db,
        """
        select sum(l.amount * case when coalesce(l.currency, o.currency, 'USD') = 'USD' then 1
                   else (select rate_to_reporting from raw.fx_rates f
                         where f.currency = coalesce(l.currency, o.currency)
                           and f.date <= o.order_date order by f.date desc limit 1) end)
        from raw.order_lines l join raw.orders o using (order_id)
        where coalesce(o.status, 'completed') <> 'cancelled'
          and o.order_date >= date '2026-09-01' and o.order_date < date '2026-10-01'
    """,
    )[0][0]
    got = query(
        db,
        "select value from kpi.kpi_values where kpi = 'revenue' and grain = 'month' "
        "and period_start = date '2026-09-01' and dimension = 'all'",
    )[0][0]
    assert got == pytest.approx(expected, rel=1e-9)


def test_win_rate_by_region_matches_an_independent_query(project: dict[str, object]) -> None:
    db = project["db"]
    expected = dict(
        (r[0], r[1])
        for r in query(
            db,
            """
            select coalesce(r.region, 'unknown'),
                   count(*) filter (where m.stage = 'won') / count(*)
            from raw.opportunities o
            join (select source_label, stage from read_csv('seeds/stage_mapping.csv')) m
              on lower(trim(o.stage)) = lower(trim(m.source_label))
            left join raw.reps r on r.rep_id = o.owner_rep_id
            where m.stage in ('won', 'lost')
              and o.close_date >= date '2026-07-01' and o.close_date < date '2026-10-01'
            group by 1
        """.replace("seeds/", str(Path(__file__).resolve().parent.parent / "seeds") + "/"),
        )
    )
    got = dict(
        query(
            db,
            "select dimension_value, value from kpi.kpi_values where kpi = "
            "'win_rate' and grain = 'quarter' and period_start = date '2026-07-01' "
            "and dimension = 'region'",
        )
    )
    assert got.keys() == expected.keys()
    for region, value in expected.items():
        assert got[region] == pytest.approx(value, rel=1e-12)


def test_cli_kpi_and_sql(project: dict[str, object]) -> None:
    config = str(project["config"])
    table = salesdw("kpi", "win_rate", "--by", "region", "--grain", "quarter", "--config", config)
    assert table.returncode == 0 and "North America" in table.stdout
    as_json = salesdw(
        "kpi",
        "win_rate",
        "--by",
        "region",
        "--grain",
        "quarter",
        "--format",
        "json",
        "--config",
        config,
    )
    rows = json.loads(as_json.stdout)
    assert {r["dimension"] for r in rows} == {"region"}
    assert all(r["kpi"] == "win_rate" and r["grain"] == "quarter" for r in rows)
    count = salesdw(
        "sql", "select count(*) as n from marts.fct_orders", "--format", "csv", "--config", config
    )
    expected = query(project["db"], "select count(*) from marts.fct_orders")[0][0]
    assert count.returncode == 0 and count.stdout.split() == ["n", str(expected)]
    bad = salesdw("sql", "select * from no_such_table", "--config", config)
    assert bad.returncode == 2 and "no_such_table" in bad.stderr and "Traceback" not in bad.stderr


def test_every_published_table_and_view_reads_in_the_sandbox(project: dict[str, object]) -> None:
    """The sandbox of `salesdw sql` and kpis.api (no access to other files) reads all of
    the published warehouse: no table or view of it depends on a file outside it."""
    from kpis import api

    db = Path(str(project["db"]))
    relations = (
        "select schema_name, table_name from duckdb_tables() where not internal "
        "union all select schema_name, view_name from duckdb_views() where not internal "
        "order by 1, 2"
    )
    names = query(db, relations)
    assert ("marts", "fct_orders") in names and ("kpi", "kpi_values") in names
    counts = "select " + ", ".join(
        f'(select count(*) from "{schema}"."{name}")' for schema, name in names
    )
    expected = query(db, counts)  # (one process opens a file with one configuration)
    con = api.connect(db)
    try:
        assert api.query(con, counts).rows() == expected
    finally:
        con.close()


def test_a_source_that_matches_no_file_is_a_data_error(
    demo_baseline: Path, tmp_path: Path
) -> None:
    config = copy_project(demo_baseline, tmp_path / "p")
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    typo = {"name": "erp_typo", "entity": "orders", "preset": "erp", "path": "erp/order_line_*.csv"}
    settings["sources"].append(typo)
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    db = config.parent / "warehouse/sales.duckdb"
    manifest = "select * exclude (loaded_at, run_id) from meta.load_manifest order by all"
    before = query(db, manifest)
    run = salesdw("run", "--config", str(config))
    assert run.returncode == 1, run.stdout + run.stderr
    expected = (
        "source 'erp_typo': no file in the landing folder matches 'erp/order_line_*.csv'; "
        "nothing loaded for it (check the source's path)"
    )
    assert f"data error: {expected}" in run.stderr.splitlines()
    assert f"| WARNING | {expected}" in run.stderr  # the run's log
    assert query(db, manifest) == before  # the other sources: nothing lost or loaded twice
    assert query(db, "select status from meta.runs order by started_at desc limit 1") == [
        ("data_errors",)
    ]


def test_rerun_loads_nothing_and_publishes_the_same_numbers(project: dict[str, object]) -> None:
    db = project["db"]
    rows = (
        "select kpi, grain, period_start, dimension, dimension_value, value "
        "from kpi.kpi_values order by kpi, grain, period_start, dimension, dimension_value"
    )
    before = query(db, rows)
    second = salesdw("run", "--config", str(project["config"]))
    assert second.returncode == 0, second.stderr
    assert "0 new file(s), 0 rows loaded" in second.stdout
    # without a Prefect API the same steps ran without Prefect (no temporary server)
    assert "Flow run" not in second.stderr
    for step in ("ingest", "validate", "dbt-build", "kpis", "publish", "report"):
        assert f"Step '{step}' - Finished in state Completed" in second.stderr, step
    assert "Run 'salesdw-nightly' - Finished in state Completed" in second.stderr
    after = query(db, rows)
    assert [r[:5] for r in after] == [r[:5] for r in before]
    # the same numbers; parallel sums may add in another order: last-digit noise only
    differ = [
        (a, b)
        for a, b in zip(after, before, strict=True)
        if not (
            (a[5] is None and b[5] is None)
            or (a[5] is not None and b[5] is not None and math.isclose(a[5], b[5], rel_tol=1e-9))
        )
    ]
    assert differ == []
    assert query(db, "select count(*) from meta.runs where status = 'success'") == [(2,)]


def test_kpi_as_of_an_earlier_date_is_recomputed(project: dict[str, object]) -> None:
    out = salesdw(
        "kpi",
        "revenue",
        "--grain",
        "month",
        "--as-of",
        "2025-06-30",
        "--from",
        "2025-06-01",
        "--to",
        "2025-06-01",
        "--format",
        "json",
        "--config",
        str(project["config"]),
    )
    rows = json.loads(out.stdout)
    published = query(
        project["db"],
        "select value from kpi.kpi_values where kpi = 'revenue' "
        "and grain = 'month' and period_start = date '2025-06-01' "
        "and dimension = 'all'",
    )[0][0]
    # June 2025 is complete on both dates: the same revenue, reported as of 2025-06-30
    assert [(r["as_of"], r["value"]) for r in rows] == [
        (dt.date(2025, 6, 30).isoformat(), pytest.approx(published))
    ]


def test_published_file_opens_with_duckdb_1_5(project: dict[str, object]) -> None:
    from salesdw.compat import table_counts

    try:
        counts = table_counts(Path(str(project["db"])))
    except Exception as exc:
        if "pip" in str(exc) or "No matching distribution" in str(exc):
            pytest.skip(f"duckdb 1.5.5 not installable here: {exc}")
        raise
    assert (
        counts["marts.fct_orders"]
        == query(project["db"], "select count(*) from marts.fct_orders")[0][0]
    )
    assert counts["kpi.kpi_values"] > 0


def test_unreadable_files_are_skipped_and_the_run_publishes(project: dict[str, object]) -> None:
    folder = Path(str(project["folder"]))
    (folder / "landing/erp/order_lines_zz_empty.csv").write_bytes(b"")
    (folder / "landing/erp/order_lines_zz_garbage.csv").write_bytes(bytes(range(256)) * 64)
    run = salesdw("run", "--config", str(project["config"]))
    # data errors: exit 1, named on stderr without a traceback; the run still published
    assert run.returncode == 1, run.stdout + run.stderr
    assert "order_lines_zz_empty.csv: the file is empty" in run.stderr
    assert "order_lines_zz_garbage.csv: not readable as text" in run.stderr
    assert "Traceback" not in run.stderr
    db = project["db"]
    runs = query(db, "select status from meta.runs order by started_at")
    assert runs[-1] == ("data_errors",)
    assert query(db, "select count(distinct file) from meta.file_errors") == [(2,)]


def test_kpi_profile_times_every_part_without_writing(project: dict[str, object]) -> None:
    from kpis.registry import FAMILIES

    db = Path(str(project["db"]))
    before = db.read_bytes()
    command = ["-m", "benchmarks.bench", "--profile-kpis", str(db), "--config", str(project["config"])]
    done = subprocess.run(
        [sys.executable, *command, "--json"],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    profile = json.loads(done.stdout)
    assert profile["as_of"] == "2026-10-31"  # the demo's latest data date, as the run's
    assert [p["part"] for p in profile["parts"]] == [
        "load_inputs",
        *FAMILIES,
        "customer_clv",
        "cohort_retention",
        "customer_segments",
        "rep_scorecard",
        "stuck_opportunities",
    ]
    assert all(p["wall_s"] > 0 and p["cpu_s"] >= 0 for p in profile["parts"])
    assert db.read_bytes() == before  # opened read-only


def test_summary_shows_the_receivables_and_activity_kpis(project: dict[str, object]) -> None:
    """The console summary has a value for each new KPI, in the demo's typical range."""
    out = str(project["first"])
    values = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\s+([a-z_]+) \(2026-10\)\s+(.+?)\s*$", out, flags=re.M)
    }
    collection = float(values["collection_rate"].rstrip("%"))
    on_time = float(values["on_time_collection_rate"].rstrip("%"))
    assert 85.0 <= collection <= 98.0 and 60.0 <= on_time < collection
    assert 30.0 <= float(values["dso"].removesuffix(" days")) <= 70.0
    assert values["overdue_receivables"].startswith("USD ")
    assert int(values["activities"].replace(",", "")) > 0
    assert values["follow_up_rate"].endswith("%")
    assert values["lead_response_hours"].endswith(" h")


def test_cli_collection_rate_by_rep(project: dict[str, object]) -> None:
    """`salesdw kpi collection_rate --by rep` prints the KPI layer's rows by rep."""
    config = str(project["config"])
    done = salesdw(
        "kpi", "collection_rate", "--by", "rep", "--grain", "year", "--format", "json",
        "--config", config,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    expected = query(
        project["db"],
        "select dimension_value, period_start, value from kpi.kpi_values "
        "where kpi = 'collection_rate' and grain = 'year' and dimension = 'rep' order by 1, 2",
    )
    got = sorted((r["dimension_value"], r["period_start"], r["value"]) for r in rows)
    assert [(v, str(p)[:10], x) for v, p, x in got] == [
        (v, str(p), x) for v, p, x in expected
    ]
    assert {r["dimension"] for r in rows} == {"rep"} and len(rows) > 40


def test_activities_by_type_match_an_independent_count(project: dict[str, object]) -> None:
    db = project["db"]
    expected = query(
        db,
        "select type, count(*)::double from marts.fct_activities "
        "where activity_date >= date '2026-10-01' and activity_date <= date '2026-10-31' "
        "group by 1 order by 1",
    )
    got = query(
        db,
        "select dimension_value, value from kpi.kpi_values where kpi = 'activities' "
        "and grain = 'month' and dimension = 'type' and period_start = date '2026-10-01' "
        "order by 1",
    )
    assert got == expected and len(got) == 6
