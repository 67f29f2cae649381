"""Every CSV the product writes is safe to open in a spreadsheet (docs/security.md): a text
cell that starts with =, +, -, @, a tab or a carriage return gets a ' before it; numbers
stay numbers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from salesdw.cli import main
from salesdw.csv_output import neutralise_text, to_csv

HOSTILE = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (HOSTILE, "'" + HOSTILE),
        ("+1 (555) 0100", "'+1 (555) 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        # a text that is a plain number stays as it is: the spreadsheet reads a number
        ("-5", "-5"),
        ("+1.5", "+1.5"),
        ("-2e3", "-2e3"),
        ("-.5", "-.5"),
        # anything else is left alone
        ("Ann Lee", "Ann Lee"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("", ""),
    ],
)
def test_text_that_starts_like_a_formula_gets_a_quote(text: str, written: str) -> None:
    assert neutralise_text(text) == written


def test_numbers_stay_numbers_and_text_columns_are_neutralised() -> None:
    frame = pl.DataFrame(
        {
            "rep": [HOSTILE, "Ann", None, "-5"],
            "value": [-5.0, 1.25, None, 3.0],
            "count": [-5, 2, 0, 1],
            "day": [dt.date(2024, 1, 1)] * 4,
            "=header": ["a", "b", "c", "d"],
        }
    ).with_columns(pl.col("rep").cast(pl.Categorical).alias("category"))
    assert to_csv(frame) == (
        "rep,value,count,day,'=header,category\n"
        f"'{HOSTILE},-5.0,-5,2024-01-01,a,'{HOSTILE}\n"
        "Ann,1.25,2,2024-01-01,b,Ann\n"
        ",,0,2024-01-01,c,\n"
        "-5,3.0,1,2024-01-01,d,-5\n"
    )


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A published warehouse whose revenue by rep names a rep with a formula; returns
    its config."""
    warehouse = tmp_path / "warehouse" / "sales.duckdb"
    warehouse.parent.mkdir()
    con = duckdb.connect(str(warehouse))
    con.execute("create schema kpi")
    con.execute(
        """
        create table kpi.kpi_values as
        select * from (values
            ('revenue', 'month', date '2024-01-01', date '2024-02-01', 'rep', $1, -5.0,
             null::double, null::double, 'currency', date '2024-01-31'),
            ('revenue', 'month', date '2024-01-01', date '2024-02-01', 'rep', 'Ann', 1200.5,
             null, null, 'currency', date '2024-01-31'))
        as t(kpi, grain, period_start, period_end, dimension, dimension_value, value,
             numerator, denominator, unit, as_of)
        """,
        [HOSTILE],
    )
    con.close()
    config = tmp_path / "salesdw.yml"
    config.write_text("warehouse: warehouse/sales.duckdb\n", encoding="utf-8")
    return config


def test_kpi_csv_neutralises_a_rep_named_like_a_formula(published: Path) -> None:
    result = CliRunner().invoke(
        main, ["kpi", "revenue", "--by", "rep", "--format", "csv", "--config", str(published)]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "kpi,grain,period_start,period_end,dimension,dimension_value,value,numerator,"
        "denominator,unit,as_of",
        f"revenue,month,2024-01-01,2024-02-01,rep,'{HOSTILE},-5.0,,,currency,2024-01-31",
        "revenue,month,2024-01-01,2024-02-01,rep,Ann,1200.5,,,currency,2024-01-31",
    ]
    # JSON is data for programs, not for spreadsheets: the value as it is
    result = CliRunner().invoke(
        main, ["kpi", "revenue", "--by", "rep", "--format", "json", "--config", str(published)]
    )
    assert [r["dimension_value"] for r in json.loads(result.stdout)] == [HOSTILE, "Ann"]


def test_sql_csv_neutralises_text_and_keeps_numbers(published: Path) -> None:
    query = (
        "select dimension_value as rep, value, '-5' as text_number, '@SUM(A1)' as at, "
        "'+' || dimension_value as plus from kpi.kpi_values order by value"
    )
    result = CliRunner().invoke(main, ["sql", query, "--format", "csv", "--config", str(published)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "rep,value,text_number,at,plus\n"
        f"'{HOSTILE},-5.0,-5,'@SUM(A1),'+{HOSTILE}\n"
        "Ann,1200.5,-5,'@SUM(A1),'+Ann\n"
    )
