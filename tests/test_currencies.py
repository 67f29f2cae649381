"""The nightly run in any reporting currency, end to end (`salesdw run`).

A company whose exports carry no currency column reports in its own currency, whatever
that is; one that sells in several currencies converts each line at the latest rate on
or before its order date (docs/entities.md, `fx_rates`). The expected revenues are
worked out by hand below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e_helpers import query, salesdw, small_project


def _monthly_revenue(folder: Path) -> dict[str, float]:
    rows = query(
        folder / "warehouse" / "sales.duckdb",
        "select strftime(period_start, '%Y-%m'), value from kpi.kpi_values "
        "where kpi = 'revenue' and grain = 'month' and dimension = 'all' order by 1",
    )
    return {str(month): float(str(value)) for month, value in rows}


@pytest.mark.parametrize("currency", ["GBP", "CNY", "EUR", "BRL"])
def test_a_first_run_publishes_in_the_company_s_own_currency(
    tmp_path: Path, currency: str
) -> None:
    config = small_project(tmp_path, currency)
    run = salesdw("run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{currency} 310.00" in run.stdout  # the summary (last whole month), in it
    assert _monthly_revenue(tmp_path) == {"2024-01": 310.0, "2024-02": 300.0}
    assert query(
        tmp_path / "warehouse" / "sales.duckdb",
        "select distinct currency, fx_rate from marts.fct_order_lines",
    ) == [(None, 1.0)]  # no currency on the line: the reporting one


def test_mixed_currencies_convert_at_the_latest_rate_on_or_before_the_order_date(
    tmp_path: Path,
) -> None:
    """Reporting in BRL; lines in EUR, USD, BRL and without a currency (the reporting
    one). EUR is 6.0 BRL from 2024-01-01 and 6.5 from 2024-02-01; USD 5.0 from
    2024-01-15 (A1 on 2024-01-10 precedes it: the earliest rate applies)."""
    lines = (
        "order,sku,qty,price,currency\n"
        "A1,P1,2,100,EUR\n"  # 200 EUR × 6.0 = 1200
        "A1,P2,1,50,USD\n"  # 50 USD × 5.0 (earliest rate) = 250
        "A2,P3,3,20,\n"  # 60 BRL
        "A3,P1,1,400,EUR\n"  # 400 EUR × 6.5 = 2600
        "A3,P4,-1,100,BRL\n"  # −100 BRL
    )
    fx = (
        "date,currency,rate\n"
        "2024-01-01,EUR,6.0\n"
        "2024-02-01,EUR,6.5\n"
        "2024-01-15,USD,5.0\n"
        "2024-01-01,BRL,0.2\n"  # the reporting currency is always 1, whatever fx says
    )
    config = small_project(tmp_path, "BRL", lines=lines, fx=fx)
    run = salesdw("run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    assert _monthly_revenue(tmp_path) == {"2024-01": 1510.0, "2024-02": 2500.0}
    rates = query(
        tmp_path / "warehouse" / "sales.duckdb",
        "select order_id, currency, fx_rate from marts.fct_order_lines order by 1, 2",
    )
    assert rates == [
        ("A1", "EUR", 6.0),
        ("A1", "USD", 5.0),
        ("A2", None, 1.0),
        ("A3", "BRL", 1.0),
        ("A3", "EUR", 6.5),
    ]
