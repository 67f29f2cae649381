"""Cross-table hygiene checks of the raw layer, in SQL → ``meta.hygiene``.

The checks look at the whole of ``raw.*`` as it stands after the run's load (the state
the marts are built from, whichever run loaded a record); ``run_id`` tags the snapshot.
Each result has ``count`` = the number of records affected (None when the check could
not run) and ``examples`` = up to 5 examples, most frequent first, as one short text.

- unmapped_stage_labels: opportunities + stage-history rows whose lower(trim(stage)) is
  not a label of the stage seed; examples ``label (rows)``;
- opportunities_without_owner: opportunities with an empty owner_rep_id; opportunity ids;
- owners_not_in_reps: records whose rep reference (opportunity / lead / customer owner,
  order rep) is not in raw.reps, only when raw.reps is non-empty; ``rep id (records)``;
- duplicate_customer_names: customers whose lower(trim(name)) is shared with another
  customer_id; ``name: ids``;
- orders_without_lines: orders with no line in raw.order_lines; order ids;
- order_lines_without_order: lines whose order_id is not in raw.orders; ``order id (lines)``;
- identical_order_lines: lines of an order equal to another line of it in every field but
  the line number (the same item scanned twice; both are kept as lines, docs/entities.md); the
  count is the lines beyond the first of each such group; ``order id: product × n``;
- payments_for_unknown_invoice: payments whose invoice_id is not in raw.invoices (kept:
  the payment is applied to its customer's open invoices, oldest due date first, and
  counted in the customer's collections); ``invoice id (payments)``;
- closed_with_future_close_date: closed opportunities (stage label mapped to won / lost
  by the stage seed) whose close date is after the run date; ``id (close date)``;
- future_dated_records: orders (order date), opportunities and leads (creation date),
  invoices (invoice date), payments (payment date) and activities (the day they
  occurred) dated after the run date; one example per entity, ``orders: n (id date, …)``, the
  latest dates first.

A date after the run date is not a data date: the KPIs' default as-of date ignores it
(kpis.inputs.latest_data_date), the last two checks show the records that carry one.

See docs/data_quality.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from salesdw.db import quote_ident, scalar
from salesdw.validate import CLOSED_STAGES, REFERENCES, STAGE_FIELDS, stage_seed_relation
from schemas.entities import fields as fields_of
from schemas.entities import natural_key

MAX_EXAMPLES = 5
#: ids listed per entity by future_dated_records
MAX_IDS = 3


@dataclass(frozen=True)
class HygieneResult:
    """One hygiene check of a run (a row of ``meta.hygiene``)."""

    check: str
    count: int | None
    examples: str


def _grouped(
    con: duckdb.DuckDBPyConnection, check: str, sql: str, params: dict[str, Any] | None = None
) -> HygieneResult:
    """``sql`` (with ``params``) yields one row per example group: ``example`` (text),
    ``n`` (records)."""
    rows = con.execute(
        f"""
        select example, n, sum(n) over () as total, count(*) over () as groups
        from ({sql}) where n > 0
        order by n desc, example
        limit {MAX_EXAMPLES}
        """,
        params,
    ).fetchall()
    if not rows:
        return HygieneResult(check, 0, "")
    total, groups = int(rows[0][2]), int(rows[0][3])
    text = ", ".join(str(r[0]) for r in rows)
    if groups > MAX_EXAMPLES:
        text += f", … ({groups - MAX_EXAMPLES:,} more)"
    return HygieneResult(check, total, text)


def _unmapped_stage_labels(con: duckdb.DuckDBPyConnection) -> HygieneResult:
    check = "unmapped_stage_labels"
    seed = stage_seed_relation(con)
    if seed is None:
        return HygieneResult(check, None, "not checked: no stage seed")
    labels = " union all ".join(
        f"select {quote_ident(f)} as label from raw.{e}" for e, f in STAGE_FIELDS.items()
    )
    return _grouped(
        con,
        check,
        f"""
        select min(trim(label)) || ' (' || count(*) || ')' as example, count(*) as n
        from ({labels})
        where label is not null and lower(trim(label)) not in (select label from {seed})
        group by lower(trim(label))
    """,
    )


def _opportunities_without_owner(con: duckdb.DuckDBPyConnection) -> HygieneResult:
    return _grouped(
        con,
        "opportunities_without_owner",
        """
        select coalesce(opportunity_id, '(null)') as example, count(*) as n
        from raw.opportunities
        where owner_rep_id is null or trim(owner_rep_id) = ''
        group by opportunity_id
    """,
    )


def _owners_not_in_reps(con: duckdb.DuckDBPyConnection) -> HygieneResult:
    check = "owners_not_in_reps"
    rep_key = quote_ident(natural_key("reps")[0])
    if not scalar(con, f"select count(*) from raw.reps where {rep_key} is not null"):
        return HygieneResult(check, None, "not checked: raw.reps is empty")
    refs = " union all ".join(
        f"select {quote_ident(f)} as rep from raw.{e}"
        for (e, f), target in REFERENCES.items()
        if target == "reps"
    )
    return _grouped(
        con,
        check,
        f"""
        select rep || ' (' || count(*) || ')' as example, count(*) as n
        from ({refs}) r
        where rep is not null and trim(rep) <> ''
          and not exists (select 1 from raw.reps p where p.{rep_key} = r.rep)
        group by rep
    """,
    )


def _duplicate_customer_names(con: duckdb.DuckDBPyConnection) -> HygieneResult:
    # the shared names are found first, by comparing each name's smallest and largest id
    # (cheap aggregates); the distinct ids and the examples are then gathered for those
    # few names only, not for every name (at 548 k customers 0.40 instead of 1.0 CPU s)
    return _grouped(
        con,
        "duplicate_customer_names",
        """
        with named as (
            select lower(trim(name)) as name_key, trim(name) as name, customer_id
            from raw.customers
            where name is not null and trim(name) <> '' and customer_id is not null
        ), shared as (
            select name_key from named
            group by name_key
            having min(customer_id) <> max(customer_id)
        )
        select min(name) || ': '
               || array_to_string(list_sort(list_distinct(list(customer_id)))[1:5], ', ')
               as example,
               count(distinct customer_id) as n
        from named semi join shared using (name_key)
        group by name_key
    """,
    )


def _orders_without_lines(con: duckdb.DuckDBPyConnection) -> HygieneResult:
    return _grouped(
        con,
        "orders_without_lines",
        """
        select o.order_id as example, count(*) as n from raw.orders o
        where not exists (select 1 from raw.order_lines l where l.order_id = o.order_id)
        group by o.order_id
    """,
    )


def _order_lines_without_order(con: duckdb.DuckDBPyConnection) -> HygieneResult:
    return _grouped(
        con,
        "order_lines_without_order",
        """
        select coalesce(l.order_id, '(null)') || ' (' || count(*) || ')' as example, count(*) as n
        from raw.order_lines l
        where not exists (select 1 from raw.orders o where o.order_id = l.order_id)
        group by l.order_id
    """,
    )


def _identical_order_lines(con: duckdb.DuckDBPyConnection) -> HygieneResult:
    fields = ", ".join(
        quote_ident(f) for f in fields_of("order_lines") if f not in ("order_id", "line_id")
    )
    return _grouped(
        con,
        "identical_order_lines",
        f"""
        select coalesce(order_id, '(null)') || ': ' || coalesce(product_id, '(no product)')
               || ' × ' || count(*) as example,
               count(*) - 1 as n
        from raw.order_lines
        group by order_id, {fields}
        having count(*) > 1
    """,
    )


def _payments_for_unknown_invoice(con: duckdb.DuckDBPyConnection) -> HygieneResult:
    return _grouped(
        con,
        "payments_for_unknown_invoice",
        """
        select p.invoice_id || ' (' || count(*) || ')' as example, count(*) as n
        from raw.payments p
        where p.invoice_id is not null
          and not exists (select 1 from raw.invoices i where i.invoice_id = p.invoice_id)
        group by p.invoice_id
    """,
    )


def _closed_with_future_close_date(
    con: duckdb.DuckDBPyConnection, run_date: dt.date
) -> HygieneResult:
    check = "closed_with_future_close_date"
    closed = stage_seed_relation(con, stages=CLOSED_STAGES)
    if closed is None:
        return HygieneResult(check, None, "not checked: no stage seed")
    return _grouped(
        con,
        check,
        f"""
        select coalesce(opportunity_id, '(null)') || ' (' || close_date || ')' as example,
               count(*) as n
        from raw.opportunities
        where close_date > $run_date
          and lower(trim(stage)) in (select label from {closed})
        group by opportunity_id, close_date
    """,
        {"run_date": run_date},
    )


def _future_dated_records(con: duckdb.DuckDBPyConnection, run_date: dt.date) -> HygieneResult:
    return _grouped(
        con,
        "future_dated_records",
        f"""
        with dated as (
            select 'orders' as entity, order_id as id, order_date as day from raw.orders
            union all
            select 'opportunities', opportunity_id, created_at from raw.opportunities
            union all
            select 'leads', lead_id, created_at from raw.leads
            union all
            select 'invoices', invoice_id, invoice_date from raw.invoices
            union all
            select 'payments', payment_id, payment_date from raw.payments
            union all
            select 'activities', activity_id, cast(occurred_at as date) from raw.activities
        )
        select entity || ': ' || count(*) || ' ('
               || array_to_string(
                      list(coalesce(id, '(null)') || ' ' || day order by day desc, id)
                      [1:{MAX_IDS}],
                      ', '
                  )
               || case when count(*) > {MAX_IDS} then ', …)' else ')' end as example,
               count(*) as n
        from dated
        where day > $run_date
        group by entity
    """,
        {"run_date": run_date},
    )


CHECKS = (
    _unmapped_stage_labels,
    _opportunities_without_owner,
    _owners_not_in_reps,
    _duplicate_customer_names,
    _orders_without_lines,
    _order_lines_without_order,
    _identical_order_lines,
    _payments_for_unknown_invoice,
)
#: the checks that compare dates with the run date
DATED_CHECKS = (
    _closed_with_future_close_date,
    _future_dated_records,
)


def hygiene_checks(
    con: duckdb.DuckDBPyConnection, run_id: str, run_date: dt.date | None = None
) -> list[HygieneResult]:
    """Run every check (dates compared with ``run_date``, default today); replace the
    run's rows in ``meta.hygiene``; return the results."""
    day = run_date or dt.date.today()
    results = [check(con) for check in CHECKS] + [check(con, day) for check in DATED_CHECKS]
    con.execute("begin transaction")
    try:
        con.execute("delete from meta.hygiene where run_id = ?", [run_id])
        con.executemany(
            "insert into meta.hygiene values (?, ?, ?, ?)",
            [[run_id, r.check, r.count, r.examples] for r in results],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return results
