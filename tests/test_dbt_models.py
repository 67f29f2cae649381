"""dbt models (models/, seeds/, snapshots/) on a small hand-made data set.

One `dbt build` per module on a temp DuckDB file (module fixture); the expected values
below are worked out by hand from the rows inserted here. Reporting currency USD,
EUR = 1.25 USD from 2024-01-01 and 1.5 USD from 2024-03-01, CNY = 0.125 USD from
2024-01-01 (so CNY amounts dated before that take the earliest rate, 0.125).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from kpis.inputs import ORDER_SUMS_SQL, load_line_totals
from salesdw.ingest.raw_tables import create_raw_tables

# one dbt build per module: keep the module on one xdist worker (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("dbt")

ROOT = Path(__file__).resolve().parents[1]
VARS = "{reporting_currency: USD, churn_window_days: 30}"
FIRST_LOAD = dt.datetime(2024, 4, 1, 2, 0)
SECOND_LOAD = dt.datetime(2024, 4, 2, 2, 0)
THIRD_LOAD = dt.datetime(2024, 4, 3, 2, 0)
FOURTH_LOAD = dt.datetime(2024, 4, 4, 2, 0)
D = dt.date

Row = dict[str, Any]

RAW_ROWS: dict[str, list[Row]] = {
    "reps": [
        {
            "rep_id": "R1",
            "name": "Ann",
            "team": "Alpha",
            "region": "EMEA",
            "active": True,
        },
        {
            "rep_id": "R2",
            "name": "Bo",
            "team": "Beta",
            "region": "APAC",
            "active": True,
        },
    ],
    "products": [
        {
            "product_id": "P1",
            "name": "Widget",
            "category": "Hardware",
            "unit_cost": 40.0,
        },
        {"product_id": "P2", "name": "Licence", "category": "Software"},
    ],
    "customers": [
        {
            "customer_id": "C1",
            "name": "Acme",
            "segment": "SMB",
            "country": "DE",
            "channel": "Trade Show",
            "owner_rep_id": "R1",
        },
        {
            "customer_id": "C2",
            "name": "华为",
            "segment": "Enterprise",
            "country": "CN",
            "channel": "转介绍",
            "owner_rep_id": "R2",
        },
        {"customer_id": "C3", "name": "Initech", "segment": "SMB", "country": "US"},
        {
            "customer_id": "C5",
            "name": "Prospect Ltd",
            "segment": "SMB",
            "country": "GB",
            "channel": "Web",
        },
    ],
    "orders": [
        {
            "order_id": "O1",
            "order_date": D(2024, 1, 10),
            "customer_id": "C1",
            "status": "completed",
            "channel": "Website",
            "rep_id": "R1",
            "currency": "EUR",
        },
        {
            "order_id": "O2",
            "order_date": D(2024, 2, 15),
            "customer_id": "C1",
            "status": "cancelled",
            "rep_id": "R1",
            "currency": "EUR",
        },
        {
            "order_id": "O3",
            "order_date": D(2024, 3, 5),
            "customer_id": "C1",
            "status": "returned",
            "rep_id": "R1",
            "region": "DACH",
            "currency": "EUR",
        },
        {
            "order_id": "O4",
            "order_date": D(2023, 12, 20),
            "customer_id": "C2",
            "status": "completed",
            "rep_id": "R2",
            "currency": "CNY",
        },
        {
            "order_id": "O5",
            "order_date": D(2024, 2, 1),
            "customer_id": "C3",
            "status": "completed",
            "channel": "官网",
            "currency": "USD",
        },
        {
            "order_id": "O6",
            "order_date": D(2024, 3, 20),
            "customer_id": "C4",
            "status": "completed",
            "channel": "Carrier Pigeon",
            "country": "FR",
        },
        {
            "order_id": "O7",
            "order_date": D(2024, 1, 5),
            "customer_id": "C3",
            "status": "cancelled",
            "channel": "官网",
            "currency": "USD",
        },
    ],
    "order_lines": [
        {
            "order_id": "O1",
            "line_id": "1",
            "product_id": "P1",
            "quantity": 2.0,
            "unit_price": 50.0,
            "amount": 100.0,
        },
        {
            "order_id": "O1",
            "line_id": "2",
            "product_id": "P2",
            "quantity": 1.0,
            "unit_price": 20.0,
            "amount": 20.0,
        },
        {
            "order_id": "O2",
            "line_id": "1",
            "product_id": "P1",
            "quantity": 4.0,
            "unit_price": 50.0,
            "amount": 200.0,
        },
        {
            "order_id": "O3",
            "line_id": "1",
            "product_id": "P1",
            "quantity": -1.0,
            "unit_price": 40.0,
            "amount": -40.0,
        },
        {
            "order_id": "O4",
            "line_id": "1",
            "product_id": "P2",
            "quantity": 1.0,
            "unit_price": 800.0,
            "amount": 800.0,
            "cost": 160.0,
        },
        {
            "order_id": "O5",
            "line_id": "1",
            "product_id": "P2",
            "quantity": 3.0,
            "unit_price": 25.0,
            "amount": 75.0,
        },
        {
            "order_id": "O6",
            "line_id": None,
            "quantity": 1.0,
            "unit_price": 30.0,
            "amount": 30.0,
        },
        {
            "order_id": "O7",
            "line_id": "1",
            "product_id": "P1",
            "quantity": 10.0,
            "unit_price": 50.0,
            "amount": 500.0,
        },
    ],
    "fx_rates": [
        {"date": D(2024, 1, 1), "currency": "EUR", "rate_to_reporting": 1.25},
        {"date": D(2024, 3, 1), "currency": "EUR", "rate_to_reporting": 1.5},
        {"date": D(2024, 1, 1), "currency": "CNY", "rate_to_reporting": 0.125},
    ],
    "opportunities": [
        {
            "opportunity_id": "OP1",
            "customer_id": "C1",
            "lead_id": "L1",
            "owner_rep_id": "R1",
            "stage": "Closed Won",
            "amount": 1000.0,
            "currency": "EUR",
            "created_at": D(2024, 1, 5),
            "close_date": D(2024, 2, 20),
            "type": "new",
        },
        {
            "opportunity_id": "OP2",
            "customer_id": "C2",
            "owner_rep_id": "R2",
            "stage": "谈判审核",
            "amount": 5000.0,
            "currency": "CNY",
            "created_at": D(2024, 1, 16),
            "close_date": D(2024, 4, 30),
            "channel": "展会",
        },
        {
            "opportunity_id": "OP3",
            "customer_id": "C3",
            "stage": "Mystery Stage",
            "amount": 100.0,
            "currency": "USD",
            "created_at": D(2024, 2, 2),
        },
        {
            "opportunity_id": "OP4",
            "customer_id": "C1",
            "owner_rep_id": "R1",
            "stage": "Closed Lost",
            "amount": 300.0,
            "currency": "USD",
            "created_at": D(2024, 2, 1),
            "close_date": D(2024, 3, 1),
        },
        {
            "opportunity_id": "OP5",
            "customer_id": "C5",
            "stage": "Proposal/Price Quote",
            "probability": 0.5,
            "created_at": D(2024, 3, 10),
        },
    ],
    "opportunity_stage_history": [
        {
            "opportunity_id": "OP1",
            "stage": "Prospecting",
            "entered_at": dt.datetime(2024, 1, 5),
        },
        {
            "opportunity_id": "OP1",
            "stage": "Needs Analysis",
            "entered_at": dt.datetime(2024, 1, 20),
        },
        {
            "opportunity_id": "OP1",
            "stage": "Negotiation/Review",
            "entered_at": dt.datetime(2024, 2, 1),
        },
        {
            "opportunity_id": "OP1",
            "stage": "Closed Won",
            "entered_at": dt.datetime(2024, 2, 20),
        },
        {
            "opportunity_id": "OP4",
            "stage": "初步接洽",
            "entered_at": dt.datetime(2024, 2, 1),
        },
        {
            "opportunity_id": "OP4",
            "stage": "方案报价",
            "entered_at": dt.datetime(2024, 2, 10),
        },
        {
            "opportunity_id": "OP4",
            "stage": "Closed Lost",
            "entered_at": dt.datetime(2024, 3, 1),
        },
    ],
    "leads": [
        {
            "lead_id": "L1",
            "created_at": D(2024, 1, 2),
            "channel": "Google Ads",
            "owner_rep_id": "R1",
            "converted_at": D(2024, 2, 25),
            "converted_customer_id": "C1",
        },
        {
            "lead_id": "L2",
            "created_at": D(2024, 1, 15),
            "channel": "Cold Call",
            "owner_rep_id": "R2",
            "converted_opportunity_id": "OP2",
        },
        {
            "lead_id": "L3",
            "created_at": D(2024, 2, 1),
            "channel": "WeChat Mini Program",
            "converted_at": D(2024, 2, 5),
            "converted_customer_id": "C3",
        },
        {"lead_id": "L4", "created_at": D(2024, 3, 1)},
    ],
    "targets": [
        {
            "period_start": D(2024, 1, 1),
            "grain": "month",
            "metric": "revenue",
            "level": "company",
            "target_value": 1000.0,
        },
        {
            "period_start": D(2024, 1, 1),
            "grain": "quarter",
            "metric": "revenue",
            "level": "channel",
            "level_value": "Website",
            "target_value": 500.0,
        },
        {
            "period_start": D(2024, 1, 1),
            "grain": "year",
            "metric": "bookings",
            "level": "region",
            "level_value": "EMEA",
            "target_value": 9000.0,
        },
    ],
    "marketing_spend": [
        {
            "period_start": D(2024, 1, 1),
            "channel": "Google Ads",
            "amount": 500.0,
            "currency": "EUR",
            "campaign": "brand",
        },
        {
            "period_start": D(2024, 2, 1),
            "channel": "展会",
            "amount": 1000.0,
            "currency": "CNY",
        },
    ],
}


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[Row], loaded_at: dt.datetime
) -> None:
    """Insert rows into raw.<table> with lineage columns, as ingestion would."""
    for number, row in enumerate(rows, start=1):
        values = {
            **row,
            "_source": "test",
            "_file": f"{table}.csv",
            "_row_number": number,
            "_run_id": loaded_at.isoformat(),
            "_loaded_at": loaded_at,
        }
        columns = ", ".join(f'"{c}"' for c in values)
        marks = ", ".join("?" for _ in values)
        con.execute(
            f"insert into raw.{table} ({columns}) values ({marks})",
            list(values.values()),
        )


def dbt(db_path: Path, work_dir: Path, *args: str, dbt_vars: str = VARS) -> None:
    """Run a dbt command in-process on db_path; fail the test with dbt's error if it fails."""
    result = dbt_result(db_path, work_dir, *args, dbt_vars=dbt_vars)
    assert result.success, f"dbt {' '.join(args)} failed: {result.exception or result.result}"


