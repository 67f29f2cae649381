"""Receivables (docs/kpis.md): payment application, collection_rate, on_time_collection_rate,
overdue_receivables, dso, and the table ``kpi.receivables_ageing``.

Payment application is defined here, once (:func:`apply_payments`), as of a date d:
only invoices issued and payments dated on or before d count. A payment whose
``invoice_id`` is one of the customer's (not void) invoices of d applies to it, up to
its amount; one without (or whose invoice is unknown, void or not yet issued on d), and
what a payment pays beyond its invoice's amount, is the customer's money, applied to the
customer's open invoices oldest due date first (then oldest invoice date, then id); what
exceeds their open amount is the customer's unapplied credit. A negative payment is a
refund: with an invoice it lowers that invoice's paid amount; without, it lowers the
customer's money, and where that goes below zero, the paid amounts of the customer's
invoices, latest due date first. An invoice of a negative amount (a credit note) adds to
the customer's money. Void invoices count nowhere. Because the rule is as of d, a
credit applies to invoices issued later (as of their date), and an invoice issued
later with an earlier due date takes the customer's money first from its date on.

The KPI functions call it as of their dates (the as-of date, each invoice's due date,
each period end); the dbt Python models ``int_invoices_paid`` and
``int_payments_applied`` call it as of the latest data for the marts' paid columns
(docs/architecture.md, "Payment application").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from kpis.inputs import KpiInputs
from kpis.periods import CALENDAR_GRAINS, Grain, aggregate_by_period, period_grid
from kpis.values import UNKNOWN, safe_ratio, to_kpi_values
from schemas.config import KpiSettings

#: dimension name -> fct_invoices column (the invoice's rep, else its customer's owner;
#: the rep's team and region; the customer's segment and acquisition channel)
INVOICE_DIMENSIONS: dict[str, str] = {
    "rep": "rep_id",
    "team": "team",
    "region": "region",
    "segment": "segment",
    "channel": "channel",
}
#: an open amount below this (in the reporting currency) is paid in full
PAID_TOLERANCE = 0.005
#: the ageing buckets of kpi.receivables_ageing, by days past due: ≤ 0, 1–30, 31–60,
#: 61–90, more
AGEING_BUCKETS: tuple[str, ...] = ("current", "1_30", "31_60", "61_90", "over_90")
AGEING_SCHEMA: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "customer_id": pl.String(),
    "rep_id": pl.String(),
    "current": pl.Float64(),
    "1_30": pl.Float64(),
    "31_60": pl.Float64(),
    "61_90": pl.Float64(),
    "over_90": pl.Float64(),
    "open_amount": pl.Float64(),
    "overdue_amount": pl.Float64(),
    "unapplied_credit": pl.Float64(),
}

_POINT = ["customer_id", "at"]


def apply_payments(
    invoices: pl.DataFrame, payments: pl.DataFrame, points: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Payment application (module docstring) as of each point.

    ``invoices``: invoice_id, customer_id, invoice_date, due_date (defaulted), amount,
    is_void; ``payments``: payment_id, customer_id (the payment's, else its invoice's),
    invoice_id, payment_date, amount; ``points``: customer_id, at (a date).

    Returns (per point and invoice of the customer issued on or before ``at``:
    customer_id, at, invoice_id, amount, paid, open), and (per point: customer_id, at,
    credit — the unapplied credit, negative where refunds exceed what was paid).
    """
    points = points.select("customer_id", pl.col("at").cast(pl.Date)).unique()
    issued = (
        points.lazy()
        .join(
            invoices.lazy()
            .filter(~pl.col("is_void").fill_null(False))
            .select("invoice_id", "customer_id", "invoice_date", "due_date", "amount"),
            on="customer_id",
        )
        .filter(pl.col("invoice_date") <= pl.col("at"))
    )
    # what each customer paid by each point, in total and per invoice it names: running
    # totals looked up as of the point (no point × payment product)
    money = payments.lazy().select(
        "customer_id", "invoice_id", "payment_date", pl.col("amount").alias("money")
    )
    by_invoice = (
        money.drop_nulls("invoice_id")
        .group_by("customer_id", "invoice_id", "payment_date")
        .agg(pl.col("money").sum())
    )
    by_customer = (
        money.group_by("customer_id", "payment_date")
        .agg(pl.col("money").sum())
        .sort("payment_date")
        .with_columns(pl.col("money").cum_sum().over("customer_id").alias("paid_total"))
    )
    keys = [*_POINT, "invoice_id"]
    direct = (
        issued.select(keys)
        .join(by_invoice, on=["customer_id", "invoice_id"])
        .filter(pl.col("payment_date") <= pl.col("at"))
        .group_by(keys)
        .agg(pl.col("money").sum().alias("direct"))
    )
    unreferenced = (
        points.lazy()
        .sort("at")
        .join_asof(
            by_customer,
            left_on="at",
            right_on="payment_date",
            by="customer_id",
            strategy="backward",
            check_sortedness=False,  # sorted on the date: sorted within each customer
        )
        .filter(pl.col("paid_total").is_not_null())  # points with money in by then
        .join(direct.group_by(_POINT).agg(pl.col("direct").sum()), on=_POINT, how="left")
        .select(
            *_POINT,
            (pl.col("paid_total").fill_null(0.0) - pl.col("direct").fill_null(0.0)).alias(
                "unreferenced"
            ),
        )
    )
    owed = pl.col("amount").clip(lower_bound=0)
    direct_applied = pl.col("direct").clip(lower_bound=0).clip(upper_bound=owed)
    rows = (
        issued.join(direct, on=keys, how="left")
        .with_columns(pl.col("direct").fill_null(0.0))
        .with_columns(
            owed.alias("owed"),
            direct_applied.alias("direct_applied"),
        )
        .with_columns(
            (pl.col("direct") - pl.col("direct_applied")).alias("excess"),
            (-pl.col("amount")).clip(lower_bound=0).alias("credit_note"),
            (pl.col("owed") - pl.col("direct_applied")).alias("open_before"),
        )
    )
    pools = (
        rows.group_by(_POINT)
        .agg(
            (pl.col("excess").sum() + pl.col("credit_note").sum()).alias("from_invoices"),
            pl.col("open_before").sum().alias("open_total"),
            pl.col("direct_applied").sum().alias("direct_total"),
        )
        .join(unreferenced, on=_POINT, how="full", coalesce=True)
        .select(
            *_POINT,
            (pl.col("from_invoices").fill_null(0) + pl.col("unreferenced").fill_null(0)).alias(
                "pool"
            ),
            pl.col("open_total").fill_null(0),
            pl.col("direct_total").fill_null(0),
        )
    )
    applied = (
        rows.join(pools.select(*_POINT, "pool"), on=_POINT, how="left")
        .sort([*_POINT, "due_date", "invoice_date", "invoice_id"])
        .with_columns(
            # money in, oldest due first: what is left of the pool after the earlier invoices
            (pl.col("open_before").cum_sum().over(_POINT) - pl.col("open_before")).alias(
                "open_earlier"
            ),
            # refunds beyond the money: taken back from the latest due invoices first
            (
                pl.col("direct_applied").cum_sum(reverse=True).over(_POINT)
                - pl.col("direct_applied")
            ).alias("paid_later"),
        )
        .with_columns(
            (pl.col("pool") - pl.col("open_earlier"))
            .clip(lower_bound=0)
            .clip(upper_bound=pl.col("open_before"))
            .alias("fifo"),
            ((-pl.col("pool")) - pl.col("paid_later"))
            .clip(lower_bound=0)
            .clip(upper_bound=pl.col("direct_applied"))
            .alias("taken_back"),
        )
        .select(
            *_POINT,
            "invoice_id",
            "amount",
            (pl.col("direct_applied") + pl.col("fifo") - pl.col("taken_back")).alias("paid"),
        )
        .with_columns((pl.col("amount").clip(lower_bound=0) - pl.col("paid")).alias("open"))
    )
    credit = pools.select(
        *_POINT,
        pl.when(pl.col("pool") > pl.col("open_total"))
        .then(pl.col("pool") - pl.col("open_total"))
        .when(pl.col("pool") < -pl.col("direct_total"))
        .then(pl.col("pool") + pl.col("direct_total"))
        .otherwise(0.0)
        .alias("credit"),
    )
    return pl.collect_all([applied, credit])  # type: ignore[return-value]


