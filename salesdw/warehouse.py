"""The published warehouse file: build elsewhere, checkpoint, swap in atomically.

Readers (analysts, BI tools) open ``data/warehouse/sales.duckdb`` read-only. A run
copies it to a build file next to it, works there, checkpoints, closes every
connection, writes the changed marts and KPI tables to temporary Parquet files,
``os.replace``-s the build file over the published one, then renames the Parquet files
into place: readers see the old file or the new one, never a partial build, and a crash
before the swap leaves the published file and the Parquet files as they were. Files are
written with ``storage_compatibility_version`` so that DuckDB 1.5 clients (BI drivers)
open them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from salesdw.db import quote_str

#: Oldest DuckDB release whose clients must open the published file.
STORAGE_COMPATIBILITY = "v1.5.0"
PUBLISHED_SCHEMAS = ("marts", "kpi", "meta")


def connect(
    path: Path, *, read_only: bool = False, memory: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Open a warehouse file (new files get the storage compatibility version). A
    writable connection gets DuckDB's memory limit (``memory``, default
    :func:`memory_limit`) and spills to disk past it."""
    config: dict[str, str | bool | int | float | list[str]] = {}
    if not read_only:
        config["storage_compatibility_version"] = STORAGE_COMPATIBILITY
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    con.execute("set enable_progress_bar = false")
    if not read_only:  # the build spills to disk instead of growing past the limit
        spill = path.parent / ".spill"
        con.execute(f"set memory_limit = {quote_str(memory or memory_limit())}")
        con.execute(f"set temp_directory = {quote_str(str(spill))}")
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
        copy_file(published, build)
    else:
        connect(build).close()
    return build