def dbt_result(db_path: Path, work_dir: Path, *args: str, dbt_vars: str = VARS) -> Any:
    """Run a dbt command in-process on db_path; dbt's result."""
    from dbt.cli.main import dbtRunner

    previous = os.environ.get("SALESDW_DB_PATH")
    os.environ["SALESDW_DB_PATH"] = str(db_path)
    try:
        result = dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(ROOT),
                "--profiles-dir",
                str(ROOT),
                "--target-path",
                str(work_dir / "target"),
                "--log-path",
                str(work_dir / "logs"),
                "--vars",
                dbt_vars,
                "--quiet",
            ]
        )
    finally:
        release_duckdb()
        if previous is None:
            os.environ.pop("SALESDW_DB_PATH", None)
        else:
            os.environ["SALESDW_DB_PATH"] = previous
    return result


def release_duckdb() -> None:
    """Close the DuckDB instance dbt-duckdb keeps open in-process after a run.

    dbt-duckdb caches one connection per process (DuckDBConnectionManager._ENV); while it
    is open the file cannot be opened read-only nor safely copied.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
        DuckDBConnectionManager._ENV = None


def query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture(scope="module")
def built_db(work_dir: Path) -> Iterator[Path]:
    """The hand-made data set loaded into raw.* and built with `dbt build` once."""
    db_path = work_dir / "sales.duckdb"
    with duckdb.connect(str(db_path)) as con:
        create_raw_tables(con)
        for table, rows in RAW_ROWS.items():
            insert_rows(con, table, rows, FIRST_LOAD)
    dbt(db_path, work_dir, "build")
    yield db_path


@pytest.mark.parametrize("currency", ["GBP", "EUR"])
def test_unit_tests_pass_whatever_the_user_s_config_says(
    built_db: Path, work_dir: Path, currency: str
) -> None:
    """Every dbt unit test pins the vars it reads: a user's reporting currency (GBP has
    no rate in the fixtures; EUR has rates) or churn window does not change its
    result. A nightly run never executes them (pipeline.dbt_build_args)."""
    result = dbt_result(
        built_db,
        work_dir,
        "test",
        "--select",
        "test_type:unit",
        dbt_vars=f"{{reporting_currency: {currency}, churn_window_days: 90, payment_terms_days: 7}}",
    )
    assert result.success, result.result
    unit = [str(r.status) for r in result.result.results if r.node.resource_type == "unit_test"]
    assert unit == ["pass"] * 10


def test_order_net_amounts_in_usd_and_purchase_flags(built_db: Path) -> None:
    rows = query(
        built_db,
        "select order_id, net_amount, is_cancelled, is_purchase, is_return, line_count"
        " from marts.fct_orders order by order_id",
    )
    assert rows == [
        ("O1", 150.0, False, True, False, 2),  # 120 EUR × 1.25
        ("O2", 250.0, True, False, False, 1),  # cancelled: not a purchase
        ("O3", -60.0, False, False, True, 1),  # -40 EUR × 1.5 (rate of 2024-03-01)
        ("O4", 100.0, False, True, False, 1),  # 800 CNY × 0.125 (earliest rate)
        ("O5", 75.0, False, True, False, 1),
        ("O6", 30.0, False, True, False, 1),  # no currency: rate 1
        ("O7", 500.0, True, False, False, 1),
    ]


def test_order_attributes_fall_back(built_db: Path) -> None:
    rows = query(
        built_db,
        "select order_id, channel, channel_raw, team, region, country, segment"
        " from marts.fct_orders where order_id in ('O1', 'O3', 'O4', 'O5', 'O6')"
        " order by order_id",
    )
    assert rows == [
        ("O1", "web", "Website", "Alpha", "EMEA", "DE", "SMB"),
        ("O3", "events", None, "Alpha", "DACH", "DE", "SMB"),  # customer's Trade Show
        ("O4", "referral", None, "Beta", "APAC", "CN", "Enterprise"),  # 转介绍
        ("O5", "web", "官网", None, None, "US", "SMB"),
        ("O6", "other", "Carrier Pigeon", None, None, "FR", None),
    ]


def test_order_lines_amounts_and_costs(built_db: Path) -> None:
    rows = query(
        built_db,
        "select order_id, line_id, amount, amount_local, fx_rate, cost, product_category"
        " from marts.fct_order_lines where order_id in ('O1', 'O4', 'O6')"
        " order by order_id, line_id",
    )
    assert rows == [
        ("O1", "1", 125.0, 100.0, 1.25, 80.0, "Hardware"),  # cost: 2 × unit_cost 40
        ("O1", "2", 25.0, 20.0, 1.25, None, "Software"),  # no cost known
        ("O4", "1", 100.0, 800.0, 0.125, 20.0, "Software"),  # line cost 160 CNY
        ("O6", None, 30.0, 30.0, 1.0, None, None),
    ]
    assert query(built_db, "select count(distinct order_line_key) from marts.fct_order_lines") == [
        (8,)
    ]


def test_dim_customer_has_one_current_row_per_customer(built_db: Path) -> None:
    rows = query(
        built_db,
        "select customer_id, name, segment, channel, channel_raw, first_purchase_date,"
        " first_won_date, is_current, valid_to from marts.dim_customer order by customer_id",
    )
    assert rows == [
        (
            "C1",
            "Acme",
            "SMB",
            "events",
            "Trade Show",
            D(2024, 1, 10),
            D(2024, 2, 20),
            True,
            None,
        ),
        (
            "C2",
            "华为",
            "Enterprise",
            "referral",
            "转介绍",
            D(2023, 12, 20),
            None,
            True,
            None,
        ),
        # the cancelled order of 2024-01-05 is not a purchase
        ("C3", "Initech", "SMB", "unknown", None, D(2024, 2, 1), None, True, None),
        # C4 only appears in orders: a row with null attributes
        ("C4", None, None, "unknown", None, D(2024, 3, 20), None, True, None),
        ("C5", "Prospect Ltd", "SMB", "web", "Web", None, None, True, None),
    ]


def test_opportunities_stages_and_probabilities(built_db: Path) -> None:
    rows = query(
        built_db,
        "select opportunity_id, stage, stage_order, max_stage_order_reached, probability,"
        " amount, is_won, is_closed, channel, team from marts.fct_opportunities"
        " order by opportunity_id",
    )
    assert rows == [
        ("OP1", "won", 6, 5, 1.0, 1250.0, True, True, "events", "Alpha"),
        ("OP2", "negotiation", 5, 5, 0.8, 625.0, False, False, "events", "Beta"),
        ("OP3", "unmapped", None, None, None, 100.0, False, False, "unknown", None),
        ("OP4", "lost", 7, 4, 0.0, 300.0, False, True, "events", "Alpha"),
        ("OP5", "proposal", 4, 4, 0.5, None, False, False, "web", None),
    ]


def test_opportunity_stages_from_history_else_derived(built_db: Path) -> None:
    rows = query(
        built_db,
        "select opportunity_id, stage_sequence, stage, days_in_stage, is_derived"
        " from marts.fct_opportunity_stages order by opportunity_id, stage_sequence",
    )
    assert rows == [
        ("OP1", 1, "lead", 15, False),
        ("OP1", 2, "needs_analysis", 12, False),
        ("OP1", 3, "negotiation", 19, False),
        ("OP1", 4, "won", None, False),
        ("OP2", 1, "negotiation", None, True),
        ("OP3", 1, "unmapped", None, True),
        ("OP4", 1, "lead", 9, False),
        ("OP4", 2, "proposal", 20, False),
        ("OP4", 3, "lost", None, False),
        ("OP5", 1, "proposal", None, True),
    ]


def test_lead_converted_date(built_db: Path) -> None:
    rows = query(
        built_db,
        "select lead_id, channel, channel_raw, team, converted_date"
        " from marts.fct_leads order by lead_id",
    )
    assert rows == [
        (
            "L1",
            "paid_search",
            "Google Ads",
            "Alpha",
            D(2024, 2, 20),
        ),  # won OP1 before 02-25
        ("L2", "outbound", "Cold Call", "Beta", None),  # its opportunity is not won
        ("L3", "other", "WeChat Mini Program", None, D(2024, 2, 5)),
        ("L4", "unknown", None, None, None),
    ]


def test_customer_periods(built_db: Path) -> None:
    rows = query(
        built_db,
        "select customer_id, month_start, revenue, purchases, orders,"
        " is_first_purchase_month, has_purchase, is_active_at_month_end"
        " from marts.fct_customer_periods order by customer_id, month_start",
    )
    assert rows == [
        ("C1", D(2024, 1, 1), 150.0, 1, 1, True, True, True),
        (
            "C1",
            D(2024, 2, 1),
            0.0,
            0,
            0,
            False,
            False,
            False,
        ),  # O2 cancelled; 01-10 > 30 days
        ("C1", D(2024, 3, 1), -60.0, 0, 1, False, False, False),  # the return
        ("C2", D(2023, 12, 1), 100.0, 1, 1, True, True, True),
        ("C2", D(2024, 1, 1), 0.0, 0, 0, False, False, False),
        ("C2", D(2024, 2, 1), 0.0, 0, 0, False, False, False),
        ("C2", D(2024, 3, 1), 0.0, 0, 0, False, False, False),
        ("C3", D(2024, 2, 1), 75.0, 1, 1, True, True, True),
        (
            "C3",
            D(2024, 3, 1),
            0.0,
            0,
            0,
            False,
            False,
            False,
        ),  # 02-01 .. 03-31 > 30 days
        ("C4", D(2024, 3, 1), 30.0, 1, 1, True, True, True),
    ]


def test_targets_spend_and_dates(built_db: Path) -> None:
    assert query(
        built_db,
        "select grain, level, level_value, period_end from marts.fct_targets order by grain",
    ) == [
        ("month", "company", "all", D(2024, 2, 1)),
        ("quarter", "channel", "web", D(2024, 4, 1)),
        ("year", "region", "EMEA", D(2025, 1, 1)),
    ]
    assert query(
        built_db,
        "select channel, amount from marts.fct_marketing_spend order by period_start",
    ) == [("paid_search", 625.0), ("events", 125.0)]
    assert query(
        built_db,
        "select min(date_day), max(date_day), count(*) from marts.dim_date",
    ) == [(D(2023, 12, 20), D(2024, 12, 31), 378)]
    assert query(
        built_db,
        "select day_of_week, is_weekend from marts.dim_date where date_day = '2024-03-02'",
    ) == [(6, True)]


SECOND_LOAD_ROWS: dict[str, list[Row]] = {
    # a later export changes an old order: O1's lines are replaced by one line of 200 EUR
    "order_lines": [
        {
            "order_id": "O1",
            "line_id": "1",
            "product_id": "P1",
            "quantity": 4.0,
            "unit_price": 50.0,
            "amount": 200.0,
        },
        {
            "order_id": "O8",
            "line_id": "1",
            "product_id": "P2",
            "quantity": 1.0,
            "unit_price": 40.0,
            "amount": 40.0,
        },
    ],
    "orders": [
        {
            "order_id": "O1",
            "order_date": D(2024, 1, 10),
            "customer_id": "C1",
            "status": "completed",
            "channel": "Website",
            "rep_id": "R1",
            "currency": "EUR",
        },
        {
            "order_id": "O8",
            "order_date": D(2024, 4, 2),
            "customer_id": "C5",
            "status": "completed",
            "currency": "USD",
        },
    ],
    # an earlier CNY rate: O4 (2023-12-20) now converts at 0.25
    "fx_rates": [{"date": D(2023, 12, 1), "currency": "CNY", "rate_to_reporting": 0.25}],
    # C3 moves to Mid-Market: its orders' segment changes, dim_customer gets a version
    "customers": [
        {
            "customer_id": "C3",
            "name": "Initech",
            "segment": "Mid-Market",
            "country": "US",
        }
    ],
    # OP2 is won: lead L2 (converted_opportunity_id OP2) converts on its close date;
    # OP3 is re-assigned to C8, a customer missing from the customer exports
    "opportunities": [
        {
            "opportunity_id": "OP2",
            "customer_id": "C2",
            "owner_rep_id": "R2",
            "stage": "赢单",
            "amount": 5000.0,
            "currency": "CNY",
            "created_at": D(2024, 1, 16),
            "close_date": D(2024, 4, 30),
            "channel": "展会",
        },
        {
            "opportunity_id": "OP3",
            "customer_id": "C8",
            "stage": "Mystery Stage",
            "amount": 100.0,
            "currency": "USD",
            "created_at": D(2024, 2, 2),
        },
    ],
    "leads": [{"lead_id": "L5", "created_at": D(2024, 4, 1), "channel": "Referral"}],
}

THIRD_LOAD_ROWS: dict[str, list[Row]] = {
    "orders": [
        # the return O3 was C1's: a re-export books it to C3
        {
            "order_id": "O3",
            "order_date": D(2024, 3, 5),
            "customer_id": "C3",
            "status": "returned",
            "rep_id": "R1",
            "region": "DACH",
            "currency": "EUR",
        },
        # C4's only order is cancelled: C4 has no purchase left
        {
            "order_id": "O6",
            "order_date": D(2024, 3, 20),
            "customer_id": "C4",
            "status": "cancelled",
            "channel": "Carrier Pigeon",
            "country": "FR",
        },
        # C5's only purchase goes to C6, a customer missing from the customer exports
        {
            "order_id": "O8",
            "order_date": D(2024, 4, 2),
            "customer_id": "C6",
            "status": "completed",
            "currency": "USD",
        },
        {
            "order_id": "O9",
            "order_date": D(2024, 4, 3),
            "customer_id": "C6",
            "status": "completed",
            "currency": "USD",
        },
    ],
    "order_lines": [
        {
            "order_id": "O9",
            "line_id": "1",
            "product_id": "P2",
            "quantity": 1.0,
            "unit_price": 10.0,
            "amount": 10.0,
        },
    ],
    # the won OP1 moves from C1 to C2 (C1 loses its first won date); OP3 goes back to C3,
    # nothing references C8 any more
    "opportunities": [
        {**RAW_ROWS["opportunities"][0], "customer_id": "C2"},  # OP1, re-assigned
        RAW_ROWS["opportunities"][2],  # OP3 as first loaded
    ],
    # L4 converts into C7, a customer missing from the customer exports
    "leads": [
        {
            "lead_id": "L4",
            "created_at": D(2024, 3, 1),
            "converted_at": D(2024, 4, 3),
            "converted_customer_id": "C7",
        },
    ],
    # OP4 went through negotiation before it was lost
    "opportunity_stage_history": [
        {
            "opportunity_id": "OP4",
            "stage": "Negotiation/Review",
            "entered_at": dt.datetime(2024, 2, 20),
        },
    ],
}

# a night without any order, line or lead exported: P2 gets a unit cost (the lines of P2
# without a cost of their own are costed), R2 moves to another team (its leads and orders)
FOURTH_LOAD_ROWS: dict[str, list[Row]] = {
    "products": [{**RAW_ROWS["products"][1], "unit_cost": 7.0}],
    "reps": [{**RAW_ROWS["reps"][1], "team": "Gamma"}],
}

INCREMENTAL_MODELS = (
    "intermediate.int_orders_netted",
    "intermediate.int_opportunity_stages_ordered",
    "marts.fct_order_lines",
    "marts.fct_orders",
    "marts.fct_leads",
    "marts.fct_customer_periods",
    "marts.fct_opportunities",
    "marts.fct_opportunity_stages",
    "marts.dim_customer",
)
#: columns that record how a table was built rather than what the data says: the customer
#: an order had before the incremental run that rebuilt it (null after a full refresh)
BUILD_HISTORY_COLUMNS = {"intermediate.int_orders_netted": "previous_customer_id"}


def snapshot_marts(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    def columns(model: str) -> str:
        skipped = BUILD_HISTORY_COLUMNS.get(model)
        return f"* exclude ({skipped})" if skipped else "*"

    return {
        model: query(db_path, f"select {columns(model)} from {model} order by all")
        for model in INCREMENTAL_MODELS
    }


def load(db_path: Path, rows: dict[str, list[Row]], loaded_at: dt.datetime) -> None:
    """Load rows as ingestion does: records replace those with the same natural key, and
    an order's lines replace all its lines."""
    keys = {
        "orders": "order_id",
        "customers": "customer_id",
        "opportunities": "opportunity_id",
        "leads": "lead_id",
        "products": "product_id",
        "reps": "rep_id",
    }
    with duckdb.connect(str(db_path)) as con:
        for table, table_rows in rows.items():
            key = "order_id" if table == "order_lines" else keys.get(table)
            if key is not None:
                ids = [row[key] for row in table_rows]
                con.execute(f"delete from raw.{table} where {key} in (select unnest(?))", [ids])
            insert_rows(con, table, table_rows, loaded_at)


