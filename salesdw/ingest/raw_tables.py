"""DDL of the raw tables, derived from the canonical entity models."""

from __future__ import annotations

import duckdb

from schemas.entities import ENTITIES, duckdb_type, fields

LINEAGE_COLUMNS: dict[str, str] = {
    "_source": "VARCHAR",
    "_file": "VARCHAR",
    "_row_number": "BIGINT",
    "_run_id": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}


def raw_columns(entity: str) -> dict[str, str]:
    """Column name → DuckDB type of ``raw.<entity>``: canonical fields, then lineage."""
    cols = {f: duckdb_type(entity, f) for f in fields(entity)}
    cols.update(LINEAGE_COLUMNS)
    return cols


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``raw`` schema and every entity's table if missing."""
    con.execute("create schema if not exists raw")
    for entity in ENTITIES:
        cols = ", ".join(f'"{c}" {t}' for c, t in raw_columns(entity).items())
        con.execute(f"create table if not exists raw.{entity} ({cols})")
