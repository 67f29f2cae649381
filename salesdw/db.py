"""Small DuckDB helpers shared by ingestion, the flow and the CLI."""

from __future__ import annotations

from typing import Any

import duckdb


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The single value of a query (DuckDB 2.0 wants every result fetched completely)."""
    rows = (
        con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    )
    return rows[0][0] if rows else None


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def quote_str(value: str) -> str:
    """A DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"