def build_tonight(db_path: Path, work_dir: Path, rows: dict[str, list[Row]]) -> None:
    """The night's `dbt build` as the pipeline runs it: what the loaded raw tables feed."""
    dbt(db_path, work_dir, "build", "--select", *(f"source:raw.{table}+" for table in rows))


def night(
    db_path: Path, work_dir: Path, rows: dict[str, list[Row]], loaded_at: dt.datetime
) -> None:
    """A night on ``db_path``: ``rows`` loaded at ``loaded_at``, then tonight's build."""
    load(db_path, rows, loaded_at)
    build_tonight(db_path, work_dir, rows)


def assert_equals_full_refresh(db_path: Path, work_dir: Path, dbt_vars: str = VARS) -> None:
    """Every incremental model rebuilt from scratch (on a copy) gives the same rows."""
    full = work_dir / "full_refresh.duckdb"
    shutil.copy(db_path, full)
    names = [m.split(".")[1] for m in INCREMENTAL_MODELS]
    dbt(full, work_dir, "run", "--full-refresh", "--select", *names, dbt_vars=dbt_vars)
    assert snapshot_marts(db_path) == snapshot_marts(full)


def test_incremental_build_equals_full_refresh(built_db: Path, work_dir: Path) -> None:
    db_path = work_dir / "incremental.duckdb"
    shutil.copy(built_db, db_path)
    night(db_path, work_dir, SECOND_LOAD_ROWS, SECOND_LOAD)

    assert query(
        db_path,
        "select order_id, net_amount from marts.fct_orders"
        " where order_id in ('O1', 'O4', 'O8') order by 1",
    ) == [("O1", 250.0), ("O4", 200.0), ("O8", 40.0)]
    assert query(db_path, "select count(*) from marts.fct_order_lines where order_id = 'O1'") == [
        (1,)
    ]
    assert query(
        db_path,
        "select distinct segment from marts.fct_orders where customer_id = 'C3'",
    ) == [("Mid-Market",)]
    assert query(db_path, "select converted_date from marts.fct_leads where lead_id = 'L2'") == [
        (D(2024, 4, 30),)
    ]
    assert query(
        db_path,
        "select segment, valid_from, valid_to, is_current from marts.dim_customer"
        " where customer_id = 'C3' order by version_number",
    ) == [
        ("SMB", dt.datetime(1900, 1, 1), SECOND_LOAD, False),
        ("Mid-Market", SECOND_LOAD, None, True),
    ]
    # OP2 is won: a second derived stage, entered when the export showed it
    assert query(
        db_path,
        "select stage_sequence, stage, entered_at, exited_at from marts.fct_opportunity_stages"
        " where opportunity_id = 'OP2' order by stage_sequence",
    ) == [
        (1, "negotiation", dt.datetime(2024, 1, 16), SECOND_LOAD),
        (2, "won", SECOND_LOAD, None),
    ]
    assert query(
        db_path,
        "select name, channel, is_current from marts.dim_customer where customer_id = 'C8'",
    ) == [(None, "unknown", True)]  # referenced by OP3 only
    # O8 (2024-04-02) opens April: every customer gets an April row; C5 buys for the first time
    assert query(
        db_path,
        "select customer_id, revenue, is_first_purchase_month, is_active_at_month_end"
        " from marts.fct_customer_periods where month_start = '2024-04-01' order by 1",
    ) == [
        ("C1", 0.0, False, False),
        ("C2", 0.0, False, False),
        ("C3", 0.0, False, False),
        ("C4", 0.0, False, False),
        ("C5", 40.0, True, True),
    ]
    assert_equals_full_refresh(db_path, work_dir)

    # a night within April: the customer marts rebuild only the customers it touches
    night(db_path, work_dir, THIRD_LOAD_ROWS, THIRD_LOAD)

    assert query(
        db_path,
        "select customer_id, month_start, revenue, purchases, orders, has_purchase,"
        " last_purchase_date, is_active_at_month_end from marts.fct_customer_periods"
        " where customer_id in ('C1', 'C3', 'C4', 'C5', 'C6') and month_start >= '2024-03-01'"
        " order by 1, 2",
    ) == [
        ("C1", D(2024, 3, 1), 0.0, 0, 0, False, D(2024, 1, 10), False),  # the return went to C3
        ("C1", D(2024, 4, 1), 0.0, 0, 0, False, D(2024, 1, 10), False),
        ("C3", D(2024, 3, 1), -60.0, 0, 1, False, D(2024, 2, 1), False),
        ("C3", D(2024, 4, 1), 0.0, 0, 0, False, D(2024, 2, 1), False),
        # C4 (its only purchase cancelled) and C5 (its only purchase moved): no months left
        ("C6", D(2024, 4, 1), 50.0, 2, 2, True, D(2024, 4, 3), True),  # 04-03 .. 04-30
    ]
    assert query(
        db_path,
        "select customer_id, name, channel, first_purchase_date, first_won_date"
        " from marts.dim_customer where customer_id not in ('C3') and is_current order by 1",
    ) == [
        ("C1", "Acme", "events", D(2024, 1, 10), None),  # OP1 moved to C2
        ("C2", "华为", "referral", D(2023, 12, 20), D(2024, 2, 20)),
        ("C4", None, "unknown", None, None),  # still referenced by the cancelled O6
        ("C5", "Prospect Ltd", "web", None, None),  # O8 moved to C6
        ("C6", None, "unknown", D(2024, 4, 2), None),
        ("C7", None, "unknown", None, None),  # referenced by the lead L4 only
        # C8: OP3, its only reference, went back to C3
    ]
    assert query(
        db_path,
        "select customer_id, channel, segment from marts.fct_opportunities"
        " where opportunity_id = 'OP1'",
    ) == [("C2", "referral", "Enterprise")]
    assert query(
        db_path,
        "select stage, days_in_stage from marts.fct_opportunity_stages"
        " where opportunity_id = 'OP4' order by stage_sequence",
    ) == [("lead", 9), ("proposal", 10), ("negotiation", 10), ("lost", None)]
    assert query(
        db_path,
        "select max_stage_order_reached from marts.fct_opportunities where opportunity_id = 'OP4'",
    ) == [(5,)]
    assert_equals_full_refresh(db_path, work_dir)

    # only a product and a rep change: the orders and leads are found through them
    night(db_path, work_dir, FOURTH_LOAD_ROWS, FOURTH_LOAD)
    assert query(db_path, "select cost from marts.fct_order_lines where order_id = 'O9'") == [
        (7.0,)
    ]
    assert query(db_path, "select team from marts.fct_leads where lead_id = 'L2'") == [("Gamma",)]
    assert_equals_full_refresh(db_path, work_dir)

    # another churn window: the activity flags of every month are recomputed
    window_60 = "{reporting_currency: USD, churn_window_days: 60}"
    dbt(db_path, work_dir, "run", "--select", "fct_customer_periods", dbt_vars=window_60)
    assert query(
        db_path,
        "select count(*) from marts.fct_customer_periods"
        " where customer_id = 'C1' and month_start = '2024-02-01' and is_active_at_month_end",
    ) == [(1,)]  # 01-10 .. 02-29: 50 days
    assert_equals_full_refresh(db_path, work_dir, dbt_vars=window_60)


