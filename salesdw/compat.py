"""Check that a published warehouse opens with DuckDB 1.5.5, the version BI drivers bundle.

    python -m salesdw.compat data/warehouse/sales.duckdb

Creates (once) a separate virtual environment `.venv-duckdb15` with `duckdb==1.5.5`,
opens the file read-only there and prints the row count of every table of the marts,
kpi and meta schemas. Exit status 0 when every table reads, 1 otherwise.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

COMPAT_DUCKDB = "1.5.5"
ROOT = Path(__file__).resolve().parent.parent
COMPAT_VENV = ROOT / ".venv-duckdb15"

_CHECK = r"""
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
tables = con.execute(
    "select schema_name, table_name from duckdb_tables() "
    "where schema_name in ('marts', 'kpi', 'meta') order by 1, 2").fetchall()
for schema, table in tables:
    n = con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
    print(f"{schema}.{table}\t{n}")
print(f"duckdb {duckdb.__version__}: {len(tables)} tables read", file=sys.stderr)
"""


def compat_python() -> Path:
    """The Python of the DuckDB 1.5.5 environment (created on first use)."""
    python = COMPAT_VENV / "bin" / "python"
    if not python.exists():
        venv.create(COMPAT_VENV, with_pip=True)
    check = subprocess.run(
        [str(python), "-c", "import duckdb; print(duckdb.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.stdout.strip() != COMPAT_DUCKDB:
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"duckdb=={COMPAT_DUCKDB}",
            ],
            check=True,
        )
    return python


def table_counts(path: Path) -> dict[str, int]:
    """Row counts of the published schemas' tables, read by DuckDB 1.5.5."""
    proc = subprocess.run(
        [str(compat_python()), "-c", _CHECK, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"DuckDB {COMPAT_DUCKDB} cannot read {path}:\n{proc.stderr}")
    return {line.split("\t")[0]: int(line.split("\t")[1]) for line in proc.stdout.splitlines()}


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "data/warehouse/sales.duckdb")
    try:
        counts = table_counts(path)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
    for table, n in counts.items():
        print(f"{table:<40} {n:>10,}")
    print(f"{path}: {len(counts)} tables readable by DuckDB {COMPAT_DUCKDB}", file=sys.stderr)


if __name__ == "__main__":
    main()
