"""The one-pass paid-by-due-date (kpis.receivables.paid_by_due_date) equals payment
application (kpis.receivables.apply_payments) evaluated at every invoice's due date, on
random books that have every case of the rule: partial payments, payments without an
invoice or for an unknown, void or other customer's invoice, overpayments, refunds with
and without an invoice, payments dated before their invoice, credit notes, equal due
dates, invoices without a customer."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from kpis import receivables

START = dt.date(2024, 1, 1)


def _book(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    n_inv, n_pay = 60, 90
    customers = np.array(["A", "B", "C", "D"])
    issued = rng.integers(0, 120, n_inv)
    terms = rng.choice([0, 10, 30, 30, 45], n_inv)
    amount = np.round(rng.choice([100.0, 250.5, 400.0, 999.99], n_inv), 2)
    amount[rng.random(n_inv) < 0.08] *= -0.3  # credit notes
    invoices = pl.DataFrame(
        {
            "invoice_id": [f"I{i:03d}" for i in range(n_inv)],
            "customer_id": pl.Series(customers[rng.integers(0, 4, n_inv)]).scatter(
                [int(x) for x in rng.choice(n_inv, 2, replace=False)], None
            ),
            "invoice_date": [START + dt.timedelta(days=int(d)) for d in issued],
            "due_date": [START + dt.timedelta(days=int(d + t)) for d, t in zip(issued, terms, strict=True)],
            "amount": np.round(amount, 2),
            "is_void": rng.random(n_inv) < 0.07,
        }
    )
    target = rng.integers(0, n_inv, n_pay)
    refs = [f"I{t:03d}" for t in target]
    kind = rng.random(n_pay)
    invoice_id = [
        None if k < 0.2 else ("X-404" if k < 0.25 else r) for k, r in zip(kind, refs, strict=True)
    ]
    inv_customer = invoices["customer_id"].to_list()
    customer = [
        str(customers[rng.integers(0, 4)]) if k < 0.25 or k > 0.95 or inv_customer[t] is None
        else inv_customer[t]
        for k, t in zip(kind, target, strict=True)
    ]
    day = issued[target] + rng.integers(-15, 80, n_pay)  # some before the invoice date
    money = np.round(amount[target].clip(50) * rng.choice([0.3, 0.5, 1.0, 1.0, 1.2], n_pay), 2)
    money[rng.random(n_pay) < 0.1] *= -0.5  # refunds
    payments = pl.DataFrame(
        {
            "payment_id": [f"P{i:03d}" for i in range(n_pay)],
            "customer_id": customer,
            "invoice_id": invoice_id,
            "payment_date": [START + dt.timedelta(days=int(d)) for d in day],
            "amount": money,
        }
    )
    return invoices, payments


def _by_definition(invoices: pl.DataFrame, payments: pl.DataFrame) -> pl.DataFrame:
    points = invoices.filter(~pl.col("is_void")).select(
        "customer_id", pl.col("due_date").alias("at")
    )
    applied, _ = receivables.apply_payments(invoices, payments, points.drop_nulls())
    return (
        invoices.select("invoice_id", pl.col("due_date").alias("at"))
        .join(applied, on=["invoice_id", "at"], how="left")
        .select("invoice_id", pl.col("paid").fill_null(0.0).alias("paid_on_time"))
    )


@pytest.mark.parametrize("seed", range(12))
def test_one_pass_equals_the_definition(seed: int) -> None:
    invoices, payments = _book(seed)
    fast = receivables.paid_by_due_date(invoices, payments).sort("invoice_id")
    expected = _by_definition(invoices, payments).sort("invoice_id")
    assert fast["invoice_id"].to_list() == expected["invoice_id"].to_list()
    assert fast["paid_on_time"].to_list() == pytest.approx(
        expected["paid_on_time"].to_list(), abs=1e-9
    )
    # the books exercise the rule: money beyond what is due, refunds, early payments
    assert (payments["amount"] < 0).any()
    assert expected["paid_on_time"].sum() > 0


@pytest.mark.parametrize("seed", range(8))
def test_open_invoices_are_the_open_rows_of_the_definition(seed: int) -> None:
    invoices, payments = _book(seed)
    points = (
        invoices.select(pl.col("customer_id").drop_nulls().unique())
        .join(pl.DataFrame({"at": [START + dt.timedelta(days=d) for d in range(-3, 230, 4)]}),
              how="cross")
    )
    applied, _ = receivables.apply_payments(invoices, payments, points)
    keys = ["customer_id", "at", "invoice_id"]
    # open above rounding noise (the two writings add in different orders)
    expected = applied.filter(pl.col("open") > 1e-9).sort(keys)
    got = receivables.open_invoices(invoices, payments, points)
    got = got.filter(pl.col("open") > 1e-9).sort(keys)
    assert got.select(keys).rows() == expected.select(keys).rows()
    assert got["open"].to_list() == pytest.approx(expected["open"].to_list(), abs=1e-9)
    assert got["paid"].to_list() == pytest.approx(expected["paid"].to_list(), abs=1e-9)
    assert expected.height > 100


@pytest.mark.parametrize("seed", range(8))
def test_latest_balances_follow_the_definition_at_every_event(seed: int) -> None:
    """Paid-in-full date: the first invoice or payment date of the customer from which on
    the invoice stays paid in full (apply_payments at every such date)."""
    invoices, payments = _book(seed)
    live = invoices.filter(~pl.col("is_void"))
    events = pl.concat(
        [
            live.select("customer_id", pl.col("invoice_date").alias("at")),
            payments.select("customer_id", pl.col("payment_date").alias("at")),
        ]
    ).drop_nulls()
    applied, _ = receivables.apply_payments(live, payments, events)
    expected = {}
    for (invoice_id,), rows in applied.sort("at").group_by("invoice_id", maintain_order=True):
        full = [r["open"] <= receivables.PAID_TOLERANCE for r in rows.iter_rows(named=True)]
        dates = rows["at"].to_list()
        since = None
        for day, is_full in zip(dates, full, strict=True):
            since = (since or day) if is_full else None
        expected[invoice_id] = (rows["paid"][-1], rows["open"][-1], since)
    got = receivables.latest_balances(invoices, payments)
    assert got.height == len(expected)
    for row in got.iter_rows(named=True):
        paid, open_, since = expected[row["invoice_id"]]
        assert row["paid_amount"] == pytest.approx(paid, abs=1e-9)
        assert row["open_amount"] == pytest.approx(open_, abs=1e-9)
        assert row["paid_in_full_date"] == since, row["invoice_id"]
