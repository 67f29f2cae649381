"""Run `salesdw` as a user would: a child process on a generated landing folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
SALESDW = str(Path(sys.executable).parent / "salesdw")


def make_project(folder: Path, scale: str = "demo", seed: int = 42) -> Path:
    """A folder with landing/ (generated) and salesdw.yml; returns the config path."""
    from salesdw.demo import generate, write_config

    generate(folder / "landing", scale=scale, seed=seed)
    config = folder / "salesdw.yml"
    write_config(config, warehouse="warehouse/sales.duckdb", landing="landing")
    return config


def env() -> dict[str, str]:
    return {**os.environ, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}


def salesdw(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SALESDW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
        cwd=ROOT,
        check=False,
    )


def start_run(config: Path) -> subprocess.Popen[str]:
    """`salesdw run` in its own process group (so that a kill takes its children too)."""
    return subprocess.Popen(
        [SALESDW, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(),
        cwd=ROOT,
        start_new_session=True,
    )


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst / "salesdw.yml"


REVENUE_FINGERPRINT = "select count(*), round(sum(net_amount), 2) from marts.fct_orders"
KPI_FINGERPRINT = (
    "select count(*), md5(string_agg(concat_ws('|', kpi, grain, period_start, dimension, "
    "dimension_value, round(value, 6)), ',' order by kpi, grain, period_start, dimension, "
    "dimension_value)) from kpi.kpi_values"
)
