"""Values that would poison the numbers are quarantined with their reason, and the rest
of their file loads: amounts that are not finite, a currency symbol that contradicts the
row's currency, a field too long for the CSV reader. Every row is accounted for."""

from __future__ import annotations

import math
from pathlib import Path

from tests.ingest_helpers import load, rows, write

DEALS = {
    "name": "crm",
    "entity": "opportunities",
    "path": "crm/*.csv",
    "columns": {
        "opportunity_id": "id",
        "stage": "stage",
        "amount": "amount",
        "currency": "currency",
    },
}


def _manifest(con):  # type: ignore[no-untyped-def]
    return rows(
        con,
        "select regexp_extract(file, '[^/]+$'), rows_in, rows_loaded, rows_quarantined "
        "from meta.load_manifest order by file",
    )


def test_amounts_that_are_not_finite_are_quarantined(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/crm/deals.csv",
        "id,stage,amount,currency\n"
        "O1,won,1e309,USD\n"
        "O2,won,inf,USD\n"
        f"O3,won,{'9' * 400},USD\n"
        "O4,won,-1E400,USD\n"
        "O5,won,NaN,USD\n"
        "O6,won,1e308,USD\n"
        'O7,won,"$1,250.50",USD\n'
        "O8,won,2.5e-3,USD\n",
    )
    con, _ = load(tmp_path, [DEALS])
    assert rows(con, "select row_number, reason from meta.quarantine order by row_number") == [
        (1, "amount: value 1e309 is not a finite number"),
        (2, "amount: value inf is not a finite number"),
        (3, f"amount: value {'9' * 400} is not a finite number"),
        (4, "amount: value -1E400 is not a finite number"),
        (5, "amount: value NaN is not a finite number"),
    ]
    loaded = rows(con, "select opportunity_id, amount from raw.opportunities order by 1")
    assert loaded == [("O6", 1e308), ("O7", 1250.5), ("O8", 0.0025)]
    assert all(math.isfinite(a) for _, a in loaded)
    assert _manifest(con) == [("deals.csv", 8, 3, 5)]


def test_a_currency_symbol_that_contradicts_the_row_s_currency_is_quarantined(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "landing/crm/deals.csv",
        "id,stage,amount,currency\n"
        'O1,won,"¥1,000",USD\n'  # yen or yuan on a dollar row
        'O2,won,"¥1,000",CNY\n'  # agrees
        'O3,won,"¥1,000",jpy\n'  # agrees (the currency is upper-cased)
        "O4,won,$300,HKD\n"  # a dollar sign on a Hong Kong dollar row agrees
        "O5,won,€300,GBP\n"
        "O6,won,300 EUR,USD\n"
        "O7,won,1000元,CNY\n"
        "O8,won,300,EUR\n"  # no symbol
        "O9,won,$300,\n",  # no currency on the row
    )
    con, _ = load(tmp_path, [DEALS])
    assert rows(con, "select row_number, field, reason from meta.quarantine order by 1") == [
        (1, "amount", "amount: currency symbol ¥ in ¥1,000 contradicts the row's currency USD"),
        (5, "amount", "amount: currency symbol € in €300 contradicts the row's currency GBP"),
        (6, "amount", "amount: currency symbol EUR in 300 EUR contradicts the row's currency USD"),
    ]
    assert rows(
        con, "select opportunity_id, amount, currency from raw.opportunities order by 1"
    ) == [
        ("O2", 1000.0, "CNY"),
        ("O3", 1000.0, "JPY"),
        ("O4", 300.0, "HKD"),
        ("O7", 1000.0, "CNY"),
        ("O8", 300.0, "EUR"),
        ("O9", 300.0, None),
    ]
    assert _manifest(con) == [("deals.csv", 9, 6, 3)]


