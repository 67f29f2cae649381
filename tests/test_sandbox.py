"""`salesdw sql` and the Python API are a read-only sandbox (docs/security.md): one query
statement on the published warehouse, no other file, no extension, settings locked.
Every refused attempt exits 2 with its reason and leaves every file as it was."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpis import api
from salesdw.cli import main
from salesdw.errors import QueryRefusedError


@dataclass
class Published:
    """A published warehouse with three orders, its config, and files around it that
    the sandbox must neither read nor write."""

    config: Path
    warehouse: Path
    other: Path  # another DuckDB file
    secret: Path  # a host file
    folder: Path

    def sha256(self) -> dict[str, str]:
        return {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in (self.warehouse, self.other, self.secret)
        }


@pytest.fixture
def published(tmp_path: Path) -> Published:
    warehouse = tmp_path / "warehouse" / "sales.duckdb"
    warehouse.parent.mkdir()
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_orders as select * from (values "
        "('o1', 'R1', 100.0), ('o2', 'R1', 250.5), ('o3', 'R2', -20.0)) "
        "as t(order_id, rep_id, net_amount)"
    )
    con.close()
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("create table t as select 1 as a")
    con.close()
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nSECRET-LINE-42\n", encoding="utf-8")
    config = tmp_path / "salesdw.yml"
    config.write_text("warehouse: warehouse/sales.duckdb\nlanding: landing\n", encoding="utf-8")
    return Published(config, warehouse, other, secret, tmp_path)


def _sql(published: Published, query: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["sql", query, *args, "--config", str(published.config)])
    return result.exit_code, result.stdout, result.stderr


def test_a_query_runs_and_prints_its_result(published: Published) -> None:
    code, out, _ = _sql(
        published,
        "select rep_id, sum(net_amount) as revenue from marts.fct_orders "
        "group by rep_id order by rep_id",
        "--format",
        "csv",
    )
    assert code == 0
    assert out == "rep_id,revenue\nR1,350.5\nR2,-20.0\n"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("with t as (select count(*) as n from marts.fct_orders) select n from t", "n\n3\n"),
        ("from marts.fct_orders select count(*) as n", "n\n3\n"),
        ("values (1, 'a')", "col0,col1\n1,a\n"),
        ("select column_name from (describe marts.fct_orders)", "column_name\norder_id\nrep_id\nnet_amount\n"),
        ("select column_name, count from (summarize marts.fct_orders)", "column_name,count\norder_id,3\nrep_id,3\nnet_amount,3\n"),
        ("select name from (show all tables)", "name\nfct_orders\n"),
        ("explain select * from marts.fct_orders", "physical_plan"),
        ("explain analyze select count(*) from marts.fct_orders", "analyzed_plan"),
    ],
)
def test_every_kind_of_query_is_allowed(published: Published, query: str, expected: str) -> None:
    before = published.sha256()
    code, out, err = _sql(published, query, "--format", "csv")
    assert (code, err) == (0, "")
    if expected.endswith("\n"):
        assert out == expected
    else:  # a plan: its row's key
        assert out.startswith(f"explain_key,explain_value\n{expected},")
    assert published.sha256() == before


def _refused(published: Published, query: str) -> str:
    """Run ``query``; assert exit 2, nothing printed on stdout, no file changed, the
    warehouse still whole; returns the error message."""
    before = published.sha256()
    code, out, err = _sql(published, query)
    assert code == 2, (out, err)
    assert out == ""
    assert published.sha256() == before
    con = duckdb.connect(str(published.warehouse), read_only=True)
    assert con.execute("select count(*) from marts.fct_orders").fetchall() == [(3,)]
    con.close()
    assert "SECRET-LINE-42" not in err
    return err


def test_copy_over_the_published_file_is_refused(published: Published) -> None:
    err = _refused(published, f"COPY (select 'x') TO '{published.warehouse}'")
    assert err == (
        "error: COPY statements are not allowed: the published warehouse takes queries "
        "only (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN)\n"
    )


def test_reading_a_host_file_is_refused(published: Published) -> None:
    for query in (
        f"select * from read_csv('{published.secret}')",
        f"select * from read_text('{published.secret}')",
        f"select * from glob('{published.folder}/*')",
        f"select * from read_parquet('{published.folder}/*.parquet')",
        f"select * from read_duckdb('{published.other}')",
        f"select * from '{published.secret}'",
    ):
        err = _refused(published, query)
        assert err.startswith(
            "error: salesdw sql reads the published warehouse only, no other file "
            "(Permission Error: Cannot access file"
        ), err


def test_attach_and_write_elsewhere_is_refused(published: Published) -> None:
    err = _refused(published, f"ATTACH '{published.other}' AS o (READ_ONLY false)")
    assert err.startswith("error: ATTACH statements are not allowed")
    err = _refused(published, "INSERT INTO o.t VALUES (2)")
    assert err.startswith("error: INSERT statements are not allowed")


def test_a_hidden_second_statement_is_refused(published: Published) -> None:
    target = published.folder / "leak.csv"
    err = _refused(published, f"select 1; COPY (select 1) TO '{target}'; select 2")
    assert err == (
        "error: the query holds 3 statements; salesdw sql runs exactly one "
        "(remove the ';' between them)\n"
    )
    assert not target.exists()


def test_explain_analyze_of_a_copy_is_refused(published: Published) -> None:
    target = published.folder / "leak.csv"
    for query in (
        f"EXPLAIN ANALYZE COPY (select 1) TO '{target}'",
        f"explain /* plan */ analyze copy marts.fct_orders to '{target}'",
        f"EXPLAIN COPY (select 1) TO '{target}'",
    ):
        err = _refused(published, query)
        assert err == "error: EXPLAIN is allowed of a query only (EXPLAIN [ANALYZE] SELECT …)\n"
    assert not target.exists()


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("INSTALL httpfs", "INSTALL/LOAD"),
        ("LOAD httpfs", "INSTALL/LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("CHECKPOINT", "CALL"),
        ("CREATE TABLE marts.x AS SELECT 1", "CREATE"),
        ("INSERT INTO marts.fct_orders VALUES ('o4', 'R3', 1.0)", "INSERT"),
        ("DELETE FROM marts.fct_orders", "DELETE"),
        ("DROP TABLE marts.fct_orders", "DROP"),
        ("EXPORT DATABASE 'out'", "EXPORT"),
        ("DETACH sales", "DETACH"),
    ],
)
def test_statements_other_than_queries_are_refused(
    published: Published, query: str, kind: str
) -> None:
    err = _refused(published, query)
    assert err.startswith(f"error: {kind} statements are not allowed"), err


def test_an_empty_or_broken_query_is_refused(published: Published) -> None:
    assert _refused(published, "  ;  ") == "error: the query is empty; write one SELECT statement\n"
    err = _refused(published, "selec 1")
    assert err.startswith('error: the query does not parse: Parser Error: syntax error at or near "selec"')


def test_the_python_api_connection_is_sandboxed(published: Published) -> None:
    before = published.sha256()
    con = api.connect(published.warehouse)
    try:
        frame = api.query(con, "select count(*) as n, sum(net_amount) as total from marts.fct_orders")
        assert frame.rows() == [(3, 330.5)]
        with pytest.raises(QueryRefusedError, match="2 statements"):
            api.query(con, f"select 1; copy (select 1) to '{published.warehouse}'")
        # the connection itself reads no other file and writes none, whatever is run on it
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute(f"copy (select 'x') to '{published.warehouse}'")
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute(f"select * from read_csv('{published.secret}')")
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute(f"attach '{published.other}' as o (read_only false)")
        with pytest.raises(duckdb.Error, match="the configuration has been locked"):
            con.execute("set enable_external_access = true")
        with pytest.raises(duckdb.Error, match="the configuration has been locked"):
            con.execute("set autoload_known_extensions = true")
        with pytest.raises(duckdb.Error):
            con.execute("load httpfs")
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("insert into marts.fct_orders values ('o4', 'R3', 1.0)")
    finally:
        con.close()
    assert published.sha256() == before