def _lone_order(order_date: dt.date) -> dict[str, list[Row]]:
    """O9, the only order of C9 (30 USD), dated ``order_date``."""
    return {
        "orders": [
            {
                "order_id": "O9",
                "order_date": order_date,
                "customer_id": "C9",
                "status": "completed",
                "currency": "USD",
            }
        ],
        "order_lines": [
            {
                "order_id": "O9",
                "line_id": "1",
                "product_id": "P2",
                "quantity": 1.0,
                "unit_price": 30.0,
                "amount": 30.0,
            }
        ],
    }


def test_customer_periods_when_the_data_s_last_month_jumps_and_moves_back(
    built_db: Path, work_dir: Path
) -> None:
    """A night whose only new order is in June, three months after the data's last month
    (March): every other customer gets April, May and June appended (not rebuilt); then
    the order is re-dated to March and every customer loses those months again."""
    db_path = work_dir / "month_jump.duckdb"
    shutil.copy(built_db, db_path)
    months = (
        "select month_start, count(*) from marts.fct_customer_periods"
        " where month_start >= '2024-03-01' group by 1 order by 1"
    )
    customers = query(db_path, "select count(distinct customer_id) from marts.fct_customer_periods")
    assert query(db_path, months) == [(D(2024, 3, 1), customers[0][0])]

    night(db_path, work_dir, _lone_order(D(2024, 6, 5)), SECOND_LOAD)
    n = customers[0][0]
    assert query(db_path, months) == [
        (D(2024, 3, 1), n),
        (D(2024, 4, 1), n),
        (D(2024, 5, 1), n),
        (D(2024, 6, 1), n + 1),  # C9's first month
    ]
    # C1's last purchase is O1 (2024-01-10): no revenue, not active (30-day window)
    assert query(
        db_path,
        "select month_start, month_end, revenue, purchases, orders, is_first_purchase_month,"
        " has_purchase, last_purchase_date, is_active_at_month_end"
        " from marts.fct_customer_periods where customer_id = 'C1'"
        " and month_start >= '2024-04-01' order by 2",
    ) == [
        (D(2024, 4, 1), D(2024, 4, 30), 0.0, 0, 0, False, False, D(2024, 1, 10), False),
        (D(2024, 5, 1), D(2024, 5, 31), 0.0, 0, 0, False, False, D(2024, 1, 10), False),
        (D(2024, 6, 1), D(2024, 6, 30), 0.0, 0, 0, False, False, D(2024, 1, 10), False),
    ]
    assert query(
        db_path,
        "select month_start, revenue, is_first_purchase_month, is_active_at_month_end"
        " from marts.fct_customer_periods where customer_id = 'C9'",
    ) == [(D(2024, 6, 1), 30.0, True, True)]  # 06-05 .. 06-30: 25 days
    assert_equals_full_refresh(db_path, work_dir)

    night(db_path, work_dir, _lone_order(D(2024, 3, 20)), THIRD_LOAD)
    assert query(db_path, months) == [(D(2024, 3, 1), n + 1)]
    assert query(
        db_path,
        "select month_start, revenue, is_active_at_month_end from marts.fct_customer_periods"
        " where customer_id = 'C9'",
    ) == [(D(2024, 3, 1), 30.0, True)]  # 03-20 .. 03-31
    assert_equals_full_refresh(db_path, work_dir)