def test_a_source_without_a_currency_column_loads_symbols_as_today(tmp_path: Path) -> None:
    write(tmp_path / "landing/crm/deals.csv", 'id,stage,amount\nO1,won,"¥1,000"\nO2,won,$5\n')
    source = {**DEALS, "columns": {k: v for k, v in DEALS["columns"].items() if k != "currency"}}  # type: ignore[attr-defined]
    con, _ = load(tmp_path, [source])
    assert rows(con, "select opportunity_id, amount from raw.opportunities order by 1") == [
        ("O1", 1000.0),
        ("O2", 5.0),
    ]
    assert rows(con, "select count(*) from meta.quarantine") == [(0,)]


LINES = {
    "name": "erp",
    "entity": "order_lines",
    "path": "erp/*.csv",
    "columns": {
        "order_id": "order",
        "line_id": "line",
        "quantity": "qty",
        "unit_price": "price",
        "cost": "cost",
        "currency": "cur",
    },
}


def test_order_line_prices_and_costs_are_checked_against_the_currency(tmp_path: Path) -> None:
    write(
        tmp_path / "landing/erp/lines.csv",
        "order,line,qty,price,cost,cur\n"
        "A1,1,2,$10,$4,USD\n"
        "A1,2,1,£10,4,USD\n"
        "A1,3,1,10,¥4,USD\n"
        "A1,4,1e309,10,4,USD\n",
    )
    con, _ = load(tmp_path, [LINES])
    assert rows(con, "select row_number, reason from meta.quarantine order by 1") == [
        (2, "unit_price: currency symbol £ in £10 contradicts the row's currency USD"),
        (3, "cost: currency symbol ¥ in ¥4 contradicts the row's currency USD"),
        (4, "quantity: value 1e309 is not a finite number"),
    ]
    assert rows(con, "select line_id, amount from raw.order_lines") == [("1", 20.0)]


def test_an_over_long_field_quarantines_its_row_and_the_rest_of_the_file_loads(
    tmp_path: Path,
) -> None:
    """A 10 MB field (a pasted attachment, a runaway quote) in the first record used to
    fail DuckDB's sniffing of the file: the whole file was rejected ("CSV Error on Line:
    1"). Now that record alone is quarantined; the file's other records load, and so do
    the other files of the batch."""
    huge = "x" * (10 * 1024 * 1024)
    write(
        tmp_path / "landing/crm/deals_1.csv",
        f"id,stage,amount,currency\nO1,won,{huge},USD\nO2,won,100,USD\nO3,lost,200,USD\n",
    )
    write(
        tmp_path / "landing/crm/deals_2.csv",
        f"id,stage,amount,currency\nO4,won,300,USD\nO5,won,{huge},USD\nO6,won,400,USD\n",
    )
    write(tmp_path / "landing/crm/deals_3.csv", "id,stage,amount,currency\nO7,won,500,USD\n")
    con, report = load(tmp_path, [DEALS])
    assert report.unreadable == []
    got = rows(
        con,
        "select regexp_extract(file, '[^/]+$'), row_number, reason, length(raw) < 20000 "
        "from meta.quarantine order by 1, 2",
    )
    assert [(f, n, ok) for f, n, _, ok in got] == [
        ("deals_1.csv", 1, True),
        ("deals_2.csv", 2, True),
    ]
    assert all(reason.startswith("field too long: Maximum line size") for _, _, reason, _ in got)
    assert rows(con, "select opportunity_id, amount from raw.opportunities order by 1") == [
        ("O2", 100.0),
        ("O3", 200.0),
        ("O4", 300.0),
        ("O6", 400.0),
        ("O7", 500.0),
    ]
    # row numbers in the files are kept; every row accounted for
    assert rows(con, "select opportunity_id, _row_number from raw.opportunities order by 1")[
        :4
    ] == [
        ("O2", 2),
        ("O3", 3),
        ("O4", 1),
        ("O6", 3),
    ]
    assert _manifest(con) == [
        ("deals_1.csv", 3, 2, 1),
        ("deals_2.csv", 3, 2, 1),
        ("deals_3.csv", 1, 1, 0),
    ]
