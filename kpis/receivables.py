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
    paid_in = (
        points.lazy()
        .join(
            payments.lazy().select(
                "customer_id", "invoice_id", "payment_date", pl.col("amount").alias("money")
            ),
            on="customer_id",
        )
        .filter(pl.col("payment_date") <= pl.col("at"))
    )
    keys = [*_POINT, "invoice_id"]
    direct = (
        paid_in.join(issued.select(keys), on=keys, how="semi")
        .group_by(keys)
        .agg(pl.col("money").sum().alias("direct"))
    )
    unreferenced = (
        paid_in.join(issued.select(keys), on=keys, how="anti", nulls_equal=False)
        .group_by(_POINT)
        .agg(pl.col("money").sum().alias("unreferenced"))
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
    """invoice_id, paid_on_time: each invoice's paid amount as of its own due date."""
    points = invoices.filter(~pl.col("is_void").fill_null(False)).select(
        "customer_id", pl.col("due_date").alias("at")
    )
    applied, _ = apply_payments(invoices, payments, points.drop_nulls())
    due = invoices.select("invoice_id", pl.col("due_date").alias("at"))
    return due.join(applied, on=["invoice_id", "at"], how="left").select(
        "invoice_id", pl.col("paid").fill_null(0.0).alias("paid_on_time")
    )


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
    applied, _ = apply_payments(live, payments, events)
    applied = applied.join(live.select("invoice_id", "due_date"), on="invoice_id")
    fully = pl.col("open") <= PAID_TOLERANCE
    last_open = pl.col("at").filter(~fully).max().fill_null(dt.date(1, 1, 1))
    result = (
        applied.sort("invoice_id", "at")
        .group_by("invoice_id", maintain_order=True)
        .agg(
            pl.col("paid").last().alias("paid_amount"),
            pl.col("open").last().alias("open_amount"),
            # the first date of the last run of "paid in full" dates, if it lasts
            pl.when(fully.last())
            .then(pl.col("at").filter(fully & (pl.col("at") > last_open)).min())
            .alias("paid_in_full_date"),
            pl.col("due_date").first(),
        )
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


def _due_in_period(inputs: KpiInputs) -> pl.DataFrame:
    """The invoices due up to the as-of date with their paid amount as of the as-of date
    (``paid``) and as of their due date (``paid_on_time``): computed once per inputs."""

    def compute() -> pl.DataFrame:
        invoices = _invoices(inputs)
        current, _ = balances_as_of(invoices, inputs.payments, inputs.as_of)
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
    """Per period end (``_period_ends``) and invoice issued by then: the invoice's
    dimension columns, due_date, open (computed once per inputs)."""

    def compute() -> pl.DataFrame:
        invoices = _invoices(inputs)
        ends = _period_ends(inputs, CALENDAR_GRAINS)
        dates = ends["at"].unique().to_list()
        applied, _ = apply_payments(invoices, inputs.payments, _customer_points(invoices, dates))
        stock = applied.join(
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
    current, credit = balances_as_of(invoices, inputs.payments, inputs.as_of)
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
