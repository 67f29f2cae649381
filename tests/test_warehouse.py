"""Publication helpers: the Parquet export rewrites only tables whose content changed, and
only after the warehouse file is swapped in; the build starts from a copy."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from salesdw import warehouse


def test_parquet_export_rewrites_only_changed_tables(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create schema marts; create schema kpi")
    con.execute("create table marts.a as select range as id, 'x' as v from range(1000)")
    con.execute("create table marts.b as select range as id from range(10)")
    con.execute("create table kpi.k as select 1.5 as value")
    out = tmp_path / "parquet"
    first = warehouse.export_parquet(con, out)
    assert _names(out, first) == [
        "kpi/k.parquet",
        "marts/a.parquet",
        "marts/b.parquet",
    ]
    assert warehouse.export_parquet(con, out) == []  # nothing changed
    # the same rows in another order are the same content; a changed value is not
    con.execute("create or replace table marts.b as select * from marts.b order by id desc")
    con.execute("update marts.a set v = 'y' where id = 7")
    assert warehouse.export_parquet(con, out) == [out / "marts/a.parquet"]
    got = duckdb.sql(f"select v from '{out / 'marts/a.parquet'}' where id = 7").fetchall()
    assert got == [("y",)]
    # a new column changes the table even with the same rows; a deleted file is rewritten
    con.execute("alter table kpi.k add column unit varchar")
    (out / "marts/b.parquet").unlink()
    assert sorted(warehouse.export_parquet(con, out)) == [
        out / "kpi/k.parquet",
        out / "marts/b.parquet",
    ]


def _tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema marts; create schema kpi")
    con.execute("create table marts.a as select range as id, 'x' || range as v from range(1000)")
    con.execute("create table marts.b as select range as id from range(10)")


def test_fingerprint_covers_every_column_even_one_named_like_the_alias() -> None:
    # the former fingerprint hashed `t` of `from … as t`: a column called t alone
    con = duckdb.connect()
    con.execute("create schema kpi")
    con.execute("create table kpi.clv as select range as t, range * 1.5 as clv from range(100)")
    before = warehouse.fingerprint(con, "kpi", "clv")
    con.execute("update kpi.clv set clv = clv + 1 where t = 3")
    assert warehouse.fingerprint(con, "kpi", "clv") != before
    # rows in another order are the same content
    con.execute("update kpi.clv set clv = clv - 1 where t = 3")
    con.execute("create or replace table kpi.clv as select * from kpi.clv order by t desc")
    assert warehouse.fingerprint(con, "kpi", "clv") == before
    # for any other table it is the former fingerprint: published stamps stay valid
    con.execute("create table kpi.k as select range as id, null::varchar as s from range(5)")
    former = con.execute(
        "select list(column_name || ' ' || data_type order by column_index) from duckdb_columns() "
        "where schema_name = 'kpi' and table_name = 'k'"
    ).fetchall()[0][0]
    count, hashes = con.execute(
        "select count(*), sum(hash(t)::hugeint) from kpi.k as t"
    ).fetchall()[0]
    assert warehouse.fingerprint(con, "kpi", "k") == f"{former}|{count}|{hashes}"


def test_staged_parquet_changes_nothing_published_until_commit(tmp_path: Path) -> None:
    con = duckdb.connect()
    _tables(con)
    out = tmp_path / "parquet"
    warehouse.export_parquet(con, out)
    published = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    con.execute("update marts.a set v = 'changed' where id = 1")
    staged = warehouse.stage_parquet(con, out)
    assert [target for _, target in staged.staged] == [out / "marts/a.parquet"]
    # a crash here (before the warehouse file is swapped): every published file as it was
    assert {p: p.read_bytes() for p in published} == published
    assert (out / "marts/a.parquet.tmp").exists()
    # the next run deletes the leftover and writes the changed table again
    again = warehouse.stage_parquet(con, out)
    assert [target for _, target in again.staged] == [out / "marts/a.parquet"]
    assert again.commit() == [out / "marts/a.parquet"]
    assert not list(out.rglob("*.tmp"))
    got = duckdb.sql(f"select v from '{out / 'marts/a.parquet'}' where id = 1").fetchall()
    assert got == [("changed",)]
    assert warehouse.export_parquet(con, out) == []


def test_a_crash_while_renaming_rewrites_the_tables_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = duckdb.connect()
    _tables(con)
    out = tmp_path / "parquet"
    warehouse.export_parquet(con, out)
    con.execute("update marts.a set v = 'new' where id = 1")
    con.execute("update marts.b set id = id + 100")
    staged = warehouse.stage_parquet(con, out)
    renames = []
    real_replace = os.replace

    def crash_after_first_parquet(src: Path, dst: Path) -> None:
        if str(src).endswith(".parquet.tmp") and renames:
            raise KeyboardInterrupt("killed")
        renames.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_after_first_parquet)
    with pytest.raises(KeyboardInterrupt):
        staged.commit()
    monkeypatch.setattr(os, "replace", real_replace)
    # marts/a is new, marts/b old; neither has a fingerprint any more
    stamps = json.loads((out / "_fingerprints.json").read_text())
    assert "marts/a" not in stamps and "marts/b" not in stamps
    # the tables go back to the old content: both files are written again, with it
    con.execute("update marts.a set v = 'x1' where id = 1")
    con.execute("update marts.b set id = id - 100")
    assert sorted(warehouse.export_parquet(con, out)) == [
        out / "marts/a.parquet",
        out / "marts/b.parquet",
    ]
    for table in ("a", "b"):
        file_rows = duckdb.sql(
            f"select * from '{out}/marts/{table}.parquet' order by all"
        ).fetchall()
        assert file_rows == con.execute(f"select * from marts.{table} order by all").fetchall()


def test_start_build_copies_the_published_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "sales.duckdb"
    published.write_bytes(os.urandom(3 << 20))
    build = warehouse.start_build(published)
    assert build == warehouse.build_path(published)
    assert build.read_bytes() == published.read_bytes()

    # where copy_file_range is refused (another file system), the ordinary copy
    def refused(*args: object) -> int:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(os, "copy_file_range", refused)
    build.write_bytes(b"stale")
    assert warehouse.start_build(published).read_bytes() == published.read_bytes()


def _published(tmp_path: Path, fill: Callable[[duckdb.DuckDBPyConnection], None]) -> Path:
    """A published warehouse folder (``sales.duckdb`` and its ``parquet/``) of the
    tables ``fill`` creates."""
    wh = tmp_path / "warehouse"
    wh.mkdir()
    con = warehouse.connect(wh / "sales.duckdb")
    fill(con)
    warehouse.export_parquet(con, wh / "parquet")
    con.close()
    return wh


def test_publish_profile_times_each_part_on_copies_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # python -m benchmarks.bench --profile-publish WAREHOUSE_DIR --scratch DIR --rewrite …
    from benchmarks import bench

    wh = _published(tmp_path, _tables)
    before = {p: p.read_bytes() for p in wh.rglob("*") if p.is_file()}

    result = bench.profile_publish(wh, tmp_path / "scratch", ["marts/a"])
    labels = [p["part"] for p in result["parts"]]
    assert labels == [
        "start_build (copy)",
        "fingerprint marts.a",
        "copy marts.a",  # its fingerprint was dropped: written as a night would
        "fingerprint marts.b",  # unchanged: not copied
        "stage_parquet (all of the above)",
        "publish (checkpoint, fsync, rename)",
        "commit (Parquet renames)",
    ]
    assert all(p["wall_s"] >= 0 and p["cpu_s"] >= 0 for p in result["parts"])
    assert result["parts"][2]["mb"] > 0
    assert result["written"] == ["parquet/marts/a.parquet"]
    # the originals are untouched; the scratch copy was published like a real night
    assert {p: p.read_bytes() for p in wh.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "scratch" / "breakdown").exists()
    assert (tmp_path / "scratch" / "sales.duckdb").exists()

    assert (
        bench.main(
            [
                "--profile-publish",
                str(wh),
                "--scratch",
                str(tmp_path / "s2"),
                "--rewrite",
                "marts/b",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["written"] == ["parquet/marts/b.parquet"]


def _orders(con: duckdb.DuckDBPyConnection) -> None:
    # marts.fct_orders is exported per period of order_date (warehouse.PARTITIONED)
    con.execute("create schema marts; create schema kpi")
    con.execute(
        "create table marts.fct_orders as select range as order_id, "
        "case when range % 10 = 9 then null "
        "else date '2024-12-30' + (range % 4)::int end as order_date, "
        "range * 1.5 as net_amount from range(100)"
    )


def _names(out: Path, files: list[Path]) -> list[str]:
    """The written files as sorted paths relative to the export folder."""
    return sorted(p.relative_to(out).as_posix() for p in files)


def _parquet_rows(pattern: Path) -> list[tuple[object, ...]]:
    return duckdb.sql(f"select * from read_parquet('{pattern}') order by order_id").fetchall()


def _files_by_period(folder: Path, date: str = "order_date") -> list[tuple[object, ...]]:
    return duckdb.sql(
        f"select parse_filename(filename, true), count(*), count({date}), "
        f"min({date})::varchar, max({date})::varchar "
        f"from read_parquet('{folder / '*.parquet'}', filename = true) group by 1 order by 1"
    ).fetchall()


def test_periods_are_years_before_the_latest_year_and_quarters_in_it() -> None:
    period = warehouse.Period.of
    assert period(dt.date(2024, 1, 1), 2026) == warehouse.Period(
        dt.date(2024, 1, 1), dt.date(2025, 1, 1)
    )
    assert period(dt.date(2024, 1, 1), 2026).name == "2024"
    quarters = [period(dt.date(2026, month, 1), 2026) for month in (1, 4, 7, 10)]
    assert [(p.name, p.end) for p in quarters] == [
        ("2026-Q1", dt.date(2026, 4, 1)),
        ("2026-Q2", dt.date(2026, 7, 1)),
        ("2026-Q3", dt.date(2026, 10, 1)),
        ("2026-Q4", dt.date(2027, 1, 1)),
    ]


def test_months_of_the_latest_year_are_named_by_month() -> None:
    # kpi_history's files: months of its latest as_of year, years before it
    period = warehouse.Period.of
    assert period(dt.date(2025, 1, 1), 2026, "month").name == "2025"
    months = [period(dt.date(2026, month, 1), 2026, "month") for month in (1, 2, 11, 12)]
    assert [(p.name, p.end) for p in months] == [
        ("2026-01", dt.date(2026, 2, 1)),
        ("2026-02", dt.date(2026, 3, 1)),
        ("2026-11", dt.date(2026, 12, 1)),
        ("2026-12", dt.date(2027, 1, 1)),
    ]


def test_days_of_the_latest_month_are_named_by_day() -> None:
    # and days of its latest month: a month before it, a year before the latest year
    period = warehouse.Period.of
    november = dt.date(2026, 11, 1)
    assert period(dt.date(2026, 10, 1), 2026, "month", november).name == "2026-10"
    assert period(dt.date(2025, 1, 1), 2026, "month", november).name == "2025"
    days = [period(dt.date(2026, 11, d), 2026, "month", november) for d in (1, 30)]
    assert [(p.name, p.end) for p in days] == [
        ("2026-11-01", dt.date(2026, 11, 2)),
        ("2026-11-30", dt.date(2026, 12, 1)),
    ]
    december = period(dt.date(2026, 12, 31), 2026, "month", dt.date(2026, 12, 1))
    assert (december.name, december.end) == ("2026-12-31", dt.date(2027, 1, 1))


def test_kpi_history_is_exported_per_day_of_its_latest_month_and_a_night_writes_its_day(
    tmp_path: Path,
) -> None:
    # every night appends a whole kpi_values to kpi_history (KPI, period, value per
    # as_of): one file per day of as_of in the latest month, per month before it in the
    # latest year, per year before that, so that a night writes its own day, not the
    # nights before it
    con = duckdb.connect()
    con.execute("create schema kpi")
    con.execute(
        "create table kpi.kpi_history as select 'revenue' as kpi, d::date as as_of, "
        "k * 1.0 as value, 'run-' || strftime(d, '%Y%m%d') as run_id "
        "from range(date '2025-12-30', date '2026-02-03', interval 1 day) t(d), range(3) k(k)"
    )
    out = tmp_path / "parquet"
    folder = out / "kpi" / "kpi_history"
    written = warehouse.export_parquet(con, out)
    assert _names(out, written) == [
        "kpi/kpi_history/2025.parquet",
        "kpi/kpi_history/2026-01.parquet",
        "kpi/kpi_history/2026-02-01.parquet",
        "kpi/kpi_history/2026-02-02.parquet",
    ]
    assert _files_by_period(folder, date="as_of") == [
        ("2025", 6, 6, "2025-12-30", "2025-12-31"),
        ("2026-01", 93, 93, "2026-01-01", "2026-01-31"),
        ("2026-02-01", 3, 3, "2026-02-01", "2026-02-01"),
        ("2026-02-02", 3, 3, "2026-02-02", "2026-02-02"),
    ]
    # the next night: its as_of's rows are appended, its day's file alone written
    con.execute(
        "insert into kpi.kpi_history select 'revenue', date '2026-02-03', k * 2.0, 'run-b' "
        "from range(3) k(k)"
    )
    assert warehouse.export_parquet(con, out) == [folder / "2026-02-03.parquet"]
    # a rerun for an earlier as_of replaces that date's rows: its month's file alone
    con.execute("delete from kpi.kpi_history where as_of = date '2026-01-15'")
    con.execute(
        "insert into kpi.kpi_history select 'revenue', date '2026-01-15', -1.0, 'run-c' "
        "from range(3)"
    )
    assert warehouse.export_parquet(con, out) == [folder / "2026-01.parquet"]
    assert warehouse.export_parquet(con, out) == []
    # the first night of March folds February's days into one file
    con.execute(
        "insert into kpi.kpi_history select 'revenue', date '2026-03-01', k, 'run-d' "
        "from range(3) k(k)"
    )
    assert warehouse.export_parquet(con, out) == [
        folder / "2026-02.parquet",
        folder / "2026-03-01.parquet",
    ]
    assert _files_by_period(folder, date="as_of") == [
        ("2025", 6, 6, "2025-12-30", "2025-12-31"),
        ("2026-01", 93, 93, "2026-01-01", "2026-01-31"),
        ("2026-02", 9, 9, "2026-02-01", "2026-02-03"),
        ("2026-03-01", 3, 3, "2026-03-01", "2026-03-01"),
    ]
    exported = f"select * from read_parquet('{folder / '*.parquet'}') order by all"
    assert (
        duckdb.sql(exported).fetchall()
        == con.execute("select * from kpi.kpi_history order by all").fetchall()
    )


def test_order_facts_are_exported_per_year_and_per_quarter_of_the_latest_year(
    tmp_path: Path,
) -> None:
    con = duckdb.connect()
    _orders(con)
    out = tmp_path / "parquet"
    folder = out / "marts" / "fct_orders"
    written = warehouse.export_parquet(con, out)
    assert _names(out, written) == [
        "marts/fct_orders/2024.parquet",
        "marts/fct_orders/2025-Q1.parquet",
        "marts/fct_orders/undated.parquet",
    ]
    # every row is in exactly one file, the one of its period
    table = con.execute("select * from marts.fct_orders order by order_id").fetchall()
    assert _parquet_rows(folder / "*.parquet") == table
    # 2024-12-30/31 and 2025-01-01/02 in turns, every 10th order undated
    assert _files_by_period(folder) == [
        ("2024", 45, 45, "2024-12-30", "2024-12-31"),
        ("2025-Q1", 45, 45, "2025-01-01", "2025-01-02"),
        ("undated", 10, 0, None, None),
    ]

    # a change in 2025's first quarter rewrites that file only
    con.execute("update marts.fct_orders set net_amount = -1 where order_id = 2")
    assert warehouse.export_parquet(con, out) == [folder / "2025-Q1.parquet"]
    assert warehouse.export_parquet(con, out) == []
    # an order in a new quarter: a new file, the others untouched
    con.execute("insert into marts.fct_orders values (100, date '2025-11-30', 7.0)")
    assert warehouse.export_parquet(con, out) == [folder / "2025-Q4.parquet"]

    # an order in a new year: 2025 becomes one file, its quarters' files go at the commit
    con.execute("insert into marts.fct_orders values (101, date '2026-02-01', 8.0)")
    staged = warehouse.stage_parquet(con, out)
    assert sorted(staged.removed) == [folder / "2025-Q1.parquet", folder / "2025-Q4.parquet"]
    assert (folder / "2025-Q1.parquet").exists()  # nothing published changed yet
    assert sorted(staged.commit()) == [folder / "2025.parquet", folder / "2026-Q1.parquet"]
    assert _files_by_period(folder) == [
        ("2024", 45, 45, "2024-12-30", "2024-12-31"),
        ("2025", 46, 46, "2025-01-01", "2025-11-30"),
        ("2026-Q1", 1, 1, "2026-02-01", "2026-02-01"),
        ("undated", 10, 0, None, None),
    ]

    # a period without rows any more: its file goes, at the commit, with its fingerprint
    con.execute("delete from marts.fct_orders where year(order_date) = 2024")
    staged = warehouse.stage_parquet(con, out)
    assert staged.removed == [folder / "2024.parquet"] and staged.staged == []
    assert (folder / "2024.parquet").exists()
    assert staged.commit() == []
    assert sorted(p.name for p in folder.iterdir()) == [
        "2025.parquet",
        "2026-Q1.parquet",
        "undated.parquet",
    ]
    stamps = json.loads((out / warehouse.STAMPS_FILE).read_text())
    assert sorted(k for k in stamps if k.startswith("marts/fct_orders")) == [
        "marts/fct_orders/2025",
        "marts/fct_orders/2026-Q1",
        "marts/fct_orders/undated",
    ]
    table = con.execute("select * from marts.fct_orders order by order_id").fetchall()
    assert _parquet_rows(folder / "*.parquet") == table


def test_an_export_of_one_file_per_table_moves_to_the_period_files(tmp_path: Path) -> None:
    # a warehouse published before the order facts were split: marts/fct_orders.parquet
    con = duckdb.connect()
    _orders(con)
    out = tmp_path / "parquet"
    (out / "marts").mkdir(parents=True)
    old = out / "marts" / "fct_orders.parquet"
    con.execute(f"copy marts.fct_orders to '{old}' (format parquet)")
    (out / warehouse.STAMPS_FILE).write_text(json.dumps({"marts/fct_orders": "old"}))
    staged = warehouse.stage_parquet(con, out)
    assert staged.removed == [old] and old.exists()
    staged.commit()
    assert not old.exists()
    stamps = json.loads((out / warehouse.STAMPS_FILE).read_text())
    assert "marts/fct_orders" not in stamps and "marts/fct_orders/2025-Q1" in stamps
    table = con.execute("select * from marts.fct_orders order by order_id").fetchall()
    assert _parquet_rows(out / "marts" / "fct_orders" / "*.parquet") == table


def test_an_export_of_year_files_moves_to_quarters_of_the_latest_year(tmp_path: Path) -> None:
    # published by an older layout: one file per year, the latest year too
    con = duckdb.connect()
    _orders(con)
    out = tmp_path / "parquet"
    folder = out / "marts" / "fct_orders"
    folder.mkdir(parents=True)
    stamps = {}
    for year in (2024, 2025):
        con.execute(
            f"copy (select * from marts.fct_orders where year(order_date) = {year}) "
            f"to '{folder / f'{year}.parquet'}' (format parquet)"
        )
        stamps[f"marts/fct_orders/{year}"] = "year"
    (out / warehouse.STAMPS_FILE).write_text(json.dumps(stamps))
    staged = warehouse.stage_parquet(con, out)
    # 2024 is not the latest year: its file stays (rewritten: its stamp differs here)
    assert staged.removed == [folder / "2025.parquet"]
    staged.commit()
    assert sorted(p.name for p in folder.iterdir()) == [
        "2024.parquet",
        "2025-Q1.parquet",
        "undated.parquet",
    ]
    table = con.execute("select * from marts.fct_orders order by order_id").fetchall()
    assert _parquet_rows(folder / "*.parquet") == table


def test_an_empty_order_fact_still_has_a_file_with_its_columns(tmp_path: Path) -> None:
    con = duckdb.connect()
    _orders(con)
    con.execute("delete from marts.fct_orders")
    out = tmp_path / "parquet"
    assert warehouse.export_parquet(con, out) == [out / "marts/fct_orders/undated.parquet"]
    described = duckdb.sql(
        f"describe select * from '{out / 'marts/fct_orders/undated.parquet'}'"
    ).fetchall()
    assert [row[0] for row in described] == ["order_id", "order_date", "net_amount"]
    assert warehouse.export_parquet(con, out) == []


def test_publish_profile_rewrites_one_period_or_every_period_of_an_order_fact(
    tmp_path: Path,
) -> None:
    from benchmarks import bench

    wh = _published(tmp_path, _orders)

    one = bench.profile_publish(wh, tmp_path / "one", ["marts/fct_orders/2025-Q1"])
    copies = [p["part"] for p in one["parts"] if p["part"].startswith("copy ")]
    assert copies == ["copy marts.fct_orders/2025-Q1"]
    assert one["written"] == ["parquet/marts/fct_orders/2025-Q1.parquet"]

    # a table's key drops the fingerprints of all its periods (not of another table's)
    every = bench.profile_publish(wh, tmp_path / "every", ["marts/fct_orders"])
    assert sorted(every["written"]) == [
        "parquet/marts/fct_orders/2024.parquet",
        "parquet/marts/fct_orders/2025-Q1.parquet",
        "parquet/marts/fct_orders/undated.parquet",
    ]
    assert bench.profile_publish(wh, tmp_path / "other", ["marts/fct_order"])["written"] == []


def _history(con: duckdb.DuckDBPyConnection, days: int = 2) -> None:
    """kpi_history with ``days`` snapshots from 2026-11-01 (-01 and -02 by default), two
    rows each."""
    con.execute("create schema kpi")
    con.execute(
        "create table kpi.kpi_history as select k as kpi, d::date as as_of, "
        "(k || d::date)::varchar as run_id, length(k) * day(d) * 1.0 as value "
        f"from range(date '2026-11-01', date '2026-11-01' + {days}, interval 1 day) t(d), "
        "(values ('revenue'), ('aov')) v(k)"
    )


def test_age_history_copies_the_newest_snapshot_to_the_days_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import bench

    folder = _published(tmp_path, _history)
    argv = ["--age-history", str(folder), "--nights", "45", "--until", "2026-11-29"]
    assert bench.main(argv) == 0
    aged = json.loads(capsys.readouterr().out)
    # 45 days from 2026-10-16 to 11-29, of which 11-01 and 11-02 had a snapshot
    assert aged["before"] == {"snapshots": 2, "rows": 4}
    assert aged["after"] == {"snapshots": 45, "rows": 90}
    assert aged["thinned_rows"] is None
    con = duckdb.connect(str(folder / "sales.duckdb"), read_only=True)
    per_day = con.execute(
        "select as_of, min(run_id), list(kpi || '=' || value order by kpi) "
        "from kpi.kpi_history group by as_of order by as_of"
    ).fetchall()
    assert per_day[0] == (dt.date(2026, 10, 16), "aged-20261016", ["aov=6.0", "revenue=14.0"])
    assert per_day[-1] == (dt.date(2026, 11, 29), "aged-20261129", ["aov=6.0", "revenue=14.0"])
    # the snapshots there were are kept as they were
    assert per_day[16] == (dt.date(2026, 11, 1), "aov2026-11-01", ["aov=3.0", "revenue=7.0"])
    assert per_day[17][1] == "aov2026-11-02"
    # the Parquet export is up to date: October one file, November's days one each
    exported = duckdb.sql(
        f"select count(*) from read_parquet('{folder / 'parquet/kpi/kpi_history/*.parquet'}')"
    ).fetchall()
    assert exported == [(90,)]
    files = sorted(p.name for p in (folder / "parquet/kpi/kpi_history").glob("*.parquet"))
    assert files[0] == "2026-10.parquet"
    assert files[1:] == [f"2026-11-{day:02d}.parquet" for day in range(1, 30)]
    con.close()


def test_age_history_thins_as_the_setting_would(tmp_path: Path) -> None:
    from benchmarks import bench

    folder = _published(tmp_path, _history)
    aged = bench.age_history(folder, 100, dt.date(2026, 11, 29), daily_months=1)
    # 100 days from 2026-08-22: August's last and September's last, October and November whole
    assert aged["after"]["snapshots"] == 2 + 31 + 29
    assert aged["thinned_rows"] == 2 * (100 - 62)
    with pytest.raises(ValueError, match="nights must be 1 or more"):
        bench.age_history(folder, 0)
    with pytest.raises(FileNotFoundError, match="no warehouse file"):
        bench.age_history(tmp_path / "nowhere", 10)
    (tmp_path / "other").mkdir()
    without = _published(tmp_path / "other", lambda con: None)
    with pytest.raises(ValueError, match=r"no kpi\.kpi_history"):
        bench.age_history(without, 10)
    (tmp_path / "empty").mkdir()
    empty = _published(tmp_path / "empty", lambda con: _history(con, days=0))
    with pytest.raises(ValueError, match="no snapshot to copy"):
        bench.age_history(empty, 10)