def test_incremental_key_test_reads_the_rows_built_tonight(built_db: Path, work_dir: Path) -> None:
    """unique_incremental looks the keys of tonight's rows up in the whole table: a new row
    that repeats an old key fails it (a `where` on tonight's rows alone would miss it)."""
    db_path = work_dir / "duplicate.duckdb"
    shutil.copy(built_db, db_path)
    night(db_path, work_dir, SECOND_LOAD_ROWS, SECOND_LOAD)
    test = ["test", "--select", "unique_incremental_fct_orders_order_id"]
    assert dbt_result(db_path, work_dir, *test).success
    # newer than the watermark recorded at the start of the build: the orders rebuilt
    # tonight (O1 and O8 loaded, O4 at the new CNY rate, O5 and O7 of the re-exported C3)
    assert query(
        db_path,
        "select order_id from marts.fct_orders where _loaded_at > ("
        "select loaded_at from intermediate.incremental_watermarks"
        " where model_name = 'fct_orders') order by 1",
    ) == [("O1",), ("O4",), ("O5",), ("O7",), ("O8",)]
    with duckdb.connect(str(db_path)) as con:
        # a row built tonight repeating O6, an order of the first load
        con.execute(
            "insert into marts.fct_orders select * replace (?::timestamp as _loaded_at)"
            " from marts.fct_orders where order_id = 'O6'",
            [SECOND_LOAD],
        )
    assert not dbt_result(db_path, work_dir, *test).success


