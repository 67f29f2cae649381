"""Run `salesdw` as a user would: a child process on a generated landing folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import yaml

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


SMALL_ORDERS = (
    "order,date,customer\n"
    "A1,2024-01-10,C1\n"
    "A2,2024-01-20,C2\n"
    "A3,2024-02-05,C1\n"
)
# A1: 2 × 100 + 1 × 50 = 250; A2: 3 × 20 = 60 (January 310); A3: 1 × 400 − 1 × 100 = 300
SMALL_LINES = (
    "order,sku,qty,price\n"
    "A1,P1,2,100\n"
    "A1,P2,1,50\n"
    "A2,P3,3,20\n"
    "A3,P1,1,400\n"
    "A3,P4,-1,100\n"
)


def small_project(
    folder: Path, currency: str = "USD", lines: str = SMALL_LINES, fx: str | None = None
) -> Path:
    """A folder with a few orders and lines (no currency column unless ``lines`` has
    one; fx rates when ``fx`` is given) and its salesdw.yml; returns the config path.
    Revenue: 310 in 2024-01, 300 in 2024-02."""
    landing = folder / "landing"
    (landing / "erp").mkdir(parents=True)
    (landing / "erp" / "orders.csv").write_text(SMALL_ORDERS, encoding="utf-8")
    (landing / "erp" / "lines.csv").write_text(lines, encoding="utf-8")
    lines_columns = {
        "order_id": "order",
        "product_id": "sku",
        "quantity": "qty",
        "unit_price": "price",
    }
    if "currency" in lines.splitlines()[0]:
        lines_columns["currency"] = "currency"
    sources = [
        {
            "name": "erp_orders",
            "entity": "orders",
            "path": "erp/orders.csv",
            "columns": {"order_id": "order", "order_date": "date", "customer_id": "customer"},
        },
        {
            "name": "erp_lines",
            "entity": "order_lines",
            "path": "erp/lines.csv",
            "columns": lines_columns,
        },
    ]
    if fx is not None:
        (landing / "finance").mkdir()
        (landing / "finance" / "fx.csv").write_text(fx, encoding="utf-8")
        sources.append(
            {
                "name": "fx",
                "entity": "fx_rates",
                "path": "finance/fx.csv",
                "columns": {"date": "date", "currency": "currency", "rate_to_reporting": "rate"},
            }
        )
    config = folder / "salesdw.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouse": "warehouse/sales.duckdb",
                "landing": "landing",
                "reports": "reports",
                "reporting_currency": currency,
                "sources": sources,
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return config
