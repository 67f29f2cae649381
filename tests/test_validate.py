"""GX suites, validate_run (meta.dq_results, Data Docs) and the SQL hygiene checks."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

# one GX import for the whole module (it takes a few seconds)
from salesdw.ingest.meta import create_meta_tables
from salesdw.ingest.raw_tables import create_raw_tables
from salesdw.validate.batches import export_batches, store_results
from salesdw.validate.expectations import build_suite
from salesdw.validate.hygiene import hygiene_checks
from salesdw.validate.rules import CRITICAL, WARNING
from salesdw.validate.runner import validate_batches, validate_run

D = dt.date(2024, 3, 1)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    create_raw_tables(c)
    create_meta_tables(c)
    return c


def insert(
    con: duckdb.DuckDBPyConnection, entity: str, rows: list[dict[str, Any]], run_id: str,
    source: str,
) -> None:
    for i, row in enumerate(rows, start=1):
        row = {**row, "_source": source, "_file": f"{source}.csv", "_row_number": i,
               "_run_id": run_id, "_loaded_at": dt.datetime(2024, 3, 2)}
        cols = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        con.execute(f"insert into raw.{entity} ({cols}) values ({marks})", list(row.values()))


def dq(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[tuple[str, str], tuple[bool, int]]:
    rows = con.execute(
        "select source, expectation, success, unexpected_count from meta.dq_results "
        "where run_id = ?", [run_id]
    ).fetchall()
    out = {(s, e): (ok, n) for s, e, ok, n in rows}
    assert len(out) == len(rows), "one row per expectation and batch"
    return out


def load_defects(con: duckdb.DuckDBPyConnection) -> None:
    """Run r1: reps and an old orders batch; run r2: batches with known defects + a clean one."""
    insert(con, "reps", [{"rep_id": "R1"}, {"rep_id": "R2"}], "r1", "crm_reps")
    insert(con, "orders", [{"order_id": "x1", "order_date": D}] * 2, "r1", "old_orders")
    o1 = {"order_id": "o1", "order_date": D, "status": "completed", "rep_id": "R1",
          "customer_id": "c1"}
    insert(con, "orders", [
        o1,
        o1,
        {"order_id": "o2", "order_date": None, "status": "cancelled", "rep_id": "R2"},
        {"order_id": "o3", "order_date": dt.date(1899, 12, 30), "status": "shipped"},
    ], "r2", "shop_orders")
    insert(con, "opportunities", [
        {"opportunity_id": "op1", "stage": " Closed Won ", "probability": 0.5,
         "owner_rep_id": "R1"},
        {"opportunity_id": "op2", "stage": "Stalled", "probability": 1.5, "owner_rep_id": "R9"},
        {"opportunity_id": "op3", "stage": "stalled ", "probability": 0.2, "owner_rep_id": "R2"},
        {"opportunity_id": "op4", "stage": "赢单", "probability": None, "owner_rep_id": None},
    ], "r2", "crm_deals")
    insert(con, "customers", [
        {"customer_id": "c1", "name": "Acme", "owner_rep_id": "R1", "created_at": D},
        {"customer_id": "c2", "name": "Beta", "owner_rep_id": None},
    ], "r2", "crm_accounts")


def test_suite_is_derived_from_the_entity_models() -> None:
    suite = build_suite("order_lines", stage_labels=None, references=set())
    names = [e.meta["name"] for e in suite.expectations]
    assert names == [
        "expect_column_values_to_not_be_null(order_id)",
        "expect_compound_columns_to_be_unique(order_id, line_id)",
    ]
    suite = build_suite("opportunities", stage_labels={"won"}, references={"reps"})
    by_name = {e.meta["name"]: e for e in suite.expectations}
    prob = by_name["expect_column_values_to_be_between(probability)"]
    assert (prob.min_value, prob.max_value) == (0, 1)
    stage = by_name["expect_column_values_to_be_in_set(lower(trim(stage)))"]
    assert stage.column == "_stage_key" and list(stage.value_set) == ["won"] and stage.mostly == 1.0
    owner = by_name["expect_column_values_to_be_in_set(owner_rep_id in reps.rep_id)"]
    assert owner.severity.value == "warning"
    assert "expect_column_values_to_be_in_set(type)" in by_name
    assert "expect_column_values_to_be_between(close_date)" in by_name
    # fx rates: rate_to_reporting > 0 (strict)
    fx_suite = build_suite("fx_rates", stage_labels=None, references=set())
    fx = {e.meta["name"]: e for e in fx_suite.expectations}
    rate = fx["expect_column_values_to_be_between(rate_to_reporting)"]
    assert rate.min_value == 0 and rate.strict_min
    assert "expect_compound_columns_to_be_unique(date, currency)" in fx


def test_validate_run_stores_one_row_per_expectation(con: duckdb.DuckDBPyConnection) -> None:
    load_defects(con)
    results = validate_run(con, "r2", None)
    got = dq(con, "r2")
    # only the batches loaded in r2 (crm_reps and old_orders were loaded in r1)
    assert {s for s, _ in got} == {"shop_orders", "crm_deals", "crm_accounts"}
    assert {k for k in got if k[0] == "shop_orders"} == {
        ("shop_orders", e) for e in [
            "expect_column_values_to_not_be_null(order_id)",
            "expect_column_values_to_be_unique(order_id)",
            "expect_column_values_to_not_be_null(order_date)",
            "expect_column_values_to_be_between(order_date)",
            "expect_column_values_to_be_in_set(status)",
            "expect_column_values_to_be_in_set(customer_id in customers.customer_id)",
            "expect_column_values_to_be_in_set(rep_id in reps.rep_id)",
        ]
    }
    expected = {
        ("shop_orders", "expect_column_values_to_not_be_null(order_id)"): (True, 0),
        # GX counts every row of a duplicated key: o1 twice
        ("shop_orders", "expect_column_values_to_be_unique(order_id)"): (False, 2),
        ("shop_orders", "expect_column_values_to_not_be_null(order_date)"): (False, 1),
        ("shop_orders", "expect_column_values_to_be_between(order_date)"): (False, 1),
        ("shop_orders", "expect_column_values_to_be_in_set(status)"): (False, 1),
        ("shop_orders", "expect_column_values_to_be_in_set(rep_id in reps.rep_id)"): (True, 0),
        ("shop_orders", "expect_column_values_to_be_in_set(customer_id in customers.customer_id)"):
            (True, 0),
        # "Stalled" and "stalled " are one unknown label, two rows; " Closed Won " and 赢单 map
        ("crm_deals", "expect_column_values_to_be_in_set(lower(trim(stage)))"): (False, 2),
        ("crm_deals", "expect_column_values_to_be_between(probability)"): (False, 1),
        ("crm_deals", "expect_column_values_to_be_in_set(owner_rep_id in reps.rep_id)"): (False, 1),
        ("crm_deals", "expect_column_values_to_not_be_null(stage)"): (True, 0),
        ("crm_deals", "expect_column_values_to_be_unique(opportunity_id)"): (True, 0),
    }
    assert {k: got[k] for k in expected} == expected
    # the clean batch passes entirely
    clean = {k: v for k, v in got.items() if k[0] == "crm_accounts"}
    assert clean and all(v == (True, 0) for v in clean.values())
    assert ("crm_accounts",
            "expect_column_values_to_be_in_set(owner_rep_id in reps.rep_id)") in clean
    # reference checks are warnings, the rest critical
    sev = {(r.source, r.expectation): r.severity for r in results}
    owner = ("crm_deals", "expect_column_values_to_be_in_set(owner_rep_id in reps.rep_id)")
    assert sev[owner] == "warning"
    assert sev[("crm_deals", "expect_column_values_to_be_between(probability)")] == "critical"
    assert {(r.source, r.expectation): (r.success, r.unexpected_count) for r in results} == got
    # validating the run again replaces its rows
    validate_run(con, "r2", None)
    assert len(dq(con, "r2")) == len(got)
    assert dq(con, "r1") == {}


def test_exported_batches_validate_without_the_warehouse(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Ingestion's process exports the run's batches; the validation (which runs while
    dbt builds) reads only those files: the same results as validating from the tables."""
    load_defects(con)
    export = export_batches(con, "r2", tmp_path / "batches")
    assert sorted((b.entity, b.source, b.rows) for b in export.batches) == [
        ("customers", "crm_accounts", 2),
        ("opportunities", "crm_deals", 4),
        ("orders", "shop_orders", 4),
    ]
    assert export.rows == 10 and export.references == {"reps", "customers"}
    assert export.stage_labels is not None and "closed won" in export.stage_labels
    # a file holds exactly the columns its entity's GX suite looks at, in order of use
    for b in export.batches:
        suite = build_suite(b.entity, stage_labels=set(export.stage_labels),
                            references=set(export.references))
        used: list[str] = []
        for exp in suite.expectations:
            for col in [getattr(exp, "column", None), *(getattr(exp, "column_list", None) or [])]:
                if col and col not in used:
                    used.append(col)
        assert pa.ipc.open_file(str(b.path)).schema.names == used
    expected = validate_run(con, "r2", None)
    # the tables change (or are locked by dbt) after the export: the files are what counts
    con.execute("delete from raw.orders")
    con.execute("delete from raw.reps")
    got = validate_batches(export, None)
    assert got == expected and any(r.is_error for r in got)
    # a rerun of the export starts from an empty folder
    again = export_batches(con, "r2", tmp_path / "batches")
    assert len(list((tmp_path / "batches").iterdir())) == len(again.batches) == 2
    store_results(con, "r2", got)
    assert dq(con, "r2") == {(r.source, r.expectation): (r.success, r.unexpected_count) for r in got}