#: errors of copy_file_range that mean "not here": copy another way
_NO_COPY_FILE_RANGE = {errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def copy_file(src: Path, dst: Path) -> None:
    """Copy a file's bytes with ``copy_file_range``: the kernel copies without passing
    the data through this process, and file systems with shared extents (XFS, btrfs)
    share the blocks instead of copying them; on ext4 it costs what ``shutil.copyfile``
    (``sendfile``) costs. Falls back to ``shutil.copyfile`` where the call is missing or
    refused (other file systems, a different device)."""
    if not hasattr(os, "copy_file_range"):
        shutil.copyfile(src, dst)
        return
    with src.open("rb") as fin, dst.open("wb") as fout:
        left = os.fstat(fin.fileno()).st_size
        try:
            while left > 0:
                done = os.copy_file_range(fin.fileno(), fout.fileno(), min(left, 1 << 30))
                if done == 0:
                    break
                left -= done
        except OSError as exc:
            if exc.errno not in _NO_COPY_FILE_RANGE:
                raise
            left = -1
    if left != 0:  # refused (or the source changed size): copy it the ordinary way
        shutil.copyfile(src, dst)


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


@dataclass(frozen=True)
class Split:
    """How a table's Parquet export is split into files by the calendar period of its
    date ``column``: one file per ``unit`` (``quarter`` or ``month``) of the table's
    latest year, one per year before it; with ``days``, one per day of the latest
    month (the month of the column's latest date)."""

    column: str
    unit: Literal["quarter", "month"] = "quarter"
    days: bool = False


#: (schema, table) -> how the table's Parquet export is split into one file per period,
#: ``<schema>/<table>/<period>.parquet``. The order facts are most of the export (at 10 M
#: lines 700 of 830 MB) and a night changes the latest orders: it rewrites their
#: quarter's file (``2026-Q4``), not the year's (``2025``) or the whole history, while a
#: long history stays a few files (each file costs a scan of the table to write;
#: docs/decisions/0006). ``kpi_history`` grows by a whole ``kpi_values`` every
#: night (at 10 M order lines 200 k rows): its files are the days of ``as_of`` in the
#: latest month (``2026-11-29``), the months before them in the latest year (``2026-10``)
#: and years, so a night writes its own day's file, not its month's (6 M rows at the end
#: of a month at 10 M order lines; docs/decisions/0006); the first
#: night of a month folds the past month's days into one file.
PARTITIONED: dict[tuple[str, str], Split] = {
    ("marts", "fct_orders"): Split("order_date"),
    ("marts", "fct_order_lines"): Split("order_date"),
    ("kpi", "kpi_history"): Split("as_of", unit="month", days=True),
}
#: the file of a partitioned table's rows without a date (and of an empty table, so
#: that the table's folder always holds its columns)
UNDATED = "undated"

_MONTHS = {"quarter": 3, "month": 1}


@dataclass(frozen=True, order=True)
class Period:
    """The dates ``[start, end)`` of one file of a partitioned table: a calendar year,
    quarter or month."""

    start: dt.date
    end: dt.date

    @classmethod
    def of(
        cls,
        start: dt.date,
        latest_year: int,
        unit: Literal["quarter", "month"] = "quarter",
        latest_month: dt.date | None = None,
    ) -> Period:
        """The period starting on ``start``: a day on or after ``latest_month`` (the
        first day of a month, when the split has days), else a ``unit`` (quarter or
        month) in ``latest_year``, else a year."""
        if latest_month is not None and start >= latest_month:
            return cls(start, start + dt.timedelta(days=1))
        if start.year < latest_year:
            return cls(start, start.replace(year=start.year + 1))
        month = start.month + _MONTHS[unit]
        if month > 12:  # the last quarter or month ends with the year
            return cls(start, dt.date(start.year + 1, 1, 1))
        return cls(start, start.replace(month=month))

    @property
    def name(self) -> str:
        if self.end == self.start + dt.timedelta(days=1):
            return self.start.isoformat()
        if self.end == self.start.replace(year=self.start.year + 1):
            return str(self.start.year)
        months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month
        if months == 1:
            return f"{self.start.year}-{self.start.month:02d}"
        return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"


def fingerprint(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    """A table's content as a short string: its columns with their types, its row count
    and the sum of its rows' hashes (every column; independent of row order). Equal for
    equal content; any changed, added or removed row or column changes it (up to
    collisions of the 64-bit row hash)."""
    return _fingerprints(con, schema, table, None)[None]


def _fingerprints(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, split: Split | None
) -> dict[Period | None, str]:
    """:func:`fingerprint` of the whole table (key None), or, with ``split``, of each
    :class:`Period` of its date column's values (key None: the rows without a date), in
    one scan. An empty table has the fingerprint of its columns under key None."""
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where schema_name = ? and table_name = ? order by column_index",
        [schema, table],
    ).fetchall()
    described = [f"{name} {dtype}" for name, dtype in columns]
    # hash(c1, …, cn) is the hash of the row struct, without building the struct; the
    # columns are named (quoted): a column called like the table alias would otherwise
    # be hashed alone
    args = ", ".join(_quote(name) for name, _ in columns)
    source = f"{_quote(schema)}.{_quote(table)}"
    if split is None:
        sql = f"select count(*), sum(hash({args})::hugeint) from {source}"
        count, hashes = con.execute(sql).fetchall()[0]
        return {None: f"{described}|{count}|{hashes}"}
    day = _quote(split.column)
    (newest,) = con.execute(f"select max({day})::date from {source}").fetchall()[0]
    # no dated row: the undated file alone (the columns, if empty)
    latest = 1 if newest is None else newest.year
    latest_month = newest.replace(day=1) if split.days and newest is not None else None
    # a row's period: its year before the latest year, its quarter (or month) in it, its
    # day in the latest month (with days)
    days = "" if latest_month is None else f"when {day} >= date '{latest_month}' then {day} "
    start = (
        f"(case {days}when {day} < make_date({int(latest)}, 1, 1) "
        f"then date_trunc('year', {day}) else date_trunc('{split.unit}', {day}) end)::date"
    )
    rows = con.execute(
        f"select {start}, count(*), sum(hash({args})::hugeint) from {source} group by all"
    ).fetchall()
    return {
        None if begin is None else Period.of(begin, latest, split.unit, latest_month): (
            f"{described}|{count}|{hashes}"
        )
        for begin, count, hashes in rows
    } or {None: f"{described}|0|None"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ParquetFile:
    """One file of the Parquet export: the rows of ``source`` (a query) at ``path``, whose
    content has the fingerprint ``stamp`` (kept in ``_fingerprints.json`` under ``key``)."""

    key: str
    path: Path
    source: str
    stamp: str


def parquet_files(
    con: duckdb.DuckDBPyConnection, out_dir: Path, schema: str, table: str
) -> list[ParquetFile]:
    """The Parquet files of one table, with their fingerprints: ``<schema>/<table>.parquet``,
    or, for a table of :data:`PARTITIONED`, one file per :class:`Period` of its date
    column, ``<schema>/<table>/<period>.parquet`` (``undated.parquet``: the rows without a
    date, or the columns of an empty table). Every row is in exactly one file."""
    name = f"{_quote(schema)}.{_quote(table)}"
    split = PARTITIONED.get((schema, table))
    stamps = _fingerprints(con, schema, table, split)
    if split is None:
        path = out_dir / schema / f"{table}.parquet"
        return [ParquetFile(_stamp_key(out_dir, path), path, f"select * from {name}", stamps[None])]
    column = _quote(split.column)
    files = []
    for period, stamp in sorted(stamps.items(), key=lambda kv: (kv[0] is None, kv[0])):
        # a range: the scan applies it as a filter
        where = (
            f"{column} is null"
            if period is None
            else f"{column} >= date '{period.start}' and {column} < date '{period.end}'"
        )
        path = out_dir / schema / table / f"{UNDATED if period is None else period.name}.parquet"
        files.append(
            ParquetFile(
                _stamp_key(out_dir, path), path, f"select * from {name} where {where}", stamp
            )
        )
    return files


@dataclass
class ParquetExport:
    """The Parquet files of one publication, written but not yet in place
    (:func:`stage_parquet`); :meth:`commit` renames them over the published files."""

    out_dir: Path
    #: the fingerprints of every exported file after the commit
    stamps: dict[str, str]
    #: (temporary file, published file) of every file whose content changed
    staged: list[tuple[Path, Path]] = field(default_factory=list)
    #: published files no table has any more (a period without rows, a table whose layout
    #: changed): deleted by the commit
    removed: list[Path] = field(default_factory=list)

    @property
    def stamps_path(self) -> Path:
        return self.out_dir / STAMPS_FILE

    def commit(self) -> list[Path]:
        """Rename the staged files into place and delete the removed ones; returns the
        files written. The fingerprints of the files concerned are first dropped from
        ``_fingerprints.json`` (the file says only what is certain), then the files are
        renamed, then the new fingerprints written: a crash in between leaves each file
        old or new, never half, and the next publication rewrites every file whose
        fingerprint is missing."""
        touched = [target for _, target in self.staged] + self.removed
        changed = {_stamp_key(self.out_dir, path) for path in touched}
        if changed:
            old = _read_stamps(self.stamps_path)
            _write_stamps(self.stamps_path, {k: v for k, v in old.items() if k not in changed})
        for tmp, target in self.staged:
            os.replace(tmp, target)
        for path in self.removed:
            path.unlink(missing_ok=True)
        _write_stamps(self.stamps_path, self.stamps)
        return [target for _, target in self.staged]


STAMPS_FILE = "_fingerprints.json"


def _stamp_key(out_dir: Path, target: Path) -> str:
    return target.relative_to(out_dir).with_suffix("").as_posix()


def _read_stamps(path: Path) -> dict[str, str]:
    try:
        stamps: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        stamps = {}
    return stamps


def _write_stamps(path: Path, stamps: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stamps, indent=1, sort_keys=True))
    os.replace(tmp, path)


def published_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, table) of every table exported to Parquet: the marts and kpi schemas."""
    return [
        (schema, table)
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('marts', 'kpi') order by 1, 2"
        ).fetchall()
    ]


def copy_to_parquet(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> None:
    """Write the rows of the query ``source`` to a Parquet file (DuckDB's writer, default
    options)."""
    con.execute(f"copy ({source}) to {quote_str(str(path))} (format parquet)")


def _stale_files(out_dir: Path, schema: str, table: str, files: list[ParquetFile]) -> list[Path]:
    """Published files of ``table`` that are not among its ``files``: the periods it no
    longer has (or whose layout changed: the quarters of a year that is no longer the
    latest), or the other layout (one file, or a folder of periods)."""
    current = {f.path for f in files}
    candidates = [out_dir / schema / f"{table}.parquet"]
    candidates += sorted((out_dir / schema / table).glob("*.parquet"))
    return [path for path in candidates if path not in current and path.exists()]


def stage_parquet(con: duckdb.DuckDBPyConnection, out_dir: Path) -> ParquetExport:
    """Write every file of the marts' and kpi tables' export (:func:`parquet_files`)
    whose content is not that of its published file to a temporary file next to it
    (``<file>.parquet.tmp``); nothing published changes until
    :meth:`ParquetExport.commit`. A file's content is known by its fingerprint, kept
    per file in ``_fingerprints.json``: a night that changes few tables (and of the
    order facts, few periods) writes only those. Temporary files a crashed run left are
    deleted first."""
    for stale in [*out_dir.glob("*/*.parquet.tmp"), *out_dir.glob("*/*/*.parquet.tmp")]:
        stale.unlink()
    export = ParquetExport(out_dir, _read_stamps(out_dir / STAMPS_FILE))
    for schema, table in published_tables(con):
        files = parquet_files(con, out_dir, schema, table)
        for removed in _stale_files(out_dir, schema, table, files):
            export.stamps.pop(_stamp_key(out_dir, removed), None)
            export.removed.append(removed)
        for file in files:
            if export.stamps.get(file.key) == file.stamp and file.path.exists():
                continue
            file.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.path.with_suffix(".parquet.tmp")
            copy_to_parquet(con, file.source, tmp)
            export.stamps[file.key] = file.stamp
            export.staged.append((tmp, file.path))
    return export


def export_parquet(con: duckdb.DuckDBPyConnection, out_dir: Path) -> list[Path]:
    """:func:`stage_parquet`, then commit at once (readers never see half a file);
    returns the files written. A publication stages before and commits after the swap of
    the warehouse file (salesdw.pipeline.publish)."""
    return stage_parquet(con, out_dir).commit()


@contextlib.contextmanager
def read_only(published: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection on the published warehouse, in the analysts' sandbox
    (:func:`salesdw.sandbox.connect`: no access to other files, settings locked)."""
    from salesdw import sandbox
    from salesdw.errors import WarehouseNotFoundError

    if not published.exists():
        raise WarehouseNotFoundError(
            f"no published warehouse at {published}; run `salesdw run` (or `salesdw demo`) first"
        )
    con = sandbox.connect(published)
    try:
        yield con
    finally:
        con.close()
