"""dbt models of invoices, payments and activities (stg → int → fct_invoices,
fct_payments, fct_activities), then the KPI step on the built marts. One `dbt build`
per module; expected values worked out by hand. EUR = 1.25 USD from 2024-01-01."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from test_dbt_models import dbt, insert_rows, query

from kpis.compute import compute_all
from salesdw.ingest.raw_tables import create_raw_tables
from schemas.config import KpiSettings

pytestmark = pytest.mark.xdist_group("dbt")

D = dt.date
LOADED = dt.datetime(2024, 4, 1, 2, 0)

RAW = {
    "reps": [{"rep_id": "R1", "team": "Alpha", "region": "EMEA"}],
    "customers": [{"customer_id": "C1", "segment": "SMB", "owner_rep_id": "R1"}],
    "fx_rates": [{"date": D(2024, 1, 1), "currency": "EUR", "rate_to_reporting": 1.25}],
    "invoices": [
        # no due date: 30 days' terms → 03-01; 100 EUR = 125 USD; no rep: the owner R1
        {"invoice_id": "I1", "invoice_date": D(2024, 1, 31), "customer_id": "C1",
         "amount": 100.0, "currency": "EUR"},
        {"invoice_id": "I2", "invoice_date": D(2024, 2, 10), "due_date": D(2024, 2, 20),
         "customer_id": "C1", "amount": 50.0, "status": "void"},
        {"invoice_id": "I3", "invoice_date": D(2024, 2, 15), "due_date": D(2024, 3, 15),
         "customer_id": "C1", "amount": 200.0, "rep_id": "R1"},
    ],
    "payments": [
        {"payment_id": "P1", "payment_date": D(2024, 2, 5), "invoice_id": "I1",
         "amount": 80.0, "currency": "EUR"},  # 100 USD, customer from the invoice
        {"payment_id": "P4", "payment_date": D(2024, 2, 12), "invoice_id": "I2",
         "amount": 5.0},  # for a void invoice: the customer's money
        {"payment_id": "P2", "payment_date": D(2024, 3, 10), "invoice_id": "X9",
         "customer_id": "C1", "amount": 100.0},  # an invoice nobody exported
        {"payment_id": "P3", "payment_date": D(2024, 3, 20), "invoice_id": "I3",
         "amount": -10.0},  # a refund on I3, which was paid nothing directly
    ],
    "activities": [
        {"activity_id": "A1", "occurred_at": dt.datetime(2024, 3, 1, 9, 30), "type": "visit",
         "rep_id": "R1", "customer_id": "C1"},
    ],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work_dir = tmp_path_factory.mktemp("dbt_receivables")
    db_path = work_dir / "sales.duckdb"
    with duckdb.connect(str(db_path)) as con:
        create_raw_tables(con)
        for table, rows in RAW.items():
            insert_rows(con, table, rows, LOADED)
    dbt(db_path, work_dir, "build",
        dbt_vars="{reporting_currency: USD, churn_window_days: 365, payment_terms_days: 30}")
    yield db_path


def test_fct_invoices(built: Path) -> None:
    rows = query(
        built,
        "select invoice_id, due_date, rep_id, team, segment, is_void, amount, paid_amount, "
        "open_amount, paid_in_full_date, days_late from marts.fct_invoices order by 1",
    )
    # the customer's money: P4 5 (its invoice is void) + P2 100 (unknown invoice) − P3 10
    # (a refund beyond what I3 was paid directly) = 95, oldest due first: I1 (due 03-01)
    # the 25 it owes after P1's 100, I3 (due 03-15) the other 70
    assert rows == [
        ("I1", D(2024, 3, 1), "R1", "Alpha", "SMB", False, 125.0, 125.0, 0.0, D(2024, 3, 10), 9),
        ("I2", D(2024, 2, 20), "R1", "Alpha", "SMB", True, 50.0, None, None, None, None),
        # open: the latest data date 03-20 − 03-15
        ("I3", D(2024, 3, 15), "R1", "Alpha", "SMB", False, 200.0, 70.0, 130.0, None, 5),
    ]


def test_fct_payments(built: Path) -> None:
    rows = query(
        built,
        "select payment_id, customer_id, is_invoice_known, applied_invoice_id, applied_to, "
        "amount, is_refund, rep_id from marts.fct_payments order by 1",
    )
    assert rows == [
        ("P1", "C1", True, "I1", "invoice", 100.0, False, "R1"),
        ("P2", "C1", False, None, "customer", 100.0, False, "R1"),
        ("P3", "C1", True, "I3", "invoice", -10.0, True, "R1"),
        ("P4", "C1", False, None, "customer", 5.0, False, "R1"),
    ]


def test_fct_activities(built: Path) -> None:
    assert query(
        built, "select activity_id, activity_date, type, rep_id, team, region from marts.fct_activities"
    ) == [("A1", D(2024, 3, 1), "visit", "R1", "Alpha", "EMEA")]


def test_kpis_on_the_built_marts(built: Path) -> None:
    with duckdb.connect(str(built)) as con:
        written = compute_all(con, D(2024, 3, 31), KpiSettings())
        assert written["kpi.receivables_ageing"] == 1
        # I3 owes 130, 16 days past due on 03-31
        assert con.execute(
            'select customer_id, rep_id, current, "1_30", open_amount, unapplied_credit '
            "from kpi.receivables_ageing"
        ).fetchall() == [("C1", "R1", 0.0, 130.0, 130.0, 0.0)]
        # due in March: I1 125 (paid 125) + I3 200 (paid 70) → 195 / 325
        assert con.execute(
            "select numerator, denominator from kpi.kpi_values where kpi = 'collection_rate' "
            "and grain = 'month' and period_start = '2024-03-01' and dimension = 'rep' "
            "and dimension_value = 'R1'"
        ).fetchall() == [(195.0, 325.0)]
        assert con.execute(
            "select value from kpi.kpi_values where kpi = 'activities' and grain = 'month' "
            "and period_start = '2024-03-01' and dimension = 'type' and dimension_value = 'visit'"
        ).fetchall() == [(1.0,)]