def _customer_points(invoices: pl.DataFrame, dates: Sequence[dt.date]) -> pl.DataFrame:
    """Every customer with an invoice, at each of ``dates``."""
    customers = invoices.select(pl.col("customer_id").drop_nulls().unique())
    return customers.join(
        pl.DataFrame({"at": list(dates)}, schema={"at": pl.Date}), how="cross"
    )


def balances_as_of(
    invoices: pl.DataFrame, payments: pl.DataFrame, as_of: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`apply_payments` as of one date for every customer: (per invoice issued by
    then: the invoices' columns plus paid, open), (per customer: customer_id, credit)."""
    applied, credit = apply_payments(invoices, payments, _customer_points(invoices, [as_of]))
    per_invoice = invoices.join(
        applied.select("invoice_id", "paid", "open"), on="invoice_id", how="inner"
    )
    return per_invoice, credit.select("customer_id", "credit")


def paid_by_due_date(invoices: pl.DataFrame, payments: pl.DataFrame) -> pl.DataFrame:
    """invoice_id, paid_on_time: each invoice's paid amount as of its own due date.

    The same as :func:`apply_payments` at each invoice's due date, in one pass over the
    invoices in application order
    (docs/decisions/0010-payment-application-by-running-totals.md): every invoice due earlier was issued by then (an invoice is never due before its
    date), so what is open before an invoice on its due date is a running total, and the
    direct payments counted are those dated by that due date. Falls back to evaluating
    :func:`apply_payments` at every due date when an invoice is due before its date.
    """
    live = invoices.filter(~pl.col("is_void").fill_null(False))
    if live.filter(pl.col("due_date") < pl.col("invoice_date")).height:
        points = live.select("customer_id", pl.col("due_date").alias("at"))
        applied, _ = apply_payments(invoices, payments, points.drop_nulls())
        due = invoices.select("invoice_id", pl.col("due_date").alias("at"))
        return due.join(applied, on=["invoice_id", "at"], how="left").select(
            "invoice_id", pl.col("paid").fill_null(0.0).alias("paid_on_time")
        )
    on_time = _paid_at_due_dates(
        live.filter(pl.col("customer_id").is_not_null() & pl.col("due_date").is_not_null()),
        payments.filter(pl.col("customer_id").is_not_null()),
    )
    return invoices.select("invoice_id").join(on_time, on="invoice_id", how="left").select(
        "invoice_id", pl.col("paid_on_time").fill_null(0.0)
    )


_DAY = pl.Int64  # dates as day numbers for the running totals
_SHIFT = 1 << 32  # customer position × _SHIFT + day number + _SHIFT / 2: one sortable key


def _ledger(
    live: pl.DataFrame, payments: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The running totals of payment application: (invoices in application order: k, c
    (customer position), invoice_id, customer_id, issued, due (day numbers), amount,
    owed, credit_note), (per invoice k and day its direct payments change: the direct
    sum, direct_applied ``applied``, and the changes d_applied, d_excess), (per customer
    c and day: the customer's money ``pool`` from then on: excess, credit notes and
    payments that name no invoice of the customer issued by then)."""
    inv = (
        live.select(
            "invoice_id",
            "customer_id",
            pl.col("invoice_date").cast(_DAY).alias("issued"),
            pl.col("due_date").cast(_DAY).alias("due"),
            "amount",
        )
        .sort("customer_id", "due", "issued", "invoice_id")
        .with_row_index("k")
        .with_columns(
            pl.col("customer_id").rle_id().cast(pl.Int64).alias("c"),
            pl.col("k").cast(pl.Int64),
            pl.col("amount").clip(lower_bound=0).alias("owed"),
            (-pl.col("amount")).clip(lower_bound=0).alias("credit_note"),
        )
    )
    pays = payments.select(
        "customer_id",
        "invoice_id",
        pl.col("payment_date").cast(_DAY).alias("day"),
        pl.col("amount").alias("money"),
    ).join(inv.select("customer_id", "c").unique(), on="customer_id", how="inner")
    direct = pays.join(
        inv.select("invoice_id", "customer_id", "k", "issued", "owed"),
        on=["invoice_id", "customer_id"],
        how="inner",
    )
    # a payment dated before its invoice is the customer's money until the invoice date
    unreferenced = pl.concat(
        [
            pays.join(direct.select("invoice_id", "customer_id").unique(),
                      on=["invoice_id", "customer_id"], how="anti", nulls_equal=False)
            .select("c", "day", "money"),
            direct.filter(pl.col("day") < pl.col("issued")).select("c", "day", "money"),
            direct.filter(pl.col("day") < pl.col("issued")).select(
                "c", pl.col("issued").alias("day"), (-pl.col("money")).alias("money")
            ),
        ]
    )
    # each invoice's direct_applied and excess after each day of its direct payments
    steps = (
        direct.group_by("k", "c", "owed", pl.max_horizontal("day", "issued").alias("day"))
        .agg(pl.col("money").sum())
        .sort("k", "day")
        .with_columns(pl.col("money").cum_sum().over("k").alias("direct"))
        .with_columns(pl.col("direct").clip(lower_bound=0).clip(upper_bound=pl.col("owed"))
                      .alias("applied"))
        .with_columns(
            (pl.col("applied") - pl.col("applied").shift(1, fill_value=0.0).over("k"))
            .alias("d_applied"),
            (
                (pl.col("direct") - pl.col("applied"))
                - (pl.col("direct") - pl.col("applied")).shift(1, fill_value=0.0).over("k")
            ).alias("d_excess"),
        )
    )
    # the customer's money (pool) as of each day: excess, credit notes, unreferenced
    pool_events = (
        pl.concat(
            [
                steps.select("c", "day", pl.col("d_excess").alias("money")),
                inv.filter(pl.col("credit_note") > 0).select(
                    "c", pl.col("issued").alias("day"), pl.col("credit_note").alias("money")
                ),
                unreferenced,
            ]
        )
        .group_by("c", "day")
        .agg(pl.col("money").sum())
        .sort("c", "day")
        .with_columns(pl.col("money").cum_sum().over("c").alias("pool"))
    )
    return inv, steps, pool_events


def _paid_at_due_dates(live: pl.DataFrame, payments: pl.DataFrame) -> pl.DataFrame:
    """:func:`paid_by_due_date` for invoices (not void, with a customer and a due date,
    none due before its date) as running totals per customer in application order.

    With the invoices of a customer in application order (due date, invoice date, id),
    invoice i as of its due date t_i: direct_applied(i) from its payments dated by t_i;
    the customer's money (pool) from every event dated by t_i; open before i =
    owed of the invoices before i − their direct_applied as of t_i; paid later = the
    direct_applied as of t_i of the invoices after i. A direct payment event of invoice j
    on day d counts for the invoices i > j with t_i ≥ d (a suffix of the customer's
    invoices: t is sorted) and, as paid later, for those i < j with t_i ≥ d (a range).
    """
    inv, steps, pool_events = _ledger(live, payments)
    key = (inv["c"] * _SHIFT + inv["due"] + _SHIFT // 2).to_numpy()
    ends = inv.group_by("c").agg(pl.col("k").max().alias("last"))
    queries = inv.select("k", "c", pl.col("due").alias("day")).sort("day")
    pool = queries.join_asof(
        pool_events.select("c", "day", "pool").sort("day"),
        on="day",
        by="c",
        strategy="backward",
        check_sortedness=False,  # sorted on the day: sorted within each customer
    ).select("k", pl.col("pool").fill_null(0.0))
    own = queries.join_asof(
        steps.select("k", "day", "applied").sort("day"),
        on="day",
        by="k",
        strategy="backward",
        check_sortedness=False,  # sorted on the day: sorted within each invoice
    ).select("k", pl.col("applied").fill_null(0.0))
    # where each direct_applied change lands: the first invoice of the customer due on
    # or after its day (t sorted), then a suffix (before) or a range up to j (later)
    first = np.searchsorted(
        key, (steps["c"] * _SHIFT + steps["day"] + _SHIFT // 2).to_numpy(), "left"
    )
    moves = steps.select("k", "c", "d_applied").with_columns(
        pl.Series("first", first, dtype=pl.Int64)
    )
    n = inv.height
    before = np.zeros(n + 1)
    start = moves.select(pl.max_horizontal(pl.col("k") + 1, "first").alias("at"), "c",
                         "d_applied").join(ends, on="c")
    start = start.filter(pl.col("at") <= pl.col("last"))
    np.add.at(before, start["at"].to_numpy(), start["d_applied"].to_numpy())
    later = np.zeros(n + 1)
    ranged = moves.filter(pl.col("first") < pl.col("k"))
    np.add.at(later, ranged["first"].to_numpy(), ranged["d_applied"].to_numpy())
    np.add.at(later, ranged["k"].to_numpy(), -ranged["d_applied"].to_numpy())
    totals = (
        inv.select("k", "c", "invoice_id", "owed")
        .with_columns(
            pl.Series("before", before[:n]),
            pl.Series("later", later[:n]),
        )
        .with_columns(
            (pl.col("owed").cum_sum().over("c") - pl.col("owed")).alias("owed_earlier"),
            pl.col("before").cum_sum().over("c").alias("applied_earlier"),
            pl.col("later").cum_sum().over("c").alias("paid_later"),
        )
        .join(pool, on="k")
        .join(own, on="k")
    )
    open_before = pl.col("owed") - pl.col("applied")
    open_earlier = pl.col("owed_earlier") - pl.col("applied_earlier")
    fifo = (pl.col("pool") - open_earlier).clip(lower_bound=0).clip(upper_bound=open_before)
    taken_back = (
        (-pl.col("pool") - pl.col("paid_later"))
        .clip(lower_bound=0)
        .clip(upper_bound=pl.col("applied"))
    )
    return totals.select(
        "invoice_id", (pl.col("applied") + fifo - taken_back).alias("paid_on_time")
    )


def open_invoices(
    invoices: pl.DataFrame, payments: pl.DataFrame, points: pl.DataFrame
) -> pl.DataFrame:
    """The rows of :func:`apply_payments` (customer_id, at, invoice_id, amount, paid,
    open) whose open amount is above 0, without the rows of the invoices paid in full.

    Where the customer's money is not negative at a point, an invoice whose direct
    payments cover it is paid in full there and takes nothing from the money, so only
    the invoices open before the money (direct_applied below what is owed) are ranked:
    each such stretch of an invoice's life meets the points inside it. Points where
    the money is negative (a refund beyond it) go through :func:`apply_payments`.
    (docs/decisions/0010-payment-application-by-running-totals.md)
    """
    live = invoices.filter(
        ~pl.col("is_void").fill_null(False) & pl.col("customer_id").is_not_null()
    )
    schema = {
        "customer_id": pl.String,
        "at": pl.Date,
        "invoice_id": pl.String,
        "amount": pl.Float64,
        "paid": pl.Float64,
        "open": pl.Float64,
    }
    if live.is_empty():
        return pl.DataFrame(schema=schema)
    inv, steps, pool_events = _ledger(live, payments)
    customers = inv.select("customer_id", "c").unique()
    pts = (
        points.select("customer_id", pl.col("at").cast(pl.Date))
        .unique()
        .join(customers, on="customer_id")
        .with_columns(pl.col("at").cast(_DAY).alias("day"))
        .sort("c", "day")
        .with_row_index("p")
        .with_columns(pl.col("p").cast(pl.Int64))
    )
    pool = (
        pts.sort("day")
        .join_asof(
            pool_events.select("c", "day", "pool").sort("day"),
            on="day",
            by="c",
            strategy="backward",
            check_sortedness=False,  # sorted on the day: sorted within each customer
        )
        .select("p", pl.col("pool").fill_null(0.0))
        .sort("p")
    )["pool"].to_numpy()
    negative = pts.filter(pl.Series(pool < 0))
    # each invoice's stretches of life with the same direct_applied, where it is below
    # what is owed: from its invoice date (nothing applied yet) and each change on
    stretches = (
        pl.concat(
            [
                inv.select("k", "c", "owed", pl.col("issued").alias("start"),
                           pl.lit(0.0).alias("applied")),
                steps.join(inv.select("k", "owed"), on="k").select(
                    "k", "c", "owed", pl.col("day").alias("start"), "applied"
                ),
            ]
        )
        .sort("k", "start", maintain_order=True)  # a change on the invoice date wins
        .unique(["k", "start"], keep="last", maintain_order=True)
        .with_columns(pl.col("start").shift(-1).over("k").alias("end"))
        .filter(pl.col("applied") < pl.col("owed"))
    )
    key = (pts["c"] * _SHIFT + pts["day"] + _SHIFT // 2).to_numpy()
    base = stretches["c"].to_numpy() * _SHIFT + _SHIFT // 2
    lo = np.searchsorted(key, base + stretches["start"].to_numpy(), "left")
    end = stretches["end"].fill_null(_SHIFT // 2 - 1).to_numpy()
    hi = np.searchsorted(key, base + end, "left")
    count = np.maximum(hi - lo, 0)
    which = np.repeat(np.arange(stretches.height), count)
    point = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
    rows = (
        stretches.select("k", "owed", "applied")[which]
        .with_columns(
            pl.Series("p", point, dtype=pl.Int64), pl.Series("pool", pool[point])
        )
        .filter(pl.col("pool") >= 0)
        .sort("p", "k")
        .with_columns((pl.col("owed") - pl.col("applied")).alias("open_before"))
        .with_columns(
            (pl.col("open_before").cum_sum().over("p") - pl.col("open_before")).alias(
                "open_earlier"
            )
        )
        .with_columns(
            (
                pl.col("applied")
                + (pl.col("pool") - pl.col("open_earlier"))
                .clip(lower_bound=0)
                .clip(upper_bound=pl.col("open_before"))
            ).alias("paid")
        )
        .with_columns((pl.col("owed") - pl.col("paid")).alias("open"))
        .filter(pl.col("open") > 0)
        .join(pts.select("p", "customer_id", "at"), on="p")
        .join(inv.select("k", "invoice_id", "amount"), on="k")
        .select(list(schema))
    )
    if negative.height:
        refunded, _ = apply_payments(live, payments, negative.select("customer_id", "at"))
        rows = pl.concat([rows, refunded.filter(pl.col("open") > 0).select(list(schema))])
    return rows


def latest_balances(invoices: pl.DataFrame, payments: pl.DataFrame) -> pl.DataFrame:
    """Per invoice as of the latest data (the latest invoice or payment date): invoice_id,
    paid_amount, open_amount, paid_in_full_date (the first invoice or payment date of its
    customer from which on it stays paid in full; null while open), days_late (days from
    the due date to the paid-in-full date, or to the latest data date while it is open;
    0 when paid on time; null for void invoices). For ``marts.fct_invoices``."""
    live = invoices.filter(~pl.col("is_void").fill_null(False))
    latest = max(
        [d for d in (live["invoice_date"].max(), payments["payment_date"].max()) if d is not None],
        default=None,
    )
    empty = pl.DataFrame(
        schema={
            "invoice_id": pl.String,
            "paid_amount": pl.Float64,
            "open_amount": pl.Float64,
            "paid_in_full_date": pl.Date,
            "days_late": pl.Int64,
        }
    )
    if latest is None or live.is_empty():
        return empty
    # the dates at which a customer's balances can change: its invoice and payment dates
    events = pl.concat(
        [
            live.select("customer_id", pl.col("invoice_date").alias("at")),
            payments.select("customer_id", pl.col("payment_date").alias("at")),
        ]
    ).drop_nulls()
    # the open invoices at every event (open_invoices: the rest is paid in full there)
    events = events.unique().sort("at")
    opened = open_invoices(live, payments, events)
    last_event = events.group_by("customer_id").agg(pl.col("at").max().alias("last"))
    final = opened.join(last_event, on="customer_id").filter(pl.col("at") == pl.col("last"))
    last_open = (
        opened.filter(pl.col("open") > PAID_TOLERANCE)
        .group_by("invoice_id")
        .agg(pl.col("at").max().alias("last_open"))
    )
    result = (
        live.filter(pl.col("customer_id").is_not_null())
        .select("invoice_id", "customer_id", "invoice_date", "due_date", "amount")
        .join(final.select("invoice_id", "open"), on="invoice_id", how="left")
        .join(last_open, on="invoice_id", how="left")
        .with_columns(
            pl.col("open").fill_null(0.0).alias("open_amount"),
            # from the invoice date, or the day after the last event it was open
            pl.max_horizontal(
                "invoice_date", pl.col("last_open").dt.offset_by("1d")
            ).alias("from"),
        )
        .with_columns(
            (pl.col("amount").clip(lower_bound=0) - pl.col("open_amount")).alias("paid_amount")
        )
        .sort("from")
    )
    # the first event from then on: the first day of the last run of "paid in full"
    result = result.join_asof(
        events.rename({"at": "first_full"}),
        left_on="from",
        right_on="first_full",
        by="customer_id",
        strategy="forward",
        check_sortedness=False,  # sorted on the date: sorted within each customer
    ).with_columns(
        pl.when(pl.col("open_amount") <= PAID_TOLERANCE)
        .then(pl.col("first_full"))
        .alias("paid_in_full_date")
    )
    end = pl.coalesce("paid_in_full_date", pl.lit(latest, dtype=pl.Date))
    return result.select(
        "invoice_id",
        "paid_amount",
        "open_amount",
        "paid_in_full_date",
        (end - pl.col("due_date")).dt.total_days().clip(lower_bound=0).alias("days_late"),
    )


def _invoices(inputs: KpiInputs) -> pl.DataFrame:
    return inputs.invoices.filter(~pl.col("is_void").fill_null(False))


def _balances_at_as_of(inputs: KpiInputs) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`balances_as_of` at the as-of date: (per invoice, per customer credit),
    computed once per inputs."""

    def compute() -> tuple[pl.DataFrame, pl.DataFrame]:
        return balances_as_of(_invoices(inputs), inputs.payments, inputs.as_of)

    def per_invoice() -> pl.DataFrame:
        current, credit = compute()
        inputs.shared("receivables_credit", lambda: credit)
        return current

    current = inputs.shared("receivables_balances", per_invoice)
    return current, inputs.shared("receivables_credit", lambda: compute()[1])


def _due_in_period(inputs: KpiInputs) -> pl.DataFrame:
    """The invoices due up to the as-of date with their paid amount as of the as-of date
    (``paid``) and as of their due date (``paid_on_time``): computed once per inputs."""

    def compute() -> pl.DataFrame:
        invoices = _invoices(inputs)
        current, _ = _balances_at_as_of(inputs)
        on_time = paid_by_due_date(invoices, inputs.payments)
        return (
            current.filter(pl.col("due_date") <= inputs.as_of)
            .join(on_time, on="invoice_id", how="left")
            .with_columns(pl.col("amount").clip(lower_bound=0).alias("owed"))
        )

    return inputs.shared("receivables_due", compute)


def _collections_by_period(inputs: KpiInputs) -> pl.DataFrame:
    return inputs.shared(
        "collections_by_period",
        lambda: aggregate_by_period(
            _due_in_period(inputs),
            date="due_date",
            aggs=[
                pl.col("owed").sum().alias("due"),
                pl.col("paid").sum().alias("paid"),
                pl.col("paid_on_time").sum().alias("paid_on_time"),
            ],
            dimensions=INVOICE_DIMENSIONS,
            as_of=inputs.as_of,
        ),
    )


def collection_rate(inputs: KpiInputs) -> pl.DataFrame:
    """collection_rate = of the invoices due in the period: amount paid by the as-of date /
    amount due (回款率).

    Due in the period: due date in the period and on or before the as-of date (for the
    open period, the invoices due so far). Paid by the as-of date: :func:`apply_payments`
    as of it. Void invoices count nowhere. Null where nothing was due.
    """
    rates = _collections_by_period(inputs).with_columns(
        safe_ratio(pl.col("paid"), pl.col("due")).alias("rate")
    )
    return to_kpi_values(
        rates,
        kpi="collection_rate",
        unit="ratio",
        as_of=inputs.as_of,
        value="rate",
        numerator="paid",
        denominator="due",
    )


def on_time_collection_rate(inputs: KpiInputs) -> pl.DataFrame:
    """on_time_collection_rate = of the invoices due in the period: amount paid on or
    before each invoice's due date / amount due.

    Paid on or before the due date: :func:`apply_payments` as of that date (payments
    dated later do not count, wherever they go).
    """
    rates = _collections_by_period(inputs).with_columns(
        safe_ratio(pl.col("paid_on_time"), pl.col("due")).alias("rate")
    )
    return to_kpi_values(
        rates,
        kpi="on_time_collection_rate",
        unit="ratio",
        as_of=inputs.as_of,
        value="rate",
        numerator="paid_on_time",
        denominator="due",
    )


def _period_ends(inputs: KpiInputs, grains: Sequence[Grain]) -> pl.DataFrame:
    """grain, period_start, period_end, at: the calendar periods from the first invoice
    to the as-of date, each with the day its stock is taken: its last day, or the
    as-of date for the open period."""
    first = _invoices(inputs)["invoice_date"].min()
    if first is None:
        return pl.DataFrame(
            schema={"grain": pl.String, "period_start": pl.Date, "period_end": pl.Date, "at": pl.Date}
        )
    assert isinstance(first, dt.date)
    grid = pl.concat([period_grid(first, inputs.as_of, grain) for grain in grains])
    return grid.with_columns(
        pl.min_horizontal(
            pl.col("period_end").dt.offset_by("-1d"), pl.lit(inputs.as_of, dtype=pl.Date)
        ).alias("at")
    )


def _open_at_period_ends(inputs: KpiInputs) -> pl.DataFrame:
    """Per period end (``_period_ends``) and invoice issued by then and open then
    (|open| above PAID_TOLERANCE: what overdue_receivables and dso count): the invoice's
    dimension columns, due_date, open (computed once per inputs)."""

    def compute() -> pl.DataFrame:
        invoices = _invoices(inputs)
        ends = _period_ends(inputs, CALENDAR_GRAINS)
        dates = ends["at"].unique().to_list()
        opened = open_invoices(invoices, inputs.payments, _customer_points(invoices, dates))
        stock = opened.filter(pl.col("open").abs() > PAID_TOLERANCE).join(
            invoices.select("invoice_id", "due_date", *INVOICE_DIMENSIONS.values()),
            on="invoice_id",
        )
        return ends.join(stock, on="at")

    return inputs.shared("receivables_open_at_period_ends", compute)


def _by_dimension(frame: pl.DataFrame, aggs: list[pl.Expr]) -> pl.DataFrame:
    """``aggs`` per grain and period, for dimension ``all`` and each of INVOICE_DIMENSIONS."""
    keys = ["grain", "period_start", "period_end"]
    parts = [
        frame.group_by(keys).agg(aggs).with_columns(
            pl.lit("all").alias("dimension"), pl.lit("all").alias("dimension_value")
        )
    ]
    for name, column in INVOICE_DIMENSIONS.items():
        parts.append(
            frame.group_by(*keys, pl.col(column).cast(pl.String).fill_null(UNKNOWN).alias(
                "dimension_value"
            ))
            .agg(aggs)
            .with_columns(pl.lit(name).alias("dimension"))
        )
    return pl.concat(parts, how="diagonal_relaxed")


def overdue_receivables(inputs: KpiInputs) -> pl.DataFrame:
    """overdue_receivables = open amount of invoices past due at period end (at the as-of
    date for the open period).

    Past due on day e: due date before e. Open: amount − paid as of e
    (:func:`apply_payments`). Every period from the first invoice has a row for
    dimension ``all`` (0 when nothing was overdue).
    """
    stock = _open_at_period_ends(inputs).filter(
        (pl.col("due_date") < pl.col("at")) & (pl.col("open") > PAID_TOLERANCE)
    )
    totals = _by_dimension(stock, [pl.col("open").sum().alias("overdue")])
    grid = _period_ends(inputs, CALENDAR_GRAINS).select(
        "grain", "period_start", "period_end", pl.lit("all").alias("dimension"),
        pl.lit("all").alias("dimension_value"),
    )
    keys = ["grain", "period_start", "period_end", "dimension", "dimension_value"]
    values = pl.concat(
        [
            grid.join(totals, on=keys, how="left").with_columns(pl.col("overdue").fill_null(0.0)),
            totals.filter(pl.col("dimension") != "all"),
        ],
        how="diagonal_relaxed",
    )
    return to_kpi_values(
        values, kpi="overdue_receivables", unit="currency", as_of=inputs.as_of, value="overdue"
    )


def dso(inputs: KpiInputs) -> pl.DataFrame:
    """dso = receivables open at period end / amount invoiced in the period × days in the
    period.

    Open at period end: the open amount (amount − paid, :func:`apply_payments`) of every
    invoice issued by then, due or not, on the period's last day. For the open period,
    at the as-of date and over the days elapsed (period start through the as-of date),
    so that the days match the amount invoiced so far. Null where nothing was invoiced.
    numerator = open receivables, denominator = amount invoiced.
    """
    stock = _by_dimension(
        _open_at_period_ends(inputs).filter(pl.col("open").abs() > PAID_TOLERANCE),
        [pl.col("open").sum().alias("receivables")],
    )
    invoiced = aggregate_by_period(
        _invoices(inputs).with_columns(pl.col("amount").clip(lower_bound=0)),
        date="invoice_date",
        aggs=[pl.col("amount").sum().alias("invoiced")],
        dimensions=INVOICE_DIMENSIONS,
        as_of=inputs.as_of,
        grains=CALENDAR_GRAINS,
    )
    keys = ["grain", "period_start", "period_end", "dimension", "dimension_value"]
    days = (
        pl.min_horizontal(
            pl.col("period_end"), pl.lit(inputs.as_of + dt.timedelta(days=1), dtype=pl.Date)
        )
        - pl.col("period_start")
    ).dt.total_days()
    values = (
        invoiced.join(stock, on=keys, how="full", coalesce=True)
        .with_columns(pl.col("receivables").fill_null(0.0), pl.col("invoiced").fill_null(0.0))
        .with_columns(days.cast(pl.Float64).alias("days"))
        .with_columns(
            (safe_ratio(pl.col("receivables"), pl.col("invoiced")) * pl.col("days")).alias("dso")
        )
    )
    return to_kpi_values(
        values,
        kpi="dso",
        unit="days",
        as_of=inputs.as_of,
        value="dso",
        numerator="receivables",
        denominator="invoiced",
    )


def receivables_ageing(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """``kpi.receivables_ageing`` as of d: per customer and rep, the open amount of the
    invoices by days past due (d − due date): ``current`` (not yet due, ≤ 0), ``1_30``,
    ``31_60``, ``61_90``, ``over_90``; their total ``open_amount`` and ``overdue_amount``;
    and the customer's ``unapplied_credit`` (on the row of the rep of its latest invoice).
    One row per customer and rep with an open amount or a credit."""
    del settings
    invoices = _invoices(inputs)
    current, credit = _balances_at_as_of(inputs)
    past_due = (pl.lit(inputs.as_of, dtype=pl.Date) - pl.col("due_date")).dt.total_days()
    bucket = (
        pl.when(past_due <= 0)
        .then(pl.lit("current"))
        .when(past_due <= 30)
        .then(pl.lit("1_30"))
        .when(past_due <= 60)
        .then(pl.lit("31_60"))
        .when(past_due <= 90)
        .then(pl.lit("61_90"))
        .otherwise(pl.lit("over_90"))
    )
    open_rows = current.filter(pl.col("open") > PAID_TOLERANCE).with_columns(
        bucket.alias("bucket")
    )
    by_rep = open_rows.group_by("customer_id", "rep_id").agg(
        *(
            pl.col("open").filter(pl.col("bucket") == name).sum().alias(name)
            for name in AGEING_BUCKETS
        ),
    )
    latest_rep = (
        invoices.sort("invoice_date", "invoice_id")
        .group_by("customer_id")
        .agg(pl.col("rep_id").last())
    )
    credits = (
        credit.filter(pl.col("credit").abs() > PAID_TOLERANCE)
        .join(latest_rep, on="customer_id", how="left")
        .select("customer_id", "rep_id", pl.col("credit").alias("unapplied_credit"))
    )
    buckets = list(AGEING_BUCKETS)
    table = (
        by_rep.join(credits, on=["customer_id", "rep_id"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col([*buckets, "unapplied_credit"]).fill_null(0.0))
        .with_columns(
            pl.sum_horizontal(buckets).alias("open_amount"),
            pl.sum_horizontal(buckets[1:]).alias("overdue_amount"),
            pl.lit(inputs.as_of, dtype=pl.Date).alias("as_of"),
        )
    )
    return table.select([pl.col(c).cast(t) for c, t in AGEING_SCHEMA.items()]).sort(
        "customer_id", "rep_id", nulls_last=True
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """All receivables KPIs in the kpi_values format (``settings`` is not needed: the
    payment terms are applied by dbt to ``fct_invoices.due_date``)."""
    del settings
    return pl.concat(
        [
            collection_rate(inputs),
            on_time_collection_rate(inputs),
            overdue_receivables(inputs),
            dso(inputs),
        ]
    )