def dbt_test_results(db_path: Path, work_dir: Path, *args: str) -> list[tuple[str, int]]:
    """Status and failing rows of each test `dbt test <args>` ran."""
    result = dbt_result(db_path, work_dir, "test", *args)
    assert result.exception is None, result.exception
    return sorted(
        (str(r.status), int(r.failures or 0))
        for r in result.result.results
        if r.node.resource_type == "test"
    )


def test_customer_periods_key_test_reads_the_customers_rebuilt_tonight(
    built_db: Path, work_dir: Path
) -> None:
    """fct_customer_periods' unique_combination reads the customers its latest run rebuilt
    (recorded by its post-hook record_rebuilt_keys): a duplicate month among them fails
    it; without a record (first build, full refresh) it reads every customer."""
    db_path = work_dir / "periods_duplicate.duckdb"
    shutil.copy(built_db, db_path)
    test = [
        "--select",
        "unique_combination_fct_customer_periods_customer_id__month_start__customer_id",
    ]
    record = "intermediate.fct_customer_periods__rebuilt_keys"
    exists = (
        "select count(*) from information_schema.tables"
        " where table_name = 'fct_customer_periods__rebuilt_keys'"
    )
    assert query(db_path, exists) == [(0,)]  # the first build: no record
    night(db_path, work_dir, SECOND_LOAD_ROWS, SECOND_LOAD)
    # the data's last month moved to April: every customer
    rebuilt = query(db_path, f"select customer_id from {record} order by 1")
    assert rebuilt == [("C1",), ("C2",), ("C3",), ("C4",), ("C5",)]
    # a night within April: the customers it touches
    night(db_path, work_dir, THIRD_LOAD_ROWS, THIRD_LOAD)
    rebuilt = query(db_path, f"select customer_id from {record} order by 1")
    assert rebuilt == [("C1",), ("C3",), ("C4",), ("C5",), ("C6",)]  # C2 kept
    assert dbt_test_results(db_path, work_dir, *test) == [("pass", 0)]

    def duplicate_a_month(customer_id: str) -> None:
        with duckdb.connect(str(db_path)) as con:
            con.execute(
                "insert into marts.fct_customer_periods select * from marts.fct_customer_periods"
                " where customer_id = ? order by month_start limit 1",
                [customer_id],
            )

    # a customer the night did not rebuild: its rows are an earlier tested run's, not read
    duplicate_a_month("C2")
    assert dbt_test_results(db_path, work_dir, *test) == [("pass", 0)]
    duplicate_a_month("C1")
    assert dbt_test_results(db_path, work_dir, *test) == [("fail", 1)]
    # a build that is not incremental (here a full refresh) leaves no record: every
    # customer is read
    with duckdb.connect(str(db_path)) as con:
        con.execute("delete from marts.fct_customer_periods where customer_id = 'C1'")
    dbt(db_path, work_dir, "run", "--full-refresh", "--select", "fct_customer_periods")
    assert query(db_path, exists) == [(0,)]
    duplicate_a_month("C2")
    assert dbt_test_results(db_path, work_dir, *test) == [("fail", 1)]


