"""Ingestion of invoices, payments and activities: every row loaded or quarantined with
its reason (an invoice due before it was issued), re-exports deduplicated by natural key,
activity types mapped from English and Chinese labels."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.ingest_helpers import load, rows, write

D = dt.date

INVOICES = {
    "name": "erp_invoices",
    "entity": "invoices",
    "path": "ar/invoices_*.csv",
    "columns": {
        "invoice_id": "Invoice No",
        "invoice_date": "Invoice Date",
        "due_date": "Due Date",
        "customer_id": "Customer",
        "amount": "Amount",
        "status": "Status",
    },
}
PAYMENTS = {
    "name": "erp_payments",
    "entity": "payments",
    "path": "ar/payments_*.csv",
    "columns": {
        "payment_id": "Receipt No",
        "payment_date": "Date",
        "invoice_id": "Invoice No",
        "customer_id": "Customer",
        "amount": "Amount",
    },
}
ACTIVITIES = {
    "name": "crm_activities",
    "entity": "activities",
    "path": "crm/activities_*.csv",
    "columns": {
        "activity_id": "ID",
        "occurred_at": "When",
        "type": "Kind",
        "rep_id": "Rep",
        "customer_id": "Customer",
    },
}


def manifest(con):  # type: ignore[no-untyped-def]
    return rows(
        con,
        "select source, rows_in, rows_loaded, rows_quarantined from meta.load_manifest "
        "order by loaded_at, source, file",
    )


def test_invoice_due_before_it_was_issued_is_quarantined(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/ar/invoices_2024-03.csv",
        "Invoice No,Invoice Date,Due Date,Customer,Amount,Status\n"
        "I1,2024-03-01,2024-03-31,C1,\"1,000.00\",Open\n"
        "I2,2024-03-05,2024-03-04,C1,500,open\n"  # due the day before it was issued
        "I3,2024-03-06,,C2,250,已作废\n"  # no due date: default terms in dbt; void
        "I4,2024-03-07,2024-03-07,C2,¥80,Paid\n",  # due the day it is issued: fine
    )
    con, report = load(tmp_path, [INVOICES])
    assert rows(con, "select invoice_id, due_date, amount, status from raw.invoices order by 1") == [
        ("I1", D(2024, 3, 31), 1000.0, "open"),
        ("I3", None, 250.0, "void"),
        ("I4", D(2024, 3, 7), 80.0, "paid"),
    ]
    assert rows(con, "select row_number, field, reason from meta.quarantine") == [
        (2, "due_date", "due_date: due_date 2024-03-04 is before invoice_date 2024-03-05")
    ]
    assert manifest(con) == [("erp_invoices", 4, 3, 1)]  # rows_in = loaded + quarantined
    assert [(f.rows_in, f.rows_loaded, f.rows_quarantined) for f in report.files] == [(4, 3, 1)]


def test_payment_re_export_is_deduplicated_by_payment_id(tmp_path: Path) -> None:
    first = (
        "Receipt No,Date,Invoice No,Customer,Amount\n"
        "P1,2024-03-10,I1,C1,400\n"
        "P2,2024-03-12,,C1,300\n"
        "P2,2024-03-12,,C1,300\n"  # the same receipt twice in one export
        "P3,2024-03-15,I9,C1,-50\n"  # a refund, for an invoice nobody exported
    )
    write(tmp_path / "landing/ar/payments_2024-03-15.csv", first)
    con, _ = load(tmp_path, [PAYMENTS])
    assert manifest(con) == [("erp_payments", 4, 3, 1)]
    assert rows(con, "select reason from meta.quarantine") == [("payment_id: duplicate of row 2",)]
    # the same file again: nothing changes
    load(tmp_path, [PAYMENTS], run_id="r2", con=con)
    assert manifest(con) == [("erp_payments", 4, 3, 1)]
    # a later export repeats P1 and P2 (P2 corrected to 350) and adds P4: updated by key
    write(
        tmp_path / "landing/ar/payments_2024-03-31.csv",
        "Receipt No,Date,Invoice No,Customer,Amount\n"
        "P1,2024-03-10,I1,C1,400\n"
        "P2,2024-03-12,,C1,350\n"
        "P4,2024-03-30,I1,C1,600\n",
    )
    load(tmp_path, [PAYMENTS], run_id="r3", con=con)
    assert rows(con, "select payment_id, amount, invoice_id from raw.payments order by 1") == [
        ("P1", 400.0, "I1"),
        ("P2", 350.0, None),
        ("P3", -50.0, "I9"),
        ("P4", 600.0, "I1"),
    ]
    assert manifest(con)[-1] == ("erp_payments", 3, 3, 0)


def test_activity_types_map_english_and_chinese_labels(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/crm/activities_1.csv",
        "ID,When,Kind,Rep,Customer\n"
        "A1,2024-03-01 09:30,电话,R1,C1\n"
        "A2,2024/3/2 14:00,上门拜访,R1,C1\n"
        "A3,2024年3月3日,拜访,R2,C2\n"
        "A4,3/4/2024 10:00 AM,Email,R2,C2\n"
        "A5,2024-03-05,会议,R1,\n"
        "A6,2024-03-06,微信,R1,C1\n"
        "A7,2024-03-07,演示,R2,C2\n"
        "A8,2024-03-08,任务,R2,C2\n"
        "A9,2024-03-09,Log a Call,R2,C2\n"
        "A10,2024-03-10,carrier pigeon,R2,C2\n",  # unknown type: quarantined
        encoding="gbk",
    )
    source = dict(ACTIVITIES, encoding="gbk")
    con, _ = load(tmp_path, [source])
    assert rows(con, "select activity_id, type, occurred_at from raw.activities order by occurred_at") == [
        ("A1", "call", dt.datetime(2024, 3, 1, 9, 30)),
        ("A2", "visit", dt.datetime(2024, 3, 2, 14, 0)),
        ("A3", "visit", dt.datetime(2024, 3, 3)),
        ("A4", "email", dt.datetime(2024, 3, 4, 10, 0)),
        ("A5", "meeting", dt.datetime(2024, 3, 5)),
        ("A6", "other", dt.datetime(2024, 3, 6)),
        ("A7", "demo", dt.datetime(2024, 3, 7)),
        ("A8", "task", dt.datetime(2024, 3, 8)),
        ("A9", "call", dt.datetime(2024, 3, 9)),
    ]
    assert rows(con, "select row_number, field from meta.quarantine") == [(10, "type")]
    assert manifest(con) == [("crm_activities", 10, 9, 1)]


def test_order_status_synonyms_are_not_invoice_status_synonyms(tmp_path: Path) -> None:
    # `status` is an enum of orders and of invoices: "void" cancels an order but voids
    # an invoice, "paid" completes an order but marks an invoice paid
    import duckdb

    from salesdw.ingest.parsers import enum_expr
    from schemas.entities import accepted_values

    con = duckdb.connect()
    sql = "select {}".format
    assert con.execute(
        sql(enum_expr("'void'", "status", accepted_values("orders", "status"), entity="orders"))
    ).fetchall() == [("cancelled",)]
    assert con.execute(
        sql(enum_expr("'void'", "status", accepted_values("invoices", "status"), entity="invoices"))
    ).fetchall() == [("void",)]
    assert con.execute(
        sql(enum_expr("'paid'", "status", accepted_values("orders", "status"), entity="orders"))
    ).fetchall() == [("completed",)]
