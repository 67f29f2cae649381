"""DDL of the ``meta`` schema (docs/architecture.md): load manifest, quarantine, DQ results, runs and
their steps (copied from the run records by publication: ``salesdw.run_records``)."""

from __future__ import annotations

import duckdb

META_DDL = """
create schema if not exists meta;
create table if not exists meta.load_manifest (
    run_id varchar, source varchar, entity varchar, file varchar, sha256 varchar,
    rows_in bigint, rows_loaded bigint, rows_quarantined bigint, loaded_at timestamp
);
create table if not exists meta.quarantine (
    run_id varchar, source varchar, file varchar, row_number bigint,
    field varchar, reason varchar, raw varchar
);
create table if not exists meta.dq_results (
    run_id varchar, source varchar, expectation varchar, success boolean,
    unexpected_count bigint
);
create table if not exists meta.runs (
    run_id varchar, started_at timestamp, finished_at timestamp, status varchar, as_of date,
    error varchar
);
alter table meta.runs add column if not exists error varchar;
create table if not exists meta.run_steps (
    run_id varchar, step varchar, started_at timestamp, finished_at timestamp,
    rows_in bigint, rows_out bigint, status varchar, error varchar
);
create table if not exists meta.file_errors (
    run_id varchar, source varchar, file varchar, error varchar, seen_at timestamp
);
create table if not exists meta.hygiene (
    run_id varchar, "check" varchar, count bigint, examples varchar
);
create table if not exists meta.file_hashes (
    file varchar primary key, size bigint, mtime_ns bigint, sha256 varchar
);
"""


def create_meta_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the meta schema and its tables if missing."""
    con.execute(META_DDL)