def test_order_lines_relationship_reads_the_lines_built_tonight(
    built_db: Path, work_dir: Path
) -> None:
    """relationships_incremental (fct_order_lines.order_id to fct_orders, a warning) looks
    the orders of tonight's lines up in the whole fct_orders: a line built tonight without
    its order warns. Older lines are not read (they were when built; the hygiene check
    order_lines_without_order reports every such raw line each run), unless the parent
    has no recorded watermark (its table was new): then every line is read."""
    db_path = work_dir / "lines_orphan.duckdb"
    shutil.copy(built_db, db_path)
    night(db_path, work_dir, SECOND_LOAD_ROWS, SECOND_LOAD)
    test = [
        "--select",
        "relationships_incremental_fct_order_lines_order_id__order_id__ref_fct_orders_",
    ]
    assert dbt_test_results(db_path, work_dir, *test) == [("pass", 0)]

    def orphan_line(order_id: str, loaded_at: dt.datetime) -> None:
        with duckdb.connect(str(db_path)) as con:
            con.execute(
                "insert into marts.fct_order_lines select * replace ("
                " ? as order_id, ? as order_line_key, ?::timestamp as _loaded_at)"
                " from marts.fct_order_lines limit 1",
                [order_id, order_id + "|1", loaded_at],
            )

    orphan_line("O-OLD", FIRST_LOAD)  # an older line: not read tonight
    assert dbt_test_results(db_path, work_dir, *test) == [("pass", 0)]
    orphan_line("O-NEW", SECOND_LOAD)  # a line of tonight
    assert dbt_test_results(db_path, work_dir, *test) == [("warn", 1)]
    with duckdb.connect(str(db_path)) as con:
        con.execute(
            "delete from intermediate.incremental_watermarks where model_name = 'fct_orders'"
        )
    assert dbt_test_results(db_path, work_dir, *test) == [("warn", 2)]


