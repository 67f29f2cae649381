"""The receivables and activity presets read small files shaped like the real exports
(headers as the preset names them; Fxiaoke in GBK with Chinese labels)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.ingest_helpers import load, rows, write

D = dt.date


def test_fxiaoke_payments_invoices_and_activities_in_gbk(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/fx/开票_2024.csv",
        "开票编号,开票日期,开票金额,客户名称,销售订单编号,应收款日期,负责人,状态\n"
        "KP-1,2024年3月1日,\"￥12,000.00\",华为,SO-9,2024年3月31日,张伟,已开票\n"
        "KP-2,2024/3/2,500,腾讯,,,李娜,作废\n",
        encoding="gbk",
    )
    write(
        tmp_path / "landing/fx/回款_2024.csv",
        "回款编号,回款日期,回款金额,客户名称,销售订单编号,开票编号,回款方式\n"
        "HK-1,2024-03-20,\"8,000.00\",华为,SO-9,KP-1,银行转账\n"
        "HK-2,2024-03-25,-200,华为,,,银行转账\n",
        encoding="gbk",
    )
    write(
        tmp_path / "landing/fx/跟进记录_2024.csv",
        "跟进记录编号,跟进时间,跟进方式,跟进人,客户名称,商机名称,线索编号,跟进内容\n"
        "GJ-1,2024-03-02 10:00,上门拜访,张伟,华为,,,介绍新品\n"
        "GJ-2,2024-03-03 15:30,电话,张伟,华为,,,确认需求\n"
        "GJ-3,2024-03-04 09:00,微信,李娜,,,XS-1,\n",
        encoding="gbk",
    )
    sources = [
        {"name": f"fx_{e}", "entity": e, "preset": "fxiaoke", "encoding": "gbk", "path": p}
        for e, p in (("invoices", "fx/开票_*.csv"), ("payments", "fx/回款_*.csv"),
                     ("activities", "fx/跟进记录_*.csv"))
    ]
    con, report = load(tmp_path, sources)
    assert [(f.rows_in, f.rows_loaded, f.rows_quarantined) for f in report.files] == [
        (2, 2, 0), (2, 2, 0), (3, 3, 0)]
    assert rows(con, "select invoice_id, invoice_date, amount, customer_id, due_date, status "
                     "from raw.invoices order by 1") == [
        ("KP-1", D(2024, 3, 1), 12000.0, "华为", D(2024, 3, 31), "open"),
        ("KP-2", D(2024, 3, 2), 500.0, "腾讯", None, "void"),
    ]
    assert rows(con, "select payment_id, amount, invoice_id, method from raw.payments "
                     "order by 1") == [
        ("HK-1", 8000.0, "KP-1", "银行转账"),
        ("HK-2", -200.0, None, "银行转账"),
    ]
    assert rows(con, "select activity_id, type, rep_id, lead_id from raw.activities "
                     "order by 1") == [
        ("GJ-1", "visit", "张伟", None),
        ("GJ-2", "call", "张伟", None),
        ("GJ-3", "other", "李娜", "XS-1"),
    ]


def test_zoho_invoices_and_calls(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/zoho/Invoices.csv",
        "Record Id,Invoice Number,Subject,Invoice Date,Due Date,Account Name,Deal Name,"
        "Sales Order,Invoice Owner,Grand Total,Status,Currency\n"
        "zcrm_1,INV-001,Licences,2024-03-01,2024-03-31,Acme,Acme renewal,,Ann Lee,"
        "\"1,250.00\",Delivered,USD\n"
        "zcrm_2,INV-002,Setup,2024-03-05,,Acme,,,Ann Lee,300,Canceled,USD\n",
    )
    write(
        tmp_path / "landing/zoho/Calls.csv",
        "Record Id,Subject,Call Type,Call Start Time,Call Duration (in minutes),Call Owner,"
        "Account Name,Deal Name,Call Result\n"
        "zc_1,Intro,Outbound,03/04/2024 10:30 AM,15,Ann Lee,Acme,,Interested\n"
        "zc_2,Missed,Missed,03/05/2024 09:00 AM,0,Ann Lee,Acme,,\n",
    )
    con, _ = load(
        tmp_path,
        [
            {"name": "zoho_inv", "entity": "invoices", "preset": "zoho", "path": "zoho/Invoices.csv"},
            {"name": "zoho_calls", "entity": "activities", "preset": "zoho", "path": "zoho/Calls.csv"},
        ],
    )
    assert rows(con, "select invoice_id, amount, status, rep_id, opportunity_id from raw.invoices "
                     "order by 1") == [
        ("INV-001", 1250.0, "open", "Ann Lee", "Acme renewal"),
        ("INV-002", 300.0, "void", "Ann Lee", None),
    ]
    assert rows(con, "select activity_id, type, occurred_at, duration_minutes, outcome "
                     "from raw.activities order by 1") == [
        ("zc_1", "call", dt.datetime(2024, 3, 4, 10, 30), 15.0, "Interested"),
        ("zc_2", "call", dt.datetime(2024, 3, 5, 9, 0), 0.0, None),
    ]


def test_salesforce_task_and_event_exports(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/sf/Task.csv",
        "Id,Subject,ActivityDate,Type,OwnerId,AccountId,WhoId,WhatId,Status\n"
        "00T1,Call back,2024-03-04,Call,005A,001A,00Q1,006A,Completed\n"
        "00T2,Send quote,2024-03-05,Email,005A,001A,,006A,Completed\n",
    )
    write(
        tmp_path / "landing/sf/Event.csv",
        "Id,Subject,ActivityDate,ActivityDateTime,DurationInMinutes,Type,OwnerId,AccountId,"
        "WhoId,WhatId\n"
        "00U1,On-site demo,2024-03-06,2024-03-06T14:00:00.000Z,90,Meeting,005B,001A,,006A\n",
    )
    con, _ = load(
        tmp_path,
        [
            {"name": "sf_tasks", "entity": "activities", "preset": "salesforce", "path": "sf/Task.csv"},
            {"name": "sf_events", "entity": "activities", "preset": "salesforce", "path": "sf/Event.csv"},
        ],
    )
    assert rows(con, "select activity_id, type, rep_id, lead_id, opportunity_id, duration_minutes "
                     "from raw.activities order by 1") == [
        ("00T1", "call", "005A", "00Q1", "006A", None),
        ("00T2", "email", "005A", None, "006A", None),
        ("00U1", "meeting", "005B", None, "006A", 90.0),
    ]


def test_generic_erp_receivables(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/erp/open_items.csv",
        "Invoice No,Invoice Date,Due Date,Invoice Amount,Customer No,Order No,Sales Rep,Status,"
        "Currency\n"
        "F-1,2024-03-01,2024-03-31,1000,C1,O-1,R1,Open,EUR\n"
        "F-2,2024-03-10,2024-03-01,50,C1,O-2,R1,Open,EUR\n",  # due before issued
    )
    write(
        tmp_path / "landing/erp/receipts.csv",
        "Receipt No,Receipt Date,Receipt Amount,Invoice No,Customer No,Order No,Currency,"
        "Payment Method\n"
        "R-1,2024-03-15,400,F-1,C1,O-1,EUR,Wire\n",
    )
    con, report = load(
        tmp_path,
        [
            {"name": "erp_ar", "entity": "invoices", "preset": "erp", "path": "erp/open_items.csv"},
            {"name": "erp_cash", "entity": "payments", "preset": "erp", "path": "erp/receipts.csv"},
        ],
    )
    assert [(f.rows_in, f.rows_loaded, f.rows_quarantined) for f in report.files] == [
        (2, 1, 1), (1, 1, 0)]
    assert rows(con, "select reason from meta.quarantine") == [
        ("due_date: due_date 2024-03-01 is before invoice_date 2024-03-10",)]
    assert rows(con, "select payment_id, amount, currency, method from raw.payments") == [
        ("R-1", 400.0, "EUR", "Wire")]
