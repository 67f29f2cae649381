"""Golden tests of payment application and the receivables KPIs (collection_rate,
on_time_collection_rate, overdue_receivables, dso, kpi.receivables_ageing). Every
expected number is worked out by hand in the comments.

The book (amounts in the reporting currency; as of 2024-03-31, a month end):

customer A (rep r1, team T1, region EU, segment SMB)
  A1 issued 01-05, no due date → due 02-04 (30 days' default terms), 1000
  A2 issued 01-20, due 02-19, 500
  A3 issued 02-10, due 03-11, 300
  A4 issued 03-01, due 03-15, 999, void (counts nowhere)
  pA1 01-31 600 no invoice; pA2 02-25 700 no invoice; pA3 03-20 200 for A2
customer B (rep r2, team T2, region US, segment ENT)
  B1 issued 02-01, due 03-02, 400
  pB1 03-10 500 for B1 (100 overpaid → credit); pB2 03-15 −40 no invoice (refund of credit)
customer C (rep r1)
  C1 issued 03-01, due 03-31, 250
  pC2 03-05 100 for "X-404" (an invoice nobody exported: applied to C); pC1 04-05 250 for
  C1 (after the as-of date)
customer D (rep r2)
  D1 issued 01-10, due 02-09, 200; pD1 02-01 200 for D1; pD2 03-03 −50 for D1 (refund)
customer E (rep r3, team T3, region APAC)
  E1 issued 2023-11-01, due 2023-12-01, 80; E2 issued 2023-12-15, due 2024-01-14, 70; never paid
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from kpi_builders import invoices, kpi_row, kpi_value, make_inputs, payments

from kpis import receivables
from kpis.inputs import KpiInputs
from schemas.config import KpiSettings

D = dt.date
AS_OF = D(2024, 3, 31)
A = {"customer_id": "A", "rep_id": "r1", "team": "T1", "region": "EU", "segment": "SMB"}
B = {"customer_id": "B", "rep_id": "r2", "team": "T2", "region": "US", "segment": "ENT"}
C = {"customer_id": "C", "rep_id": "r1", "team": "T1", "region": "EU", "segment": "SMB"}
Dd = {"customer_id": "D", "rep_id": "r2", "team": "T2", "region": "US", "segment": "ENT"}
E = {"customer_id": "E", "rep_id": "r3", "team": "T3", "region": "APAC", "segment": "SMB"}


def book() -> tuple[pl.DataFrame, pl.DataFrame]:
    inv = invoices(
        [
            {**A, "invoice_id": "A1", "invoice_date": D(2024, 1, 5), "amount": 1000.0},
            {**A, "invoice_id": "A2", "invoice_date": D(2024, 1, 20), "due_date": D(2024, 2, 19),
             "amount": 500.0},
            {**A, "invoice_id": "A3", "invoice_date": D(2024, 2, 10), "due_date": D(2024, 3, 11),
             "amount": 300.0},
            {**A, "invoice_id": "A4", "invoice_date": D(2024, 3, 1), "due_date": D(2024, 3, 15),
             "amount": 999.0, "status": "void"},
            {**B, "invoice_id": "B1", "invoice_date": D(2024, 2, 1), "due_date": D(2024, 3, 2),
             "amount": 400.0},
            {**C, "invoice_id": "C1", "invoice_date": D(2024, 3, 1), "due_date": D(2024, 3, 31),
             "amount": 250.0},
            {**Dd, "invoice_id": "D1", "invoice_date": D(2024, 1, 10), "due_date": D(2024, 2, 9),
             "amount": 200.0},
            {**E, "invoice_id": "E1", "invoice_date": D(2023, 11, 1), "due_date": D(2023, 12, 1),
             "amount": 80.0},
            {**E, "invoice_id": "E2", "invoice_date": D(2023, 12, 15),
             "due_date": D(2024, 1, 14), "amount": 70.0},
        ]
    )
    pay = payments(
        [
            {"payment_id": "pA1", "payment_date": D(2024, 1, 31), "customer_id": "A", "amount": 600.0},
            {"payment_id": "pA2", "payment_date": D(2024, 2, 25), "customer_id": "A", "amount": 700.0},
            {"payment_id": "pA3", "payment_date": D(2024, 3, 20), "customer_id": "A",
             "invoice_id": "A2", "amount": 200.0},
            {"payment_id": "pB1", "payment_date": D(2024, 3, 10), "customer_id": "B",
             "invoice_id": "B1", "amount": 500.0},
            {"payment_id": "pB2", "payment_date": D(2024, 3, 15), "customer_id": "B", "amount": -40.0},
            {"payment_id": "pC2", "payment_date": D(2024, 3, 5), "customer_id": "C",
             "invoice_id": "X-404", "amount": 100.0},
            {"payment_id": "pC1", "payment_date": D(2024, 4, 5), "customer_id": "C",
             "invoice_id": "C1", "amount": 250.0},
            {"payment_id": "pD1", "payment_date": D(2024, 2, 1), "customer_id": "D",
             "invoice_id": "D1", "amount": 200.0},
            {"payment_id": "pD2", "payment_date": D(2024, 3, 3), "customer_id": "D",
             "invoice_id": "D1", "amount": -50.0},
        ]
    )
    return inv, pay


def inputs_as_of(as_of: dt.date) -> KpiInputs:
    inv, pay = book()
    return make_inputs(as_of, invoices=inv, payments=pay)


def test_payment_application_as_of_the_as_of_date() -> None:
    inputs = inputs_as_of(AS_OF)
    per_invoice, credit = receivables.balances_as_of(
        inputs.invoices, inputs.payments, inputs.as_of
    )
    paid = dict(zip(per_invoice["invoice_id"], per_invoice["paid"], strict=True))
    assert paid == {
        # A: pA3 200 goes to A2; the 1300 without an invoice go oldest due first:
        # A1 (due 02-04) 1000, A2 (02-19) the 300 it still owes, A3 (03-11) nothing
        "A1": 1000.0, "A2": 500.0, "A3": 0.0,
        "B1": 400.0,  # 500 paid for it: 400 applied, 100 credit
        "C1": 100.0,  # pC2's invoice is unknown: the customer's money, to its open C1
        "D1": 150.0,  # 200 paid, 50 refunded
        "E1": 0.0, "E2": 0.0,
    }  # A4 is void: not there
    assert dict(zip(credit["customer_id"], credit["credit"], strict=True)) == {
        "A": 0.0, "B": 60.0,  # 100 overpaid − 40 refunded
        "C": 0.0, "D": 0.0, "E": 0.0,
    }


def test_payment_application_in_the_past_ignores_later_payments() -> None:
    inputs = inputs_as_of(D(2024, 2, 29))
    per_invoice, credit = receivables.balances_as_of(inputs.invoices, inputs.payments, inputs.as_of)
    paid = dict(zip(per_invoice["invoice_id"], per_invoice["paid"], strict=True))
    # by 02-29: A has 600 + 700 = 1300 → A1 1000, A2 300 (partially paid), A3 0;
    # B1 not paid yet (pB1 is 03-10); D1 paid 200 (the refund is 03-03); C1 not issued yet
    assert paid == {"A1": 1000.0, "A2": 300.0, "A3": 0.0, "B1": 0.0, "D1": 200.0,
                    "E1": 0.0, "E2": 0.0}
    assert credit["credit"].sum() == 0.0


def test_credit_applies_to_a_later_invoice_and_an_earlier_due_date_comes_first() -> None:
    inv = invoices(
        [
            {"invoice_id": "K1", "customer_id": "K", "invoice_date": D(2024, 1, 1),
             "due_date": D(2024, 4, 30), "amount": 100.0},
            {"invoice_id": "K2", "customer_id": "K", "invoice_date": D(2024, 2, 1),
             "due_date": D(2024, 2, 15), "amount": 100.0},
        ]
    )
    pay = payments([{"payment_id": "q", "customer_id": "K", "payment_date": D(2023, 12, 20),
                     "amount": 150.0}])
    # 12-31: no invoice yet, the 150 is credit
    _, credit = receivables.balances_as_of(inv, pay, D(2023, 12, 31))
    assert credit.rows() == [("K", 150.0)]
    # 01-15: K1 takes 100 of the credit, 50 left
    per_invoice, credit = receivables.balances_as_of(inv, pay, D(2024, 1, 15))
    assert per_invoice.select("invoice_id", "paid").rows() == [("K1", 100.0)]
    assert credit.rows() == [("K", 50.0)]
    # 02-01: K2 (due 02-15) is due before K1 (04-30): it is paid first, 100; K1 gets 50
    per_invoice, credit = receivables.balances_as_of(inv, pay, D(2024, 2, 1))
    assert sorted(per_invoice.select("invoice_id", "paid").rows()) == [("K1", 50.0), ("K2", 100.0)]
    assert credit.rows() == [("K", 0.0)]


def test_a_refund_beyond_the_credit_lowers_the_latest_due_paid_invoice() -> None:
    inv = invoices(
        [
            {"invoice_id": "R1", "customer_id": "R", "invoice_date": D(2024, 1, 1),
             "due_date": D(2024, 1, 31), "amount": 100.0},
            {"invoice_id": "R2", "customer_id": "R", "invoice_date": D(2024, 1, 2),
             "due_date": D(2024, 2, 1), "amount": 100.0},
        ]
    )
    pay = payments(
        [
            {"payment_id": "x1", "customer_id": "R", "invoice_id": "R1",
             "payment_date": D(2024, 1, 5), "amount": 100.0},
            {"payment_id": "x2", "customer_id": "R", "invoice_id": "R2",
             "payment_date": D(2024, 1, 5), "amount": 100.0},
            {"payment_id": "x3", "customer_id": "R", "payment_date": D(2024, 1, 9),
             "amount": -30.0},  # no invoice, no credit to take it from
        ]
    )
    per_invoice, credit = receivables.balances_as_of(inv, pay, D(2024, 1, 10))
    # the 30 come off R2 (latest due); R1 stays paid
    assert sorted(per_invoice.select("invoice_id", "paid", "open").rows()) == [
        ("R1", 100.0, 0.0), ("R2", 70.0, 30.0)]
    assert credit.rows() == [("R", 0.0)]


def test_collection_rate_and_on_time_collection_rate() -> None:
    values = receivables.kpi_values(inputs_as_of(AS_OF), KpiSettings())
    feb, mar = D(2024, 2, 1), D(2024, 3, 1)
    # due in Feb: A1 1000 (default terms), A2 500, D1 200 = 1700;
    # paid by 03-31: A1 1000 + A2 500 + D1 150 = 1650
    row = kpi_row(values, "collection_rate", "month", feb)
    assert (row["numerator"], row["denominator"]) == (1650.0, 1700.0)
    assert row["value"] == pytest.approx(1650 / 1700)
    # due in March: B1 400, A3 300, C1 250 (A4 void) = 950; paid: 400 + 0 + 100 = 500
    row = kpi_row(values, "collection_rate", "month", mar)
    assert (row["numerator"], row["denominator"]) == (500.0, 950.0)
    # by rep, Feb: r1 (A1, A2) 1500 / 1500; r2 (D1) 150 / 200
    assert kpi_value(values, "collection_rate", "month", feb, "rep", "r1") == 1.0
    assert kpi_value(values, "collection_rate", "month", feb, "rep", "r2") == 0.75
    assert kpi_value(values, "collection_rate", "month", feb, "segment", "ENT") == 0.75
    # Dec 2023: E1 80 due, nothing paid → 0
    assert kpi_value(values, "collection_rate", "month", D(2023, 12, 1)) == 0.0
    # Q1: due 1700 + 950 + E2 70 = 2720, paid 1650 + 500 = 2150
    row = kpi_row(values, "collection_rate", "quarter", D(2024, 1, 1))
    assert (row["numerator"], row["denominator"]) == (2150.0, 2720.0)

    # on time, Feb: A1 by 02-04: pA1 600 (01-31) → 600; A2 by 02-19: A's 600 all went to
    # A1 → 0; D1 by 02-09: pD1 200 → 200. 800 / 1700
    row = kpi_row(values, "on_time_collection_rate", "month", feb)
    assert (row["numerator"], row["denominator"]) == (800.0, 1700.0)
    # on time, March: A3 by 03-11: A's 1300 cover A1 and 300 of A2 → 0; B1 by 03-02: 0;
    # C1 by 03-31: pC2's 100 → 100. 100 / 950
    row = kpi_row(values, "on_time_collection_rate", "month", mar)
    assert (row["numerator"], row["denominator"]) == (100.0, 950.0)


def test_collection_rate_as_of_a_past_date() -> None:
    values = receivables.kpi_values(inputs_as_of(D(2024, 2, 29)), KpiSettings())
    # due in Feb 1700; paid by 02-29: A1 1000, A2 300, D1 200 = 1500 (later payments do
    # not count)
    row = kpi_row(values, "collection_rate", "month", D(2024, 2, 1))
    assert (row["numerator"], row["denominator"]) == (1500.0, 1700.0)
    assert values.filter(pl.col("period_start") > D(2024, 2, 1)).is_empty()


def test_overdue_receivables_at_each_period_end() -> None:
    values = receivables.kpi_values(inputs_as_of(AS_OF), KpiSettings())
    overdue = {
        p: kpi_value(values, "overdue_receivables", "month", p)
        for p in (D(2023, 11, 1), D(2023, 12, 1), D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1))
    }
    assert overdue == {
        D(2023, 11, 1): 0.0,  # 11-30: E1 is due 12-01
        D(2023, 12, 1): 80.0,  # 12-31: E1
        D(2024, 1, 1): 150.0,  # 01-31: E1 80 + E2 70 (A1, A2, D1 not due yet)
        # 02-29: A2 (due 02-19) still owes 200 of 500 + E 150; A3, B1 not due
        D(2024, 2, 1): 350.0,
        # 03-31: A3 300 (due 03-11) + D1 50 (refunded) + E 150; C1 is due that day
        D(2024, 3, 1): 500.0,
    }
    assert kpi_value(values, "overdue_receivables", "month", D(2024, 3, 1), "rep", "r3") == 150.0
    assert kpi_value(values, "overdue_receivables", "quarter", D(2024, 1, 1)) == 500.0
    assert kpi_value(values, "overdue_receivables", "year", D(2023, 1, 1)) == 80.0


def test_dso() -> None:
    values = receivables.kpi_values(inputs_as_of(AS_OF), KpiSettings())
    # Dec 2023: open at 12-31 E1 80 + E2 70 = 150; invoiced in Dec: E2 70; 31 days
    row = kpi_row(values, "dso", "month", D(2023, 12, 1))
    assert (row["numerator"], row["denominator"]) == (150.0, 70.0)
    assert row["value"] == pytest.approx(150 / 70 * 31)
    # Jan: open at 01-31: A1 400 (600 paid), A2 500, D1 200, E 150 = 1250; invoiced
    # A1 1000 + A2 500 + D1 200 = 1700; 31 days
    row = kpi_row(values, "dso", "month", D(2024, 1, 1))
    assert (row["numerator"], row["denominator"]) == (1250.0, 1700.0)
    assert row["value"] == pytest.approx(1250 / 1700 * 31)
    # Feb: open at 02-29: A2 200 + A3 300 + B1 400 + E 150 = 1050; invoiced A3 300 +
    # B1 400 = 700; 29 days → 43.5
    assert kpi_value(values, "dso", "month", D(2024, 2, 1)) == pytest.approx(43.5)
    # March (at 03-31): open A3 300 + C1 150 + D1 50 + E 150 = 650; invoiced C1 250
    # (A4 void); 31 days → 80.6
    assert kpi_value(values, "dso", "month", D(2024, 3, 1)) == pytest.approx(80.6)


def test_receivables_ageing_at_a_month_end() -> None:
    table = receivables.receivables_ageing(inputs_as_of(AS_OF), KpiSettings())
    cols = ["customer_id", "rep_id", "current", "1_30", "31_60", "61_90", "over_90",
            "open_amount", "overdue_amount", "unapplied_credit"]
    assert table.select(cols).rows() == [
        ("A", "r1", 0.0, 300.0, 0.0, 0.0, 0.0, 300.0, 300.0, 0.0),  # A3: 20 days past due
        ("B", "r2", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 60.0),  # B's credit only
        ("C", "r1", 150.0, 0.0, 0.0, 0.0, 0.0, 150.0, 0.0, 0.0),  # C1 due today: current
        ("D", "r2", 0.0, 0.0, 50.0, 0.0, 0.0, 50.0, 50.0, 0.0),  # D1: 51 days
        # E2 due 01-14: 77 days; E1 due 12-01: 121 days
        ("E", "r3", 0.0, 0.0, 0.0, 70.0, 80.0, 150.0, 150.0, 0.0),
    ]
    assert set(table["as_of"]) == {AS_OF}
    # in the past: 02-29, A2 owes 200 (10 days past due), A3 300 is not due yet
    past = receivables.receivables_ageing(inputs_as_of(D(2024, 2, 29)), KpiSettings())
    assert past.filter(pl.col("customer_id") == "A").select(cols[2:8]).rows() == [
        (300.0, 200.0, 0.0, 0.0, 0.0, 500.0)
    ]


def test_latest_balances_for_the_invoice_mart() -> None:
    inv, pay = book()
    latest = receivables.latest_balances(inv, pay).sort("invoice_id")
    # the latest data date is 04-05 (pC1)
    assert latest.rows() == [
        ("A1", 1000.0, 0.0, D(2024, 2, 25), 21),  # full with pA2 on 02-25; due 02-04
        ("A2", 500.0, 0.0, D(2024, 3, 20), 30),  # full with pA3 on 03-20; due 02-19
        ("A3", 0.0, 300.0, None, 25),  # open: 04-05 − 03-11
        ("B1", 400.0, 0.0, D(2024, 3, 10), 8),  # due 03-02
        ("C1", 250.0, 0.0, D(2024, 4, 5), 5),  # pC1 on 04-05; due 03-31
        ("D1", 150.0, 50.0, None, 56),  # paid 02-01, refunded 50 on 03-03: open again
        ("E1", 0.0, 80.0, None, 126),
        ("E2", 0.0, 70.0, None, 82),
    ]