# A night of the order cases the KPIs' per-order line sums (kpis.inputs.ORDER_SUMS_SQL)
# must get right: a line without its order, an order without lines, lines without an
# amount or a cost next to lines with both, a guest order, a cancelled order
ORDER_SUMS_NIGHT: dict[str, list[Row]] = {
    "orders": [
        {"order_id": "O10", "order_date": D(2024, 3, 5), "customer_id": "C1",
         "status": "completed", "rep_id": "R1", "currency": "USD"},  # no lines
        {"order_id": "O11", "order_date": D(2024, 3, 5), "customer_id": "C1",
         "status": "completed", "rep_id": "R2", "currency": "USD"},
        {"order_id": "O12", "order_date": D(2024, 2, 1), "customer_id": None,
         "status": "completed", "currency": "USD"},  # a guest order
        {"order_id": "O13", "order_date": D(2024, 3, 5), "customer_id": "C3",
         "status": "cancelled", "currency": "USD"},
    ],
    "order_lines": [
        # P1 is costed by its unit cost (40), P2 has no cost
        {"order_id": "O11", "line_id": "1", "product_id": "P1", "quantity": 1.0, "amount": 60.0},
        {"order_id": "O11", "line_id": "2", "product_id": "P2", "quantity": 1.0, "amount": 25.0},
        {"order_id": "O11", "line_id": "3", "product_id": "P1", "quantity": 2.0},  # no amount
        {"order_id": "O12", "line_id": "1", "product_id": "P2", "quantity": 1.0},  # no amount
        {"order_id": "O12", "line_id": "2", "product_id": "P1", "quantity": 1.0, "amount": 15.0,
         "cost": 20.0},
        {"order_id": "O13", "line_id": "1", "product_id": "P1", "quantity": 1.0, "amount": 90.0},
        # the header of O99 was never exported
        {"order_id": "O99", "line_id": "1", "product_id": "P2", "quantity": 1.0, "amount": 70.0},
    ],
}


def assert_order_sums_equal_line_sums(db_path: Path) -> None:
    """The line totals summed from fct_orders' per-order sums (what the KPI step reads)
    are those summed from fct_order_lines, as of dates before, within and after the
    data."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        for as_of in (D(2024, 1, 31), D(2024, 3, 5), D(2024, 12, 31)):
            from_orders = load_line_totals(con, as_of)
            from_lines = load_line_totals(con, as_of, order_sums=False)
            for name in ORDER_SUMS_SQL:
                assert_frame_equal(
                    getattr(from_orders, name),
                    getattr(from_lines, name),
                    check_row_order=False,
                    check_exact=True,
                ), f"{name} as of {as_of}"


def test_kpi_line_totals_from_order_sums_equal_those_of_the_lines(
    built_db: Path, work_dir: Path
) -> None:
    db_path = work_dir / "order_sums.duckdb"
    shutil.copy(built_db, db_path)
    assert_order_sums_equal_line_sums(db_path)

    night(db_path, work_dir, ORDER_SUMS_NIGHT, SECOND_LOAD)
    # the cases are in the marts: the line without its order is undated, O10 has no line
    assert query(
        db_path,
        "select order_date, customer_id, is_cancelled from marts.fct_order_lines"
        " where order_id = 'O99'",
    ) == [(None, None, False)]
    assert query(
        db_path,
        "select order_id, net_amount, cost_amount, cost_margin, amount_without_cost,"
        " line_count from marts.fct_orders where order_id in ('O10', 'O11', 'O12', 'O13')"
        " order by 1",
    ) == [
        ("O10", 0.0, None, None, None, 0),
        ("O11", 85.0, 120.0, 20.0, 25.0, 3),  # 60 - 40; 25 without cost; 80 without amount
        ("O12", 15.0, 20.0, -5.0, None, 2),
        ("O13", 90.0, 40.0, 50.0, None, 1),
    ]
    with duckdb.connect(str(db_path), read_only=True) as con:
        margins = load_line_totals(con, D(2024, 3, 5)).margin_by_customer
    # 5 Mar: C1's O11 and the return O3 (-1 P1 at 40 EUR x 1.5, cost 40: -60, margin
    # -20); O10 has no lines, O13 is cancelled. 1 Feb: C3's O5 and the guest order O12
    assert sorted(
        margins.filter(pl.col("order_date").is_in([D(2024, 2, 1), D(2024, 3, 5)])).rows(),
        key=lambda row: (str(row[0]), row[1]),
    ) == [
        ("C1", D(2024, 3, 5), 25.0, 0.0, 25.0),
        ("C3", D(2024, 2, 1), 75.0, 0.0, 75.0),  # O5: P2 without cost
        (None, D(2024, 2, 1), 15.0, -5.0, 0.0),
    ]
    assert_order_sums_equal_line_sums(db_path)
    assert_equals_full_refresh(db_path, work_dir)
    assert_order_sums_equal_line_sums(work_dir / "full_refresh.duckdb")


def test_order_sum_columns_added_to_a_built_table_are_filled_on_every_row(
    built_db: Path, work_dir: Path
) -> None:
    """A warehouse whose order tables were built before cost_margin and
    amount_without_cost existed: the next night rebuilds every order
    (meta.rebuild_without_columns), not only tonight's, whose columns would otherwise
    be appended null to the rows already there."""
    db_path = work_dir / "order_sums_upgrade.duckdb"
    shutil.copy(built_db, db_path)
    with duckdb.connect(str(db_path)) as con:
        for table in ("intermediate.int_orders_netted", "marts.fct_orders"):
            for column in ("cost_margin", "amount_without_cost"):
                con.execute(f"alter table {table} drop column {column}")
    night(db_path, work_dir, ORDER_SUMS_NIGHT, SECOND_LOAD)
    # O1, not loaded tonight, has its sums: 100 EUR x 1.25 - 2 x 40 (P1's unit cost),
    # and 20 EUR x 1.25 of P2 without a cost
    assert query(
        db_path,
        "select cost_margin, amount_without_cost from marts.fct_orders where order_id = 'O1'",
    ) == [(45.0, 25.0)]
    assert_equals_full_refresh(db_path, work_dir)
