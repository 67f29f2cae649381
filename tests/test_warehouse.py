"""Publication helpers: the Parquet export rewrites only tables whose content changed."""

from __future__ import annotations

from pathlib import Path

import duckdb

from salesdw import warehouse


def test_parquet_export_rewrites_only_changed_tables(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create schema marts; create schema kpi")
    con.execute("create table marts.a as select range as id, 'x' as v from range(1000)")
    con.execute("create table marts.b as select range as id from range(10)")
    con.execute("create table kpi.k as select 1.5 as value")
    out = tmp_path / "parquet"
    first = warehouse.export_parquet(con, out)
    assert sorted(p.relative_to(out).as_posix() for p in first) == [
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
    assert sorted(warehouse.export_parquet(con, out)) == [out / "kpi/k.parquet", out / "marts/b.parquet"]
