"""Where the publish step's time goes, on a copy of a published warehouse.

    python -m salesdw.publish_profile WAREHOUSE_DIR SCRATCH_DIR [--rewrite kpi/x,marts/y]

Copies ``WAREHOUSE_DIR/sales.duckdb`` and ``WAREHOUSE_DIR/parquet/`` into ``SCRATCH_DIR``
(never opens the originals for writing), drops the fingerprints named by ``--rewrite``
(the tables a night changed: they are written as on that night), then times, in wall
and CPU seconds (user + system of this process, DuckDB's threads included):
``start_build``'s copy; every table's fingerprint and, for the tables to write, their
Parquet ``COPY`` with its size (to a side folder, for the breakdown); then the real
publication: :func:`salesdw.warehouse.stage_parquet`, :func:`salesdw.warehouse.publish`
(checkpoint, fsync, rename) and the commit of the Parquet files.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from salesdw import warehouse

T = TypeVar("T")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, fn: Callable[[], T], note: str = "") -> T:
    """Run ``fn``, print its wall and CPU seconds."""
    wall, cpu = time.perf_counter(), _cpu()
    result = fn()
    print(
        f"{label:<44} {time.perf_counter() - wall:8.2f} s {_cpu() - cpu:8.2f} CPU s  {note}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse_dir", type=Path)
    parser.add_argument("scratch_dir", type=Path)
    parser.add_argument("--rewrite", default="", help="kpi/x,marts/y: drop their fingerprints")
    args = parser.parse_args(argv)
    scratch: Path = args.scratch_dir
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    published = scratch / "sales.duckdb"
    shutil.copyfile(args.warehouse_dir / "sales.duckdb", published)
    shutil.copytree(args.warehouse_dir / "parquet", scratch / "parquet")
    stamps_path = scratch / "parquet" / warehouse.STAMPS_FILE
    stamps = json.loads(stamps_path.read_text()) if stamps_path.exists() else {}
    for key in filter(None, args.rewrite.split(",")):
        stamps.pop(key, None)
    stamps_path.write_text(json.dumps(stamps, indent=1, sort_keys=True))

    build = timed("start_build (copy)", lambda: warehouse.start_build(published))
    con = warehouse.connect(build)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('marts', 'kpi') order by 1, 2"
        ).fetchall()
        side = scratch / "breakdown"
        side.mkdir()
        for schema, table in tables:
            stamp = timed(
                f"fingerprint {schema}.{table}",
                functools.partial(warehouse.fingerprint, con, schema, table),
            )
            if stamps.get(f"{schema}/{table}") != stamp:
                out = side / f"{schema}.{table}.parquet"
                wall, cpu = time.perf_counter(), _cpu()
                con.execute(f'copy "{schema}"."{table}" to \'{out}\' (format parquet)')
                print(
                    f"{'copy ' + schema + '.' + table:<44} {time.perf_counter() - wall:8.2f} s "
                    f"{_cpu() - cpu:8.2f} CPU s  {out.stat().st_size / 1e6:.1f} MB",
                    flush=True,
                )
        shutil.rmtree(side)
        export = timed(
            "stage_parquet (all of the above)",
            lambda: warehouse.stage_parquet(con, scratch / "parquet"),
        )
    finally:
        con.close()
    timed("publish (checkpoint, fsync, rename)", lambda: warehouse.publish(build, published))
    written = timed("commit (Parquet renames)", export.commit)
    print(f"{len(written)} Parquet files written")


if __name__ == "__main__":
    main()
