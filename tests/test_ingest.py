"""Ingestion: every input row loaded or quarantined with a reason, nothing doubled."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pytest

from salesdw.errors import ConfigError
from tests.ingest_helpers import config, load, rows, write

ORDERS = {
    "name": "erp",
    "entity": "order_lines",
    "path": "erp/*.csv",
    "columns": {
        "order_id": "order",
        "line_id": "line",
        "product_id": "sku",
        "quantity": "qty",
        "unit_price": "price",
    },
}
HEADERS = {
    "name": "erp_orders",
    "entity": "orders",
    "path": "erp/*.csv",
    "columns": {"order_id": "order", "order_date": "date", "customer_id": "cust"},
}
LINES = (
    "order,line,date,cust,sku,qty,price\n"
    "A1,1,2024-03-05,C1,P1,2,10.50\n"
    'A1,2,2024-03-05,C1,P2,1,"1,000.00"\n'
    "A2,1,3/6/2024,C2,P1,-1,10.50\n"
)


def manifest(con):  # type: ignore[no-untyped-def]
    return rows(
        con,
        "select source, rows_in, rows_loaded, rows_quarantined from meta.load_manifest "
        "order by source, file",
    )


def test_flat_file_feeds_orders_and_lines(tmp_path: Path) -> None:
    write(tmp_path / "landing/erp/2024-03.csv", LINES)
    con, report = load(tmp_path, [ORDERS, HEADERS])
    assert rows(con, "select order_id, line_id, amount from raw.order_lines order by 1, 2") == [
        ("A1", "1", 21.0),  # 2 × 10.50
        ("A1", "2", 1000.0),  # 1 × 1,000.00 (thousands separator)
        ("A2", "1", -10.5),  # a return line
    ]
    # the header entity is de-duplicated by its key: one order per order id
    assert rows(con, "select order_id, order_date, customer_id from raw.orders order by 1") == [
        ("A1", dt.date(2024, 3, 5), "C1"),
        ("A2", dt.date(2024, 3, 6), "C2"),
    ]
    assert manifest(con) == [("erp", 3, 3, 0), ("erp_orders", 3, 3, 0)]
    assert [f.status for f in report.files] == ["loaded", "loaded"]


def test_same_file_twice_is_a_no_op(tmp_path: Path) -> None:
    write(tmp_path / "landing/erp/2024-03.csv", LINES)
    con, _ = load(tmp_path, [ORDERS])
    # the same content under another name is the same file
    write(tmp_path / "landing/erp/2024-03-copy.csv", LINES)
    con, report = load(tmp_path, [ORDERS], run_id="r2", con=con)
    assert [f.status for f in report.files] == ["skipped", "skipped"]
    assert rows(con, "select count(*) from raw.order_lines") == [(3,)]
    assert rows(con, "select count(*) from meta.load_manifest") == [(1,)]


def test_corrected_re_export_updates_by_key(tmp_path: Path) -> None:
    write(tmp_path / "landing/erp/2024-03-01.csv", LINES)
    con, _ = load(tmp_path, [ORDERS])
    # a later export of order A1 with a corrected quantity and one line less
    write(tmp_path / "landing/erp/2024-03-02.csv", "order,line,sku,qty,price\nA1,1,P1,3,10.50\n")
    con, _ = load(tmp_path, [ORDERS], run_id="r2", con=con)
    assert rows(con, "select order_id, line_id, amount from raw.order_lines order by 1, 2") == [
        ("A1", "1", 31.5),  # newest export wins: 3 × 10.50; its line 2 is gone with it
        ("A2", "1", -10.5),
    ]


def test_corrected_re_export_of_opportunities(tmp_path: Path) -> None:
    src = {
        "name": "crm",
        "entity": "opportunities",
        "path": "crm/*.csv",
        "columns": {"opportunity_id": "id", "stage": "stage", "amount": "amount"},
    }
    write(tmp_path / "landing/crm/opps_1.csv", "id,stage,amount\nO1,Prospecting,100\nO2,Won,50\n")
    write(tmp_path / "landing/crm/opps_2.csv", "id,stage,amount\nO1,Negotiation,120\n")
    con, _ = load(tmp_path, [src])  # both files in one run: the later name wins
    assert rows(con, "select opportunity_id, stage, amount from raw.opportunities order by 1") == [
        ("O1", "Negotiation", 120.0),
        ("O2", "Won", 50.0),
    ]
    assert manifest(con) == [("crm", 2, 2, 0), ("crm", 1, 1, 0)]


def test_duplicate_rows_are_quarantined(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/erp/dup.csv",
        "order,line,sku,qty,price\nB1,1,P1,1,5\nB1,1,P1,1,5\nB1,2,P1,1,5\nB1,2,P9,1,7\n",
    )
    con, _ = load(tmp_path, [ORDERS])
    assert rows(con, "select row_number, field, reason from meta.quarantine order by 1") == [
        (2, "order_id", "order_id: duplicate of row 1"),
        (3, "order_id", "order_id: superseded by row 4 with the same order_id, line_id"),
    ]
    assert rows(con, "select line_id, product_id from raw.order_lines order by 1") == [
        ("1", "P1"),
        ("2", "P9"),
    ]
    assert manifest(con) == [("erp", 4, 2, 2)]


def test_rows_with_an_empty_key_part_are_compared_like_any_key(tmp_path: Path) -> None:
    # an export with the line column but empty line numbers: two equal rows without a
    # line number are one record twice; a third row of the order, different, supersedes
    write(
        tmp_path / "landing/erp/empty_line.csv",
        "order,line,sku,qty,price\nB1,,P1,1,5\nB1,,P1,1,5\nB1,,P2,2,5\nB2,,P1,1,5\n",
    )
    con, _ = load(tmp_path, [ORDERS])
    assert rows(con, "select row_number, reason from meta.quarantine order by 1") == [
        (1, "order_id: superseded by row 3 with the same order_id, line_id"),
        (2, "order_id: duplicate of row 1"),
    ]
    assert rows(con, "select order_id, line_id, product_id from raw.order_lines order by 1") == [
        ("B1", None, "P2"),
        ("B2", None, "P1"),
    ]
    assert manifest(con) == [("erp", 4, 2, 2)]


def test_identical_lines_of_an_order_are_separate_lines(tmp_path: Path) -> None:
    # no line column (a shop export such as the UCI invoices): within one file, two
    # identical lines of an order are two lines (the item was scanned twice; docs/entities.md),
    # numbered by their row; nothing is quarantined
    src = {**ORDERS, "columns": {k: v for k, v in ORDERS["columns"].items() if k != "line_id"}}
    write(
        tmp_path / "landing/erp/no_lines_1.csv",
        "order,sku,qty,price\nE1,P1,1,5\nE1,P1,1,5\nE1,P1,2,5\nE1,P2,1,5\nE2,P1,1,5\n",
    )
    con, _ = load(tmp_path, [src])
    assert rows(con, "select count(*) from meta.quarantine") == [(0,)]
    assert rows(con, "select order_id, line_id, quantity from raw.order_lines order by 2") == [
        ("E1", "1", 1.0),
        ("E1", "2", 1.0),
        ("E1", "3", 2.0),
        ("E1", "4", 1.0),
        ("E2", "5", 1.0),
    ]
    assert manifest(con) == [("erp", 5, 5, 0)]
    # the same file again changes nothing (its content is in the manifest)
    write(tmp_path / "landing/erp/no_lines_1b.csv", (tmp_path / "landing/erp/no_lines_1.csv").read_text())
    con.close()
    con, _ = load(tmp_path, [src], run_id="r2")
    assert rows(con, "select count(*), sum(quantity * unit_price) from raw.order_lines") == [
        (5, 30.0)
    ]
    # a later export of E1 replaces all its lines together; E2 is untouched
    write(tmp_path / "landing/erp/no_lines_2.csv", "order,sku,qty,price\nE1,P1,3,5\n")
    con.close()
    con, _ = load(tmp_path, [src], run_id="r3")
    assert rows(con, "select order_id, quantity from raw.order_lines order by 1") == [
        ("E1", 3.0),
        ("E2", 1.0),
    ]
    assert rows(con, "select count(*) from meta.quarantine") == [(0,)]


def test_unparseable_dates_and_amounts_are_quarantined_with_reasons(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/erp/bad.csv",
        "order,line,date,cust,sku,qty,price\n"
        "C1,1,31/02/2025,X,P1,1,5\n"
        "C2,1,2025-02-03,X,P1,one,5\n"
        ",1,2025-02-03,X,P1,1,5\n"
        "C4,1,2025-02-03,X,P1,1,5\n",
    )
    con, _ = load(tmp_path, [ORDERS, HEADERS])
    got = rows(con, "select source, row_number, field, reason from meta.quarantine order by 1, 2")
    assert got == [
        ("erp", 2, "quantity", "quantity: cannot read one as a number"),
        ("erp", 3, "order_id", "order_id: missing required value"),
        ("erp_orders", 1, "order_date", "order_date: cannot read 31/02/2025 as a date"),
        ("erp_orders", 3, "order_id", "order_id: missing required value"),
    ]
    raw = json.loads(rows(con, "select raw from meta.quarantine where row_number = 2")[0][0])
    assert raw["qty"] == "one" and raw["order"] == "C2"
    # rows_in = rows_loaded + rows_quarantined, per file
    assert manifest(con) == [("erp", 4, 2, 2), ("erp_orders", 4, 2, 2)]


def test_order_headers_repeated_per_line_are_checked_per_row(tmp_path: Path) -> None:
    # headers are typed once per distinct header text; every line still counts
    write(
        tmp_path / "landing/erp/lines.csv",
        "order,line,date,cust,sku,qty,price\n"
        "D1,1,2025-02-03,X,P1,1,5\n"
        "D1,2,31/02/2025,X,P1,1,5\n"  # this line's header is unreadable
        "D1,3,2025-02-03,Y,P1,1,5\n"  # another customer: the first line's header wins
        "D2,1,31/02/2025,X,P1,1,5\n"
        "D2,2,31/02/2025,X,P1,1,5\n"  # the same bad header twice: both lines quarantined
        "D1,4,2025-02-03,X,P1,1,5\n",
    )
    con, _ = load(tmp_path, [HEADERS])
    assert rows(con, "select row_number, reason from meta.quarantine order by 1") == [
        (2, "order_date: cannot read 31/02/2025 as a date"),
        (4, "order_date: cannot read 31/02/2025 as a date"),
        (5, "order_date: cannot read 31/02/2025 as a date"),
    ]
    assert rows(con, "select order_id, customer_id, _row_number from raw.orders") == [
        ("D1", "X", 1)
    ]
    assert manifest(con) == [("erp_orders", 6, 3, 3)]


def test_failing_headers_without_an_order_id_are_found_per_row(tmp_path: Path) -> None:
    # the lines of a failing header are searched by its order id text first; a header
    # without an order id (and one whose id text another, good header shares) is found too
    write(
        tmp_path / "landing/erp/lines.csv",
        "order,line,date,cust,sku,qty,price\n"
        ",1,2025-02-03,X,P1,1,5\n"  # no order id: quarantined
        "E1,1,2025-02-03,X,P1,1,5\n"
        "E1,2,2025-02-30,X,P1,1,5\n"  # the same id, a bad date: only this line fails
        ",2,2025-02-04,Y,P1,1,5\n"  # no order id, another header: quarantined
        "E2,1,2025-02-05,Z,P1,1,5\n",
    )
    con, _ = load(tmp_path, [HEADERS])
    assert rows(con, "select row_number, reason from meta.quarantine order by 1") == [
        (1, "order_id: missing required value"),
        (3, "order_date: cannot read 2025-02-30 as a date"),
        (4, "order_id: missing required value"),
    ]
    assert rows(con, "select order_id, customer_id from raw.orders order by 1") == [
        ("E1", "X"),
        ("E2", "Z"),
    ]
    assert manifest(con) == [("erp_orders", 5, 2, 3)]


def test_formula_like_cells_are_kept_as_text(tmp_path: Path) -> None:
    src = {
        "name": "crm",
        "entity": "customers",
        "path": "c.csv",
        "columns": {"customer_id": "id", "name": "name"},
    }
    write(tmp_path / "landing/c.csv", "id,name\nK1,\"=cmd|' /C calc'!A0\"\nK2,+SUM(A1)\n")
    con, _ = load(tmp_path, [src])
    assert rows(con, "select customer_id, name from raw.customers order by 1") == [
        ("K1", "=cmd|' /C calc'!A0"),
        ("K2", "+SUM(A1)"),
    ]


def test_unknown_extra_columns_are_ignored(tmp_path: Path) -> None:
    src = {"name": "crm", "entity": "customers", "path": "c.csv", "columns": {"customer_id": "id"}}
    write(tmp_path / "landing/c.csv", "id,favourite colour,notes\nK1,blue,x\n")
    con, _ = load(tmp_path, [src])
    assert rows(con, "select customer_id from raw.customers") == [("K1",)]


def test_missing_required_column_is_a_config_error_before_loading(tmp_path: Path) -> None:
    write(tmp_path / "landing/erp/2024-03.csv", "order,line,sku,qty\nA1,1,P1,2\n")
    write(tmp_path / "landing/good/c.csv", "id\nK1\n")
    good = {
        "name": "good",
        "entity": "customers",
        "path": "good/*.csv",
        "columns": {"customer_id": "id"},
    }
    with pytest.raises(ConfigError) as err:
        load(tmp_path, [good, ORDERS])
    message = str(err.value)
    assert "source 'erp'" in message and "2024-03.csv" in message
    assert "'unit_price'" in message and "'price'" in message
    # nothing was loaded, not even the good source: no warehouse file was even opened
    assert not (tmp_path / "wh.duckdb").exists()


def test_required_field_without_column_is_a_config_error(tmp_path: Path) -> None:
    src = {"name": "crm", "entity": "leads", "path": "l.csv", "columns": {"lead_id": "id"}}
    write(tmp_path / "landing/l.csv", "id\nL1\n")
    with pytest.raises(ConfigError, match=r"source 'crm': required field.*created_at"):
        load(tmp_path, [src])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("garbage.csv", bytes(range(256)) * 40, "not readable as text"),
        (
            "declared_utf8.csv",
            "order,line,sku,qty,price\n订单,1,P1,1,5\n".encode("gbk"),
            "not valid utf-8",
        ),
    ],
)
def test_unreadable_file_is_reported_and_skipped(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    write(tmp_path / "landing/erp/2024-03.csv", LINES)
    bad = tmp_path / "landing/erp" / name
    bad.write_bytes(content)
    src = dict(ORDERS, encoding="utf-8") if name.startswith("declared") else ORDERS
    con, report = load(tmp_path, [src])
    unreadable = report.unreadable
    assert [f.file for f in unreadable] == [name]
    assert name in unreadable[0].message and message in unreadable[0].message
    # the good file loaded
    assert rows(con, "select count(*) from raw.order_lines") == [(3,)]
    assert rows(con, "select count(*) from meta.file_errors") == [(1,)]


def test_header_only_file_loads_nothing(tmp_path: Path) -> None:
    write(tmp_path / "landing/erp/empty.csv", "order,line,sku,qty,price\n")
    con, report = load(tmp_path, [ORDERS])
    assert [(f.status, f.rows_in) for f in report.files] == [("loaded", 0)]
    assert manifest(con) == [("erp", 0, 0, 0)]


def test_rows_with_wrong_column_count_are_quarantined(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/erp/ragged.csv",
        'order,line,sku,qty,price\nA1,1,P1,1,5\nA1,2,P1,1,5,EXTRA\nA1,3,"multi\nline",1,5\nA1,4\n',
    )
    con, _ = load(tmp_path, [ORDERS])
    assert rows(con, "select line_id from raw.order_lines order by 1") == [("1",), ("3",)]
    got = rows(
        con, "select row_number, reason like 'unreadable row%' from meta.quarantine order by 1"
    )
    assert got == [(2, True), (4, True)]
    assert manifest(con) == [("erp", 4, 2, 2)]


@pytest.mark.parametrize("extra", ["note", "RowID"])
def test_records_are_numbered_per_file_in_a_batch_read(tmp_path: Path, extra: str) -> None:
    # three files read in one scan: every row's number is its record number in its own
    # file, rejected records included; a column called like DuckDB's rowid (any case)
    # hides it, so those files are numbered another way, with the same numbers
    head = f"order,line,sku,qty,price,{extra}\n"
    write(tmp_path / "landing/erp/a.csv", head + "A1,1,P1,1,5,x\nA1,2,P1,1,5,x\n")
    write(
        tmp_path / "landing/erp/b.csv",
        head + "B1,1,P1,1,5,x\nB1,2,P1,1,5,x,EXTRA\nB1,3,P1,1,5,x\nB1,4,P1,1,5,x\n",
    )
    write(tmp_path / "landing/erp/c.csv", head + "C1,1,P1,1,5,x\n")
    con, _ = load(tmp_path, [ORDERS])
    got = rows(
        con,
        "select parse_filename(_file), order_id, line_id, _row_number from raw.order_lines "
        "order by 1, 4",
    )
    assert got == [
        ("a.csv", "A1", "1", 1),
        ("a.csv", "A1", "2", 2),
        ("b.csv", "B1", "1", 1),
        ("b.csv", "B1", "3", 3),
        ("b.csv", "B1", "4", 4),
        ("c.csv", "C1", "1", 1),
    ]
    assert rows(con, "select parse_filename(file), row_number from meta.quarantine") == [
        ("b.csv", 2)
    ]


def test_encodings_bom_delimiter_and_chinese_headers(tmp_path: Path) -> None:
    src = {
        "name": "fx",
        "entity": "customers",
        "preset": "fxiaoke",
        "path": "fx/*.csv",
        "delimiter": ";",
    }
    text = "客户名称;客户级别;行业;城市;创建时间\n北京华信科技;A类;制造业;北京;2024年3月5日\n"
    write(tmp_path / "landing/fx/gbk.csv", text, "gbk")
    write(tmp_path / "landing/fx/utf16.csv", text.replace("北京华信科技", "上海远大"), "utf-16")
    write(tmp_path / "landing/fx/bom.csv", text.replace("北京华信科技", "深圳腾飞"), "utf-8-sig")
    con, _ = load(tmp_path, [src])
    assert rows(
        con, "select customer_id, segment, city, created_at from raw.customers order by 1"
    ) == [
        ("上海远大", "A类", "北京", dt.date(2024, 3, 5)),
        ("北京华信科技", "A类", "北京", dt.date(2024, 3, 5)),
        ("深圳腾飞", "A类", "北京", dt.date(2024, 3, 5)),
    ]


def test_xlsx_first_or_named_sheet(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Notes"
    ws.append(["nothing here"])
    ws2 = wb.create_sheet("Targets")
    ws2.append(["Period", "Grain", "Metric", "Level", "Value", "Target"])
    ws2.append([dt.datetime(2024, 1, 1), "Monthly", "Revenue", "Region", "EMEA", 1000])
    ws2.append([45352, "month", "revenue", "company", None, "2,500"])  # Excel serial 2024-03-01
    (tmp_path / "landing").mkdir()
    wb.save(tmp_path / "landing/targets.xlsx")
    src = {
        "name": "targets",
        "entity": "targets",
        "path": "*.xlsx",
        "sheet": "Targets",
        "columns": {
            "period_start": "Period",
            "grain": "Grain",
            "metric": "Metric",
            "level": "Level",
            "level_value": "Value",
            "target_value": "Target",
        },
    }
    con, _ = load(tmp_path, [src])
    assert rows(
        con,
        "select period_start, grain, metric, level, level_value, target_value, "
        "_row_number from raw.targets order by 1",
    ) == [
        (dt.date(2024, 1, 1), "month", "revenue", "region", "EMEA", 1000.0, 1),
        (dt.date(2024, 3, 1), "month", "revenue", "company", None, 2500.0, 2),
    ]


def test_row_number_ids_and_constants(tmp_path: Path) -> None:
    src = {
        "name": "shop",
        "entity": "orders",
        "path": "shop/*.csv",
        "date_format": "%Y%m%d",
        "columns": {
            "order_id": {"row_number": True},
            "customer_id": "cust",
            "order_date": "date",
            "channel": {"value": "Online"},
        },
    }
    write(tmp_path / "landing/shop/log.csv", "cust,date\n7,19970101\n7,19970118\n")
    con, _ = load(tmp_path, [src])
    assert rows(
        con, "select order_id, customer_id, order_date, channel from raw.orders order by 1"
    ) == [
        ("log:1", "7", dt.date(1997, 1, 1), "Online"),
        ("log:2", "7", dt.date(1997, 1, 18), "Online"),
    ]


def test_enum_synonyms_and_unknown_values(tmp_path: Path) -> None:
    src = {
        "name": "o",
        "entity": "orders",
        "path": "o.csv",
        "columns": {"order_id": "id", "order_date": "d", "status": "s"},
    }
    write(
        tmp_path / "landing/o.csv",
        "id,d,s\n1,2024-01-01,Shipped\n2,2024-01-01,Canceled\n3,2024-01-01,Lost in space\n"
        "4,2024-01-01,\n",
    )
    con, _ = load(tmp_path, [src])
    assert rows(con, "select order_id, status from raw.orders order by 1") == [
        ("1", "completed"),
        ("2", "cancelled"),
        ("4", None),
    ]
    assert rows(con, "select row_number, reason from meta.quarantine") == [
        (3, "status: cannot read Lost in space as one of completed/cancelled/returned"),
    ]


def test_threshold_breach_is_reported(tmp_path: Path) -> None:
    from salesdw.ingest.loader import IngestReport

    write(
        tmp_path / "landing/erp/bad.csv",
        "order,line,sku,qty,price\nA1,1,P1,x,5\nA2,1,P1,1,5\nA3,1,P1,1,5\n",
    )
    _, report = load(tmp_path, [ORDERS])
    assert isinstance(report, IngestReport)
    ((source, share, limit),) = report.breaches({"erp": 0.05})
    assert (source, round(share, 4), limit) == ("erp", 0.3333, 0.05)
    assert report.breaches({"erp": 0.5}) == []


def test_sources_sharing_files_read_them_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesdw.ingest import loader

    calls: list[int] = []
    real = loader.read_files

    def counting(con, paths, table, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(paths))
        return real(con, paths, table, **kw)

    monkeypatch.setattr(loader, "read_files", counting)
    write(tmp_path / "landing/erp/2024-03.csv", LINES)
    write(tmp_path / "landing/erp/2024-04.csv", LINES.replace("A1", "A3").replace("A2", "A4"))
    con, _ = load(tmp_path, [ORDERS, HEADERS])
    assert calls == [2]  # one scan of both files feeds orders and order lines
    assert manifest(con) == [("erp", 3, 3, 0)] * 2 + [("erp_orders", 3, 3, 0)] * 2
    assert rows(con, "select count(*), count(distinct order_id) from raw.order_lines") == [(6, 4)]
    assert rows(con, "select count(*) from raw.orders") == [(4,)]


def _re_exports(root: Path) -> None:
    """Three monthly exports where later files correct earlier ones."""
    write(root / "landing/erp/2024-03.csv", LINES)
    # A1 re-exported with one line only and a new date: the newest file's lines win
    write(
        root / "landing/erp/2024-04.csv",
        "order,line,date,cust,sku,qty,price\n"
        "A1,1,2024-04-01,C1,P1,3,10.50\n"
        "A5,1,2024-04-02,C5,P1,1,1.00\n"
        "A5,1,2024-04-02,C5,P1,1,1.00\n",  # an exact duplicate: quarantined
    )
    write(
        root / "landing/erp/2024-05.csv",
        "order,line,date,cust,sku,qty,price\n"
        "A5,1,2024-05-02,C5,P1,2,1.00\n"  # A5 again, corrected
        "A6,1,2024-05-03,C6,P2,1,oops\n",  # unreadable amount: quarantined
    )


def _snapshot(con):  # type: ignore[no-untyped-def]
    return {
        "lines": rows(
            con,
            "select order_id, line_id, quantity, amount, _file, _row_number "
            "from raw.order_lines order by all",
        ),
        "orders": rows(con, "select order_id, order_date, _file from raw.orders order by all"),
        "quarantine": rows(
            con, "select source, file, row_number, reason from meta.quarantine order by all"
        ),
        "manifest": rows(
            con,
            "select source, file, rows_in, rows_loaded, rows_quarantined "
            "from meta.load_manifest order by all",
        ),
    }


def test_loading_in_chunks_gives_the_same_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesdw.ingest import loader

    one = tmp_path / "one"
    _re_exports(one)
    con, _ = load(one, [ORDERS, HEADERS])
    whole = _snapshot(con)

    monkeypatch.setattr(loader, "CHUNK_BYTES", 1)  # every file is its own chunk
    chunked = tmp_path / "chunked"
    _re_exports(chunked)
    con, _ = load(chunked, [ORDERS, HEADERS])
    got = _snapshot(con)
    strip = str(chunked) + "/"
    got = {
        k: [
            tuple(str(v).replace(strip, str(one) + "/") if isinstance(v, str) else v for v in r)
            for r in rs
        ]
        for k, rs in got.items()
    }
    assert got == whole
    # and the newest export won: A1 has one line of quantity 3, A5 the May correction
    assert [r[:3] for r in whole["lines"]] == [
        ("A1", "1", 3.0),
        ("A2", "1", -1.0),
        ("A5", "1", 2.0),
    ]
    reasons = [r[3] for r in whole["quarantine"]]
    assert any("duplicate of row 2" in r for r in reasons)
    assert any("cannot read oops as a number" in r for r in reasons)


def test_unchanged_files_are_not_hashed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from salesdw.ingest import loader

    path = write(tmp_path / "landing/erp/2024-03.csv", LINES)
    con, _ = load(tmp_path, [ORDERS])
    hashed: list[str] = []
    real = loader.file_sha256

    def counting(p: Path) -> str:
        hashed.append(p.name)
        return real(p)

    monkeypatch.setattr(loader, "file_sha256", counting)
    con, report = load(tmp_path, [ORDERS], run_id="r2", con=con)
    assert hashed == []  # same size and mtime: the stored hash is used
    assert [f.status for f in report.files] == ["skipped"]
    # rewritten in place (same size, new content and time): hashed and loaded again
    path.write_text(LINES.replace("P1,2,10.50", "P1,3,10.50"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    con, report = load(tmp_path, [ORDERS], run_id="r3", con=con)
    assert hashed == ["2024-03.csv"]
    assert [f.status for f in report.files] == ["loaded"]
    assert rows(
        con, "select quantity from raw.order_lines where order_id = 'A1' and line_id = '1'"
    ) == [(3.0,)]


TRICKY = [
    "",
    " ",
    "\u00a0",
    None,
    "12",
    " -3 ",
    "1.5",
    "150",
    "1e-5",
    "abc",
    "5.",
    "NaN",
    "2024-01-05",
    "1/5/2024",
    "2024年1月5日",
    "yes",
    "Completed",
    "x",
    "0",
    "-0.5",
    "101%",
    "50%",
    "17850.0",
    "(5)",
    "1e309",
    "¥1,000",
    "$5",
    "USD",
    "cny",
]


@pytest.mark.parametrize(
    "entity",
    [
        "orders",
        "order_lines",
        "leads",
        "opportunities",
        "customers",
        "reps",
        "products",
        "targets",
        "fx_rates",
        "marketing_spend",
        "opportunity_stage_history",
        "invoices",
        "payments",
        "activities",
    ],
)
def test_row_flag_agrees_with_the_reasons(entity: str) -> None:
    # the typing pass flags a row with plain conditions (_ok_sql); the rejected rows'
    # reasons come from _problem_sql: a row is flagged exactly when it has a reason
    import duckdb

    from salesdw.db import quote_ident
    from salesdw.ingest import loader as ld
    from salesdw.ingest import parsers
    from schemas.config import SourceConfig
    from schemas.entities import fields, required_fields

    names = fields(entity)
    source = SourceConfig.model_validate(
        {"name": "s", "entity": entity, "path": "x.csv", "columns": {n: n for n in names}}
    )
    n = len(TRICKY) * 7
    values = {
        f"{name}__raw": [TRICKY[(i * (j + 1) + j) % len(TRICKY)] for i in range(n)]
        for j, name in enumerate(names)
    }
    con = duckdb.connect()
    con.execute(
        "create table t as select * from (values "
        + ", ".join(
            "("
            + ", ".join(
                "null" if values[k][i] is None else "'" + values[k][i] + "'" for k in values
            )
            + ")"
            for i in range(n)
        )
        + ") v("
        + ", ".join(quote_ident(k) for k in values)
        + ")"
    )
    required = set(required_fields(entity))
    text = ", ".join(
        f"{parsers.clean_text(quote_ident(k + '__raw'))} as {quote_ident(k + '__txt')}"
        for k in names
    )
    typed = ", ".join(
        f"{ld._parsed_sql(entity, k, quote_ident(k + '__txt'), source)} as {quote_ident(k)}"
        for k in names
    )
    problems = ld._problems_sql(entity)
    checks = ", ".join(
        f"({ld._ok_sql(entity, k, k in required)}), ({problems[k]}) is null" for k in names
    )
    got = con.execute(
        f"select {checks} from (select *, {typed} from (select *, {text} from t))"
    ).fetchall()
    pairs = [(k, row[2 * j], row[2 * j + 1]) for row in got for j, k in enumerate(names)]
    assert [p for p in pairs if p[1] is not p[2]] == []
    assert {p[1] for p in pairs} == {True, False}


def test_profile_ingest_times_every_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # python -m benchmarks.bench --profile-ingest DB --config YML: the run's loader on a
    # fresh warehouse file, each statement's wall and CPU seconds
    import yaml

    from benchmarks import bench

    write(tmp_path / "landing" / "erp" / "lines.csv", LINES + "A3,1,x,C3,P1,abc,1\n")
    cfg = tmp_path / "salesdw.yml"
    cfg.write_text(
        yaml.safe_dump(
            {"warehouse": "wh.duckdb", "landing": "landing", "sources": [ORDERS, HEADERS]}
        ),
        encoding="utf-8",
    )
    db = tmp_path / "prof" / "p.duckdb"
    db.parent.mkdir()
    db.write_bytes(b"not a database")  # deleted first
    result = bench.profile_ingest(cfg, db)
    assert (result["rows_in"], result["rows_quarantined"]) == (8, 2)
    assert result["cpu_s"] > 0 and result["wall_s"] > 0
    stmts = result["statements"]
    typing = [s for s in stmts if s["sql"].startswith("create or replace temp table _sdw_typed")]
    assert len(typing) == 2 and all(s["n"] == 1 and s["cpu_s"] >= 0 for s in typing)
    assert stmts == sorted(stmts, key=lambda s: -s["wall_s"])
    assert not (tmp_path / "prof" / "p.work").exists()
    assert bench.main(["--profile-ingest", str(db), "--config", str(cfg), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows_in"] == 8


def test_landing_changed_tells_whether_ingestion_will_find_new_files(tmp_path: Path) -> None:
    from salesdw.pipeline import landing_changed

    first = write(tmp_path / "landing/erp/2024-03.csv", LINES)
    con, _ = load(tmp_path, [ORDERS, HEADERS])
    assert landing_changed(con, config(tmp_path, [ORDERS, HEADERS])) is False
    # a source that has not loaded the file yet
    other = {**HEADERS, "name": "erp_orders_2"}
    assert landing_changed(con, config(tmp_path, [ORDERS, other])) is True
    # a new file, then the same file rewritten (new modification time)
    write(tmp_path / "landing/erp/2024-04.csv", LINES.replace("A1", "A9"))
    assert landing_changed(con, config(tmp_path, [ORDERS, HEADERS])) is True
    con, _ = load(tmp_path, [ORDERS, HEADERS], run_id="r2", con=con)
    assert landing_changed(con, config(tmp_path, [ORDERS, HEADERS])) is False
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert landing_changed(con, config(tmp_path, [ORDERS, HEADERS])) is True
    # no file at all
    assert landing_changed(con, config(tmp_path, [{**ORDERS, "path": "none/*.csv"}])) is False


def test_expects_new_files_reads_the_published_warehouse(tmp_path: Path) -> None:
    from salesdw.pipeline import RunContext, expects_new_files

    ctx = RunContext(config(tmp_path, [ORDERS]), "r")
    nothing = RunContext(config(tmp_path, [{**ORDERS, "path": "none/*.csv"}]), "r")
    assert expects_new_files(nothing) is False  # no warehouse, no landing file
    write(tmp_path / "landing/erp/2024-03.csv", LINES)
    assert expects_new_files(ctx) is True  # no warehouse yet
    duckdb.connect(str(ctx.published)).close()
    assert expects_new_files(ctx) is True  # a warehouse without a load manifest
    con, _ = load(tmp_path, [ORDERS])
    con.close()
    assert expects_new_files(ctx) is False
    write(tmp_path / "landing/erp/2024-04.csv", LINES.replace("A1", "A9"))
    assert expects_new_files(ctx) is True