def test_the_validate_step_reports_and_deletes_the_exported_files(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from salesdw import pipeline
    from schemas.config import Config

    load_defects(con)
    config = Config.model_validate(
        {"sources": [{"name": "erp", "entity": "orders", "path": "*.csv"}], "base_dir": tmp_path}
    )
    ctx = pipeline.RunContext(config, "r2")
    ctx.batches = export_batches(con, "r2", tmp_path / "batches")
    messages: list[str] = []
    results = pipeline.validate(ctx, messages.append)
    assert results == validate_run(con, "r2", None)
    assert not (tmp_path / "batches").exists()
    failed = sorted(f"{r.source}: {r.expectation}" for r in results if r.is_error)
    assert failed == [
        "crm_deals: expect_column_values_to_be_between(probability)",
        "crm_deals: expect_column_values_to_be_in_set(lower(trim(stage)))",
        "shop_orders: expect_column_values_to_be_between(order_date)",
        "shop_orders: expect_column_values_to_be_in_set(status)",
        "shop_orders: expect_column_values_to_be_unique(order_id)",
        "shop_orders: expect_column_values_to_not_be_null(order_date)",
    ]
    assert messages[0] == (
        f"validate: 3 batch(es), 10 rows, {len(results)} expectations, 6 failed, "
        f"1 warnings (ids that do not resolve); Data Docs in {config.reports_path / 'data_docs'}"
    )
    assert "validate: crm_deals: expect_column_values_to_be_between(probability) failed (1 rows)" \
        in messages


def test_severity_texts_are_gx_s() -> None:
    from great_expectations.expectations.metadata_types import FailureSeverity

    assert (FailureSeverity.CRITICAL.value, FailureSeverity.WARNING.value) == (CRITICAL, WARNING)


def test_references_skipped_when_referenced_table_empty(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "orders", [{"order_id": "o1", "order_date": D, "rep_id": "nobody"}], "r1", "shop")
    validate_run(con, "r1", None)
    got = dq(con, "r1")
    assert got and not any(" in " in e for _, e in got)
    assert all(v == (True, 0) for v in got.values())


def test_run_without_batches(con: duckdb.DuckDBPyConnection) -> None:
    assert validate_run(con, "nothing", None) == []
    assert dq(con, "nothing") == {}


def test_data_docs(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    load_defects(con)
    docs = tmp_path / "data_docs"
    validate_run(con, "r2", docs)
    assert (docs / "index.html").is_file()
    assert (docs / "expectations" / "opportunities.html").is_file()
    pages = list((docs / "validations" / "opportunities" / "r2").glob("*/raw-crm_deals.html"))
    assert len(pages) == 1
    html = pages[0].read_text(encoding="utf-8")
    assert "stalled" in html and "R9" in html  # GX shows the unexpected values


def load_hygiene(con: duckdb.DuckDBPyConnection, with_reps: bool = True) -> None:
    if with_reps:
        insert(con, "reps", [{"rep_id": "R1"}, {"rep_id": "R2"}], "r1", "crm_reps")
    insert(con, "opportunities", [
        {"opportunity_id": "op1", "stage": "Closed Won", "owner_rep_id": "R1"},
        {"opportunity_id": "op2", "stage": "Stalled", "owner_rep_id": "R9"},
        {"opportunity_id": "op3", "stage": "stalled ", "owner_rep_id": None},
        {"opportunity_id": "op4", "stage": "赢单", "owner_rep_id": " "},
    ], "r2", "crm_deals")
    insert(con, "opportunity_stage_history", [
        {"opportunity_id": "op2", "stage": "Stalled", "entered_at": dt.datetime(2024, 1, 1)},
        {"opportunity_id": "op1", "stage": "Foo", "entered_at": dt.datetime(2024, 1, 1)},
        {"opportunity_id": "op1", "stage": "closed won", "entered_at": dt.datetime(2024, 2, 1)},
    ], "r2", "crm_history")
    insert(con, "leads", [{"lead_id": "l1", "created_at": D, "owner_rep_id": "R9"}], "r1",
           "crm_leads")
    insert(con, "customers", [
        {"customer_id": "c1", "name": "Acme GmbH", "owner_rep_id": "R1"},
        {"customer_id": "c2", "name": " acme gmbh"},
        {"customer_id": "c3", "name": "Other"},
    ], "r2", "crm_accounts")
    insert(con, "orders", [{"order_id": f"o{i}", "order_date": D} for i in range(1, 9)],
           "r2", "shop_orders")
    insert(con, "order_lines", [
        # o1: the same item scanned twice (two lines, identical but for the line number)
        {"order_id": "o1", "line_id": "1", "product_id": "P1", "quantity": 1, "unit_price": 5},
        {"order_id": "o1", "line_id": "2", "product_id": "P1", "quantity": 1, "unit_price": 5},
        {"order_id": "o1", "line_id": "3", "product_id": "P1", "quantity": 2, "unit_price": 5},
        {"order_id": "o9", "line_id": "1", "product_id": "P1"},
        {"order_id": "o9", "line_id": "2", "product_id": "P2"},
        {"order_id": "x1", "line_id": "1"},
    ], "r2", "shop_lines")


def test_hygiene_checks(con: duckdb.DuckDBPyConnection) -> None:
    load_hygiene(con)
    results = {h.check: (h.count, h.examples) for h in hygiene_checks(con, "r2", D)}
    assert results == {
        "unmapped_stage_labels": (4, "Stalled (3), Foo (1)"),
        "opportunities_without_owner": (2, "op3, op4"),
        "owners_not_in_reps": (2, "R9 (2)"),
        "duplicate_customer_names": (2, "Acme GmbH: c1, c2"),
        "orders_without_lines": (7, "o2, o3, o4, o5, o6, … (2 more)"),
        "order_lines_without_order": (3, "o9 (2), x1 (1)"),
        "identical_order_lines": (1, "o1: P1 × 2"),
        "payments_for_unknown_invoice": (0, ""),
        "closed_with_future_close_date": (0, ""),
        "future_dated_records": (0, ""),  # dated on the run date, not after it
    }
    stored = con.execute(
        'select "check", count, examples from meta.hygiene where run_id = ? order by 1', ["r2"]
    ).fetchall()
    assert {r[0]: (r[1], r[2]) for r in stored} == results
    hygiene_checks(con, "r2", D)  # replaces the run's rows
    assert con.execute("select count(*) from meta.hygiene").fetchall() == [(10,)]


def test_duplicate_customer_names_count_distinct_ids(con: duckdb.DuckDBPyConnection) -> None:
    """A name counts the distinct customer ids that carry it: one customer exported by
    two sources (the same id twice) shares its name with nobody."""
    insert(con, "customers", [
        {"customer_id": "c1", "name": "Solo Ltd"},
        {"customer_id": "c2", "name": "Twice Inc"},
        {"customer_id": "c3", "name": "twice inc "},
        {"customer_id": "c9", "name": "Many"},
        {"customer_id": "c8", "name": "MANY"},
        {"customer_id": "c7", "name": "many"},
        {"customer_id": "c0", "name": " "},
        {"customer_id": "c6", "name": " "},
    ], "r1", "crm_accounts")
    insert(con, "customers", [
        {"customer_id": "c1", "name": "solo ltd"},
        {"customer_id": "c2", "name": "Twice Inc"},
        {"customer_id": "c8", "name": "Many"},
        {"customer_id": None, "name": "Solo Ltd"},
    ], "r1", "erp_customers")
    results = {h.check: (h.count, h.examples) for h in hygiene_checks(con, "r1", D)}
    assert results["duplicate_customer_names"] == (5, "MANY: c7, c8, c9, Twice Inc: c2, c3")


def load_future_dates(con: duckdb.DuckDBPyConnection) -> None:
    """Records around the run date D = 2024-03-01: deals marked won or lost while their
    close date is ahead, and orders, a deal and a lead dated after D."""
    insert(
        con,
        "opportunities",
        [
            # closed, close date after D: counted
            {
                "opportunity_id": "f1",
                "stage": "Closed Won",
                "close_date": D + dt.timedelta(days=1),
                "created_at": dt.date(2024, 1, 10),
            },
            {
                "opportunity_id": "f2",
                "stage": " closed lost ",
                "close_date": dt.date(2025, 1, 1),
                "created_at": dt.date(2024, 3, 5),
            },  # also created after D
            {"opportunity_id": "f3", "stage": "赢单", "close_date": dt.date(2024, 4, 1)},
            # not counted: closed on D; open (expected close ahead); unmapped label; no date
            {"opportunity_id": "f4", "stage": "Closed Won", "close_date": D},
            {
                "opportunity_id": "f5",
                "stage": "Proposal/Price Quote",
                "close_date": dt.date(2024, 6, 30),
            },
            {"opportunity_id": "f6", "stage": "Stalled", "close_date": dt.date(2025, 1, 1)},
            {"opportunity_id": "f7", "stage": "Closed Won", "close_date": None},
        ],
        "r2",
        "crm_deals",
    )
    insert(
        con,
        "orders",
        [
            {"order_id": "o1", "order_date": D},
            {"order_id": "o2", "order_date": dt.date(2024, 3, 2)},
            {"order_id": "o3", "order_date": dt.date(2024, 12, 31)},
            {"order_id": "o4", "order_date": dt.date(2025, 1, 1)},
            {"order_id": "o5", "order_date": dt.date(2024, 3, 3)},
            {"order_id": "o6", "order_date": None},
        ],
        "r2",
        "shop_orders",
    )
    insert(
        con,
        "leads",
        [
            {"lead_id": "l1", "created_at": dt.date(2024, 2, 1)},
            {"lead_id": "l2", "created_at": dt.date(2024, 3, 2)},
        ],
        "r2",
        "crm_leads",
    )


def test_hygiene_finds_records_dated_after_the_run_date(con: duckdb.DuckDBPyConnection) -> None:
    load_future_dates(con)
    results = {h.check: (h.count, h.examples) for h in hygiene_checks(con, "r2", D)}
    assert results["closed_with_future_close_date"] == (
        3,
        "f1 (2024-03-02), f2 (2025-01-01), f3 (2024-04-01)",
    )
    # orders o2..o5, deal f2, lead l2; per entity the latest dates first, 3 ids at most
    assert results["future_dated_records"] == (
        6,
        "orders: 4 (o4 2025-01-01, o3 2024-12-31, o5 2024-03-03, …), "
        "leads: 1 (l2 2024-03-02), opportunities: 1 (f2 2024-03-05)",
    )
    # a year later all of it lies in the past
    later = {h.check: h.count for h in hygiene_checks(con, "r3", dt.date(2025, 1, 1))}
    assert later["closed_with_future_close_date"] == later["future_dated_records"] == 0
    # between the two: only what is still ahead of 2024-06-30
    mid = {h.check: (h.count, h.examples) for h in hygiene_checks(con, "r4", dt.date(2024, 6, 30))}
    assert mid["closed_with_future_close_date"] == (1, "f2 (2025-01-01)")
    assert mid["future_dated_records"] == (2, "orders: 2 (o4 2025-01-01, o3 2024-12-31)")


def test_hygiene_owner_check_needs_reps(con: duckdb.DuckDBPyConnection) -> None:
    load_hygiene(con, with_reps=False)
    results = {h.check: (h.count, h.examples) for h in hygiene_checks(con, "r2")}
    assert results["owners_not_in_reps"] == (None, "not checked: raw.reps is empty")
    assert results["opportunities_without_owner"] == (2, "op3, op4")


def test_hygiene_clean(con: duckdb.DuckDBPyConnection) -> None:
    assert all(h.count == 0 for h in hygiene_checks(con, "r1") if h.check != "owners_not_in_reps")


def test_200k_order_lines_validate_fast(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "products", [{"product_id": f"P{i}"} for i in range(50)], "r0", "erp_products")
    con.execute(
        "insert into raw.order_lines select 'O' || (i // 4), cast(i % 4 as varchar), "
        "'P' || (i % 60), 1 + i % 3, 10, 0, 10 * (1 + i % 3), 5, 'USD', "
        "'erp_lines', 'lines.csv', i, 'r1', now() from range(200000) t(i)"
    )
    start = time.perf_counter()
    validate_run(con, "r1", None)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"validation of 200k order lines took {elapsed:.1f} s"
    assert dq(con, "r1") == {
        ("erp_lines", "expect_column_values_to_not_be_null(order_id)"): (True, 0),
        ("erp_lines", "expect_compound_columns_to_be_unique(order_id, line_id)"): (True, 0),
        # P50..P59 are not products: 10 of every 60 lines
        ("erp_lines", "expect_column_values_to_be_in_set(product_id in products.product_id)"):
            (False, 33330),
    }


def test_payments_for_unknown_invoices_and_future_activities(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A payment whose invoice nobody exported is kept (applied to its customer) and
    named by payments_for_unknown_invoice; an activity dated after the run date is loaded
    and named by future_dated_records, like a future order."""
    insert(con, "invoices", [
        {"invoice_id": "I1", "invoice_date": D, "amount": 100.0, "customer_id": "c1"},
    ], "r1", "erp_invoices")
    insert(con, "payments", [
        {"payment_id": "P1", "payment_date": D, "amount": 60.0, "invoice_id": "I1"},
        {"payment_id": "P2", "payment_date": D, "amount": 10.0, "invoice_id": "I7",
         "customer_id": "c1"},
        {"payment_id": "P3", "payment_date": D, "amount": 20.0, "invoice_id": "I7",
         "customer_id": "c1"},
        {"payment_id": "P4", "payment_date": D, "amount": 30.0, "invoice_id": "I8",
         "customer_id": "c1"},
        {"payment_id": "P5", "payment_date": D, "amount": 5.0, "customer_id": "c1"},
    ], "r1", "erp_payments")
    insert(con, "activities", [
        {"activity_id": "A1", "occurred_at": dt.datetime.combine(D, dt.time(23, 59)),
         "type": "call"},
        {"activity_id": "A2", "occurred_at": dt.datetime.combine(D, dt.time()) + dt.timedelta(days=3),
         "type": "visit"},
    ], "r1", "crm_activities")
    results = {h.check: (h.count, h.examples) for h in hygiene_checks(con, "r1", D)}
    assert results["payments_for_unknown_invoice"] == (3, "I7 (2), I8 (1)")
    later = D + dt.timedelta(days=3)
    assert results["future_dated_records"] == (1, f"activities: 1 (A2 {later})")


def test_invoice_suite_checks_the_due_date_against_the_invoice_date(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """The suite of invoices checks due_date ≥ invoice_date (Invoice.date_order), the same
    rule ingestion quarantines by; rows without a due date are not judged."""
    suite = build_suite("invoices", stage_labels=None, references=set())
    names = [e.meta["name"] for e in suite.expectations]
    assert "expect_column_pair_values_a_to_be_greater_than_b(due_date, invoice_date)" in names
    assert "expect_column_values_to_be_in_set(status)" in names
    insert(con, "invoices", [
        {"invoice_id": "I1", "invoice_date": D, "due_date": D, "amount": 1.0},
        {"invoice_id": "I2", "invoice_date": D, "due_date": None, "amount": 1.0},
        {"invoice_id": "I3", "invoice_date": D, "due_date": D - dt.timedelta(days=1),
         "amount": 1.0},  # written past ingestion: the suite still finds it
    ], "r5", "erp_invoices")
    validate_run(con, "r5", None)
    got = dq(con, "r5")
    key = ("erp_invoices", "expect_column_pair_values_a_to_be_greater_than_b(due_date, invoice_date)")
    assert got[key] == (False, 1)
