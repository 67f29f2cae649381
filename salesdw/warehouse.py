"""The published warehouse file: build elsewhere, checkpoint, swap in atomically.

Readers (analysts, BI tools) open ``data/warehouse/sales.duckdb`` read-only. A run
copies it to a build file next to it, works there, checkpoints, closes every
connection, exports the marts to Parquet and ``os.replace``-s the build file over the
published one: readers see the old file or the new one, never a partial build, and a
crash at any point leaves the published file as it was. Files are written with
``storage_compatibility_version`` so that DuckDB 1.5 clients (BI drivers) open them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb

#: Oldest DuckDB release whose clients must open the published file.
STORAGE_COMPATIBILITY = "v1.5.0"
PUBLISHED_SCHEMAS = ("marts", "kpi", "meta")


def connect(
    path: Path, *, read_only: bool = False, memory: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Open a warehouse file (new files get the storage compatibility version). A
    writable connection gets DuckDB's memory limit (``memory``, default
    :func:`memory_limit`) and spills to disk past it."""
    config: dict[str, str | bool | int | float] = {}
    if not read_only:
        config["storage_compatibility_version"] = STORAGE_COMPATIBILITY
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    con.execute("set enable_progress_bar = false")
    if not read_only:  # the build spills to disk instead of growing past the limit
        spill = path.parent / ".spill"
        con.execute(f"set memory_limit = '{memory or memory_limit()}'")
        con.execute(f"set temp_directory = '{spill}'")
    return con


def memory_limit() -> str:
    """DuckDB's memory limit for the build ($SALESDW_DUCKDB_MEMORY_LIMIT, default 2GB);
    dbt gets the same through profiles.yml."""
    return os.environ.get("SALESDW_DUCKDB_MEMORY_LIMIT", "2GB")


def build_path(published: Path) -> Path:
    """Where a run builds the next version of the warehouse."""
    return published.parent / ".build" / published.name


def start_build(published: Path) -> Path:
    """A fresh build file: a copy of the published warehouse (its raw data and load
    manifest carry over), or a new file on the first run. `--full-refresh` keeps them
    too: it only tells dbt to rebuild every model."""
    build = build_path(published)
    build.parent.mkdir(parents=True, exist_ok=True)
    for stale in (build, build.with_suffix(build.suffix + ".wal")):
        stale.unlink(missing_ok=True)
    if published.exists():
        shutil.copyfile(published, build)
    else:
        connect(build).close()
    return build


def publish(build: Path, published: Path) -> None:
    """Checkpoint the build file and atomically replace the published file with it."""
    con = connect(build)
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = build.with_suffix(build.suffix + ".wal")
    if wal.exists() and wal.stat().st_size:
        raise RuntimeError(f"{build.name}: write-ahead log not empty after checkpoint")
    wal.unlink(missing_ok=True)
    fsync(build)
    os.replace(build, published)
    fsync(published.parent)


def fsync(path: Path) -> None:
    """Flush a file or folder to disk (so that the rename survives a power cut)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_parquet(con: duckdb.DuckDBPyConnection, out_dir: Path) -> list[Path]:
    """Write every table of the published schemas to ``<out>/<schema>/<table>.parquet``
    (via a temporary file and a rename, so readers never see half a file). A table
    whose content is that of its existing file is not written again: a fingerprint
    (columns, row count, sum of row hashes) per file is kept in ``_fingerprints.json``,
    so a night that changes few tables rewrites only those. Returns the files written."""
    written = []
    stamps_path = out_dir / "_fingerprints.json"
    try:
        stamps: dict[str, str] = json.loads(stamps_path.read_text())
    except (OSError, ValueError):
        stamps = {}
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where schema_name in ('marts', 'kpi') order by 1, 2"
    ).fetchall()
    for schema, table in tables:
        target = out_dir / schema / f"{table}.parquet"
        columns = con.execute(
            "select list(column_name || ' ' || data_type order by column_index) "
            "from duckdb_columns() where schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
        count, hashes = con.execute(
            f"select count(*), sum(hash(t)::hugeint) from {schema}.{table} as t"
        ).fetchall()[0]
        stamp = f"{columns}|{count}|{hashes}"
        key = f"{schema}/{table}"
        if stamps.get(key) == stamp and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".parquet.tmp")
        con.execute(f"copy {schema}.{table} to '{tmp}' (format parquet)")
        os.replace(tmp, target)
        stamps[key] = stamp
        written.append(target)
    stamps_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_stamps = stamps_path.with_suffix(".json.tmp")
    tmp_stamps.write_text(json.dumps(stamps, indent=1, sort_keys=True))
    os.replace(tmp_stamps, stamps_path)
    return written


@contextlib.contextmanager
def read_only(published: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection on the published warehouse."""
    from salesdw.errors import WarehouseNotFoundError

    if not published.exists():
        raise WarehouseNotFoundError(
            f"no published warehouse at {published}; run `salesdw run` (or `salesdw demo`) first"
        )
    con = connect(published, read_only=True)
    try:
        yield con
    finally:
        con.close()
