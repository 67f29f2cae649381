"""The mart frames the KPI functions work on, read once from a DuckDB connection.

This is the only module of ``kpis`` that touches a database: the KPI functions are
pure and take a :class:`KpiInputs` (or single frames). Columns are those of the marts
(docs/architecture.md); of fct_orders, only those the KPIs use. The order lines (the
largest table by far) are not read row by row: DuckDB sums them into the few
:class:`LineTotals` the KPIs need, so a warehouse of 10 million lines costs the KPI
step the memory of its orders, not of its lines; the totals that need no line's own
column are summed from fct_orders' per-order sums of the lines (``ORDER_SUMS_SQL``).
Everything dated after ``as_of`` is left out here, so that a computation as of an
earlier date sees what a run on that date would have seen. From a warehouse, the
customers come as integer keys (``KpiInputs.customer_ids``, :func:`load_inputs`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import duckdb
import polars as pl


@dataclass(frozen=True)
class LineTotals:
    """marts.fct_order_lines (order_date <= as_of), summed in DuckDB (see LINE_TOTALS_SQL;
    from a warehouse, revenue_by_day and margin_by_customer by ORDER_SUMS_SQL).

    A sum of the line amounts per group is all any KPI takes from the lines, and sums
    of sums are the sum of the lines; the groups keep every key the KPIs group or join on.
    """

    #: revenue lines (not cancelled, of an order not cancelled) per day and value of each
    #: of the order's dimensions (ORDER_DIMENSIONS) and per day for all of them:
    #: order_date, dimension (``all`` or a name of ORDER_DIMENSIONS), dimension_value
    #: (the fct_orders column's value; ``all`` for dimension ``all``; null for lines
    #: without a known order or a missing value), amount
    revenue_by_day: pl.DataFrame
    #: the same lines per day and product category: order_date, product_category, amount
    revenue_by_category: pl.DataFrame
    #: lines not cancelled per customer and day: customer_id, order_date, amount,
    #: cost_margin (amount − cost of the lines with a cost), amount_without_cost
    margin_by_customer: pl.DataFrame
    #: product categories of the orders on each customer's first purchase day:
    #: order_id, product_category (distinct)
    first_order_categories: pl.DataFrame
    #: the same revenue lines as revenue_by_day, per day and value of each dimension of
    #: revenue (the order's ORDER_DIMENSIONS and the line's product_category) and per day
    #: for all of them (order_date, dimension, dimension_value as in revenue_by_day),
    #: with the sums the margin and price KPIs need (kpis.margin): amount; costed_amount
    #: and cost over the lines with a known cost (fct_order_lines.cost: line cost, else
    #: quantity × product unit_cost); discount and gross_amount (quantity × unit_price)
    #: over the lines with a discount, a quantity and a unit price; listed_amount and
    #: list_value (quantity × dim_product.list_price) over the lines with a quantity and
    #: a list price
    line_economics: pl.DataFrame


@dataclass(frozen=True)
class KpiInputs:
    """Mart frames as of a date (amounts in the reporting currency).

    Frames derived from them that several KPI families need (revenue per period, the
    customers' first purchases, …) are computed once, on first use, through
    :meth:`shared`.
    """

    as_of: dt.date
    orders: pl.DataFrame  # marts.fct_orders (ORDER_COLUMNS), order_date <= as_of
    lines: LineTotals  # marts.fct_order_lines summed, same dates
    opportunities: pl.DataFrame  # marts.fct_opportunities, created_at <= as_of or null
    leads: pl.DataFrame  # marts.fct_leads, created_at <= as_of
    targets: pl.DataFrame  # marts.fct_targets (all periods: targets are plans)
    marketing_spend: pl.DataFrame  # marts.fct_marketing_spend, period_start <= as_of
    customers: pl.DataFrame  # marts.dim_customer, current rows
    reps: pl.DataFrame  # marts.dim_rep
    products: pl.DataFrame  # marts.dim_product
    invoices: pl.DataFrame  # marts.fct_invoices (INVOICE columns), invoice_date <= as_of
    payments: pl.DataFrame  # marts.fct_payments, payment_date <= as_of
    activities: pl.DataFrame  # marts.fct_activities, activity_date <= as_of
    #: marts.fct_opportunity_stages, entered_at <= as_of (an exit after as_of is not
    #: known on as_of: kpis.stages reads exited_at only up to as_of)
    opportunity_stages: pl.DataFrame
    #: from a warehouse (:func:`load_inputs`): the customers' keys. There the
    #: ``customer_id`` of orders, opportunities, customers and ``margin_by_customer`` is
    #: the customer's integer key, numbered in the order of the ids (so that sorting on
    #: it sorts the ids), and this frame maps it back: key (UInt32), customer_id (text).
    #: None for frames built elsewhere, whose customer_id is the id itself.
    customer_ids: pl.DataFrame | None = None
    _shared: dict[Hashable, pl.DataFrame] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def shared(self, key: Hashable, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        """The frame ``compute()`` derives from these inputs, computed on the first call
        with ``key`` (the derivation's name and parameters) and reused afterwards: the
        inputs never change, so neither does the frame."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

    def with_customer_ids(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the customer ids (text) in its ``customer_id`` column where it
        holds the customers' keys (``customer_ids``); ``frame`` itself otherwise. For the
        tables that report customers (customer_segments, customer_clv)."""
        if self.customer_ids is None:
            return frame
        return (
            frame.rename({"customer_id": "_customer_key"})
            .join(
                self.customer_ids.rename({"key": "_customer_key"}),
                on="_customer_key",
                how="left",
                maintain_order="left",
            )
            .select(frame.columns)
        )


#: input frame -> (mart, the columns the KPIs read, the as-of cut). Only the columns
#: the KPIs use are read (load timestamps, raw codes, local-currency amounts would only
#: take memory: at 10 M order lines the inputs are GBs); ``compact`` applies the same
#: selection to frames built elsewhere, so a KPI that reads a column missing here fails
#: in the unit tests too.
INPUTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "orders": (
        "fct_orders",
        (
            "order_id",
            "order_date",
            "customer_id",
            "channel",
            "rep_id",
            "team",
            "region",
            "country",
            "segment",
            "net_amount",
            "is_cancelled",
            "is_purchase",
        ),
        "order_date <= $as_of",
    ),
    "opportunities": (
        "fct_opportunities",
        (
            "opportunity_id",
            "customer_id",
            "lead_id",
            "owner_rep_id",
            "stage",
            "team",
            "region",
            "channel",
            "product_category",
            "segment",
            "country",
            "max_stage_order_reached",
            "is_won",
            "is_lost",
            "is_closed",
            "amount",
            "probability",
            "created_at",
            "close_date",
        ),
        "created_at is null or created_at <= $as_of",
    ),
    "leads": (
        "fct_leads",
        (
            "lead_id",
            "created_at",
            "channel",
            "owner_rep_id",
            "team",
            "region",
            "converted_opportunity_id",
            "converted_date",
        ),
        "created_at <= $as_of",
    ),
    "targets": ("fct_targets", (), "true"),  # all periods: targets are plans
    "marketing_spend": ("fct_marketing_spend", (), "period_start <= $as_of"),
    "customers": (
        "dim_customer",
        ("customer_id", "segment", "country", "channel", "region", "owner_rep_id"),
        "is_current",
    ),
    "reps": ("dim_rep", (), "true"),
    "products": ("dim_product", (), "true"),
    "invoices": (
        "fct_invoices",
        (
            "invoice_id",
            "invoice_date",
            "due_date",
            "customer_id",
            "rep_id",
            "team",
            "region",
            "segment",
            "channel",
            "amount",
            "is_void",
        ),
        "invoice_date <= $as_of",
    ),
    "payments": (
        "fct_payments",
        ("payment_id", "payment_date", "customer_id", "invoice_id", "amount"),
        "payment_date <= $as_of",
    ),
    "activities": (
        "fct_activities",
        (
            "activity_id",
            "occurred_at",
            "activity_date",
            "type",
            "rep_id",
            "team",
            "region",
            "customer_id",
            "lead_id",
            "opportunity_id",
        ),
        "activity_date <= $as_of",
    ),
    "opportunity_stages": (
        "fct_opportunity_stages",
        (
            "opportunity_id",
            "stage",
            "stage_order",
            "default_probability",
            "entered_at",
            "exited_at",
        ),
        "cast(entered_at as date) <= $as_of",
    ),
}
#: text columns of few distinct values (the dimensions) of the large input frames, held
#: as polars Categorical: 4 bytes a row instead of a 16-byte view (plus the text)
CATEGORICAL: dict[str, tuple[str, ...]] = {
    "orders": ("channel", "rep_id", "team", "region", "country", "segment"),
    "opportunities": (
        "owner_rep_id",
        "team",
        "region",
        "channel",
        "product_category",
        "segment",
        "country",
        "stage",
    ),
    "leads": ("channel", "owner_rep_id", "team", "region"),
    "customers": ("segment", "country", "channel", "region"),
}
#: rows per batch read from DuckDB: each batch is compacted before the next is read
BATCH_ROWS = 1_000_000


def input_query(name: str) -> str:
    """The query reading input frame ``name`` (with parameter ``$as_of``)."""
    table, columns, cut = INPUTS[name]
    return f"select {', '.join(columns) or '*'} from marts.{table} where {cut}"


def _categorical(columns: tuple[str, ...]) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """A function casting ``columns`` of a frame to Categorical."""
    return lambda frame: frame.with_columns(pl.col(c).cast(pl.Categorical) for c in columns)


def compact(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (rows of input ``name``) with only the columns the KPIs read, the
    dimension columns as Categorical."""
    columns = INPUTS[name][1]
    return _categorical(CATEGORICAL.get(name, ()))(frame.select(columns) if columns else frame)


#: dimension name -> fct_orders column: the order's dimensions of revenue (and of aov)
ORDER_DIMENSIONS: dict[str, str] = {
    "region": "region",
    "team": "team",
    "rep": "rep_id",
    "channel": "channel",
    "segment": "segment",
    "country": "country",
}


def _by_dimension(columns: dict[str, str], day: str) -> tuple[str, str]:
    """The select list and the grouping sets summing per day (column ``day``) and per
    day and value of each of ``columns`` (name -> column of ``o``): one row per day for
    dimension ``all`` and one per day and value for each dimension, instead of one per
    day and combination of values (at L 2.3 M rows of which the KPIs only ever need
    these)."""
    dimension = " ".join(
        f"when grouping(o.{column}) = 0 then '{name}'" for name, column in columns.items()
    )
    value = " ".join(
        f"when grouping(o.{column}) = 0 then o.{column}::varchar" for column in columns.values()
    )
    sets = ", ".join(f"({day}, o.{column})" for column in columns.values())
    return (
        f"case {dimension} else 'all' end as dimension, "
        f"case {value} else 'all' end as dimension_value",
        f"grouping sets (({day}), {sets})",
    )


_DAY_DIMENSION, _DAY_GROUPING_SETS = _by_dimension(ORDER_DIMENSIONS, "l.order_date")
_ORDER_DAY_DIMENSION, _ORDER_DAY_GROUPING_SETS = _by_dimension(ORDER_DIMENSIONS, "o.order_date")
# the lines of cancelled orders are left out with an anti join against those orders
# (130 k at L): written as ``not exists``, DuckDB first collects the distinct order ids
# of all 10 M lines (2.8x slower at L); a line without an order id is kept either way
_REVENUE_LINES = """
    select l.order_id, l.order_date, l.product_category, l.amount
    from marts.fct_order_lines l
    anti join (
        select order_id from marts.fct_orders where is_cancelled and order_date <= $as_of
    ) cancelled on cancelled.order_id = l.order_id
    where l.order_date <= $as_of and not coalesce(l.is_cancelled, false)
"""
_ECONOMICS_DIMENSION, _ECONOMICS_GROUPING_SETS = _by_dimension(
    {**ORDER_DIMENSIONS, "product_category": "product_category"}, "o.order_date"
)
#: the margin and price sums of the revenue lines (LineTotals.line_economics); ``o`` is
#: a line with its order's dimensions and its product's list price
_LINE_ECONOMICS = f"""
    with o as (
        select l.order_date, l.product_category, h.region, h.team, h.rep_id, h.channel,
               h.segment, h.country, l.amount, l.cost, l.quantity, l.unit_price,
               l.discount, p.list_price
        from marts.fct_order_lines l
        left join marts.fct_orders h on h.order_id = l.order_id and h.order_date <= $as_of
        left join marts.dim_product p on p.product_id = l.product_id
        where l.order_date <= $as_of and not coalesce(l.is_cancelled, false)
          and not coalesce(h.is_cancelled, false)
    )
    select o.order_date, {_ECONOMICS_DIMENSION},
           coalesce(sum(o.amount), 0) as amount,
           coalesce(sum(o.amount) filter (where o.cost is not null), 0) as costed_amount,
           coalesce(sum(o.cost) filter (where o.cost is not null), 0) as cost,
           coalesce(sum(o.discount) filter (where {{priced}}), 0) as discount,
           coalesce(sum(o.quantity * o.unit_price) filter (where {{priced}}), 0) as gross_amount,
           coalesce(sum(o.amount) filter (where {{listed}}), 0) as listed_amount,
           coalesce(sum(o.quantity * o.list_price) filter (where {{listed}}), 0) as list_value
    from o
    group by {_ECONOMICS_GROUPING_SETS}""".format(
    priced="o.discount is not null and o.quantity is not null and o.unit_price is not null",
    listed="o.quantity is not null and o.list_price is not null",
)

#: LineTotals field -> the query that sums the lines (sums of nothing are 0, as in polars)
LINE_TOTALS_SQL: dict[str, str] = {
    "line_economics": _LINE_ECONOMICS,
    # the lines are summed per order before the join to their order's dimensions (the
    # join and the wide group by then see 4 M orders instead of 10 M lines at L, 2x
    # faster); the cancelled orders' lines are left out there, as in _REVENUE_LINES
    "revenue_by_day": f"""
        with line_sums as (
            select order_id, order_date, sum(amount) as amount
            from marts.fct_order_lines
            where order_date <= $as_of and not coalesce(is_cancelled, false)
            group by order_id, order_date
        )
        select l.order_date, {_DAY_DIMENSION}, coalesce(sum(l.amount), 0) as amount
        from line_sums l
        left join marts.fct_orders o on o.order_id = l.order_id and o.order_date <= $as_of
        where not coalesce(o.is_cancelled, false)
        group by {_DAY_GROUPING_SETS}""",
    "revenue_by_category": f"""
        select order_date, product_category, coalesce(sum(amount), 0) as amount
        from ({_REVENUE_LINES}) group by all""",
    "margin_by_customer": """
        select customer_id, order_date,
               coalesce(sum(amount), 0) as amount,
               coalesce(sum(amount - cost) filter (where cost is not null), 0) as cost_margin,
               coalesce(sum(amount) filter (where cost is null), 0) as amount_without_cost
        from marts.fct_order_lines
        where order_date <= $as_of and not coalesce(is_cancelled, false)
        group by all""",
    # the customers' first purchase dates as kpis.customers.first_purchase_dates defines
    # them (not cancelled, net amount > 0); new_customer_events picks the order
    "first_order_categories": """
        with firsts as (
            select customer_id, min(order_date) as order_date
            from marts.fct_orders
            where order_date <= $as_of and customer_id is not null
              and not coalesce(is_cancelled, false) and coalesce(net_amount, 0) > 0
            group by all
        )
        select distinct l.order_id, l.product_category
        from marts.fct_order_lines l
        semi join (
            select o.order_id from marts.fct_orders o join firsts using (customer_id, order_date)
        ) f using (order_id)
        where l.order_date <= $as_of""",
}


#: every customer id of the marts the keyed frames read (their customer_id is one of these)
CUSTOMER_IDS_SQL = """
    select customer_id from marts.dim_customer where customer_id is not null
    union select customer_id from marts.fct_orders where customer_id is not null
    union select customer_id from marts.fct_opportunities where customer_id is not null
"""
#: the input frames and LineTotals fields whose customer_id :func:`load_inputs` reads
#: as the customer's key (``KpiInputs.customer_ids``)
CUSTOMER_KEYED: tuple[str, ...] = ("orders", "opportunities", "customers", "margin_by_customer")
#: the name of the customer keys' table on the connection while the inputs are read
_CUSTOMER_KEYS = "_kpi_customer_keys"


def customer_keys(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The customers' integer keys: key (UInt32, from 0), customer_id (text),
    one row per customer id of the marts (``CUSTOMER_IDS_SQL``), numbered in polars'
    order of the ids, so that the keys sort as the ids do (docs/architecture.md: value tiers are
    ranked with ties by customer_id)."""
    ids: pl.DataFrame = con.sql(CUSTOMER_IDS_SQL).pl()
    return ids.sort("customer_id").with_row_index("key").select(
        pl.col("key").cast(pl.UInt32), pl.col("customer_id").cast(pl.String)
    )


def _keyed(sql: str) -> str:
    """``sql`` with its customer_id replaced by the customer's key (``_CUSTOMER_KEYS``)."""
    return (
        f"select q.* replace (k.key as customer_id) from ({sql}) q "
        f"left join {_CUSTOMER_KEYS} k on k.customer_id = q.customer_id"
    )


# The orders whose lines the line queries sum: not cancelled, with at least one line (an
# order without lines has no row in the lines' groups; its net_amount is 0, not absent)
_LIVE_ORDERS_WITH_LINES = (
    "o.order_date <= $as_of and o.line_count > 0 and not coalesce(o.is_cancelled, false)"
)
_ORDERS_WITH_LINES = f"""
    from marts.fct_orders o
    where {_LIVE_ORDERS_WITH_LINES}
"""
#: margin_by_customer's sums of the orders' per-order sums (keyed or not)
_MARGIN_SUMS = """coalesce(sum(o.net_amount), 0) as amount,
               coalesce(sum(o.cost_margin), 0) as cost_margin,
               coalesce(sum(o.amount_without_cost), 0) as amount_without_cost"""
#: LineTotals field -> the query that sums it from marts.fct_orders' per-order sums of
#: the order's lines (net_amount, cost_margin, amount_without_cost, line_count:
#: int_orders_netted) instead of the lines: 4.4 M narrow order rows instead of 10 M
#: lines at L (docs/decisions/0007). The same rows as LINE_TOTALS_SQL on a warehouse built by the dbt models,
#: because there
#:
#: - a line's order_date, customer_id and is_cancelled are its order header's
#:   (fct_order_lines joins the header; ``is_cancelled`` is false where the order's is
#:   null): the line queries' keys and filters are the order's;
#: - a line without a header (an orphan line, which fct_orders lacks) has a null
#:   order_date and so is outside every as-of cut of the line queries as well;
#: - the per-order sums are over exactly the order's rows in fct_order_lines (both are
#:   rebuilt together on a night), and a sum of per-order sums is the sum of the lines
#:   (to the last bits of a double: they are added in another order).
#:
#: Only for a warehouse: frames given to :func:`line_totals_from_frames` need not hold
#: to these rules (nor carry the sums), so they are summed from their lines.
#: tests/test_dbt_models.py compares the two on the dbt models' output.
ORDER_SUMS_SQL: dict[str, str] = {
    "revenue_by_day": f"""
        select o.order_date, {_ORDER_DAY_DIMENSION},
               coalesce(sum(o.net_amount), 0) as amount
        {_ORDERS_WITH_LINES}
        group by {_ORDER_DAY_GROUPING_SETS}""",
    "margin_by_customer": f"""
        select o.customer_id, o.order_date,
               {_MARGIN_SUMS}
        {_ORDERS_WITH_LINES}
        group by all""",
}
#: ORDER_SUMS_SQL's queries grouped on the customer, with the customer's key
#: (:func:`load_inputs`) joined before the grouping: DuckDB then groups on the integer
#: key instead of the text id (``margin_by_customer`` at L 3.4–3.7 → 1.7–2.0 CPU s,
#: against joining the key to the grouped rows)
KEYED_ORDER_SUMS_SQL: dict[str, str] = {
    "margin_by_customer": f"""
        select k.key as customer_id, o.order_date,
               {_MARGIN_SUMS}
        from marts.fct_orders o
        left join {_CUSTOMER_KEYS} k on k.customer_id = o.customer_id
        where {_LIVE_ORDERS_WITH_LINES}
        group by all""",
}


def _read(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    as_of: dt.date,
    prepare: Callable[[pl.DataFrame], pl.DataFrame],
) -> pl.DataFrame:
    """The rows of ``sql`` (parameter ``$as_of``) read batch by batch, each batch
    ``prepare``-d (compacted) before the next is read: the text of a whole table is
    never held at once."""
    relation = con.sql(sql, params={"as_of": as_of} if "$as_of" in sql else None)
    batches = relation.to_arrow_reader(BATCH_ROWS)
    parts = [prepare(pl.from_arrow(batch)) for batch in batches]  # type: ignore[arg-type]
    if not parts:
        return prepare(pl.from_arrow(batches.schema.empty_table()))  # type: ignore[arg-type]
    return pl.concat(parts)


#: LineTotals field -> its text columns held as Categorical
_LINE_TOTALS_CATEGORICAL: dict[str, tuple[str, ...]] = {
    "revenue_by_category": ("product_category",),
}
#: dim_product for frames given without products (no list prices known)
_EMPTY_PRODUCTS = "select null::varchar as product_id, null::double as list_price limit 0"


def load_line_totals(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    *,
    order_sums: bool = True,
    keyed: bool = False,
) -> LineTotals:
    """Sum marts.fct_order_lines (and the first orders' categories) as of ``as_of`` in
    DuckDB; the connection needs ``marts.fct_orders`` and ``marts.fct_order_lines``.
    With ``order_sums`` (a warehouse built by the dbt models), the totals of
    ``ORDER_SUMS_SQL`` are summed from fct_orders' per-order sums; without, every total
    from the lines (``LINE_TOTALS_SQL``). With ``keyed`` (:func:`load_inputs`), the
    customer_id of the fields of ``CUSTOMER_KEYED`` is the customer's key (joined to
    the grouped rows, or before grouping: ``KEYED_ORDER_SUMS_SQL``)."""
    queries = {**LINE_TOTALS_SQL, **(ORDER_SUMS_SQL if order_sums else {})}
    if keyed:
        queries = {
            name: _keyed(sql) if name in CUSTOMER_KEYED else sql for name, sql in queries.items()
        } | (KEYED_ORDER_SUMS_SQL if order_sums else {})
    return LineTotals(
        **{
            name: _read(con, sql, as_of, _categorical(_LINE_TOTALS_CATEGORICAL.get(name, ())))
            for name, sql in queries.items()
        }
    )


def line_totals_from_frames(
    orders: pl.DataFrame,
    order_lines: pl.DataFrame,
    as_of: dt.date,
    products: pl.DataFrame | None = None,
) -> LineTotals:
    """:func:`load_line_totals` over frames of fct_orders and fct_order_lines (for
    computing KPIs on data that is not in a warehouse): the line queries
    (``LINE_TOTALS_SQL``), run by an in-memory DuckDB over the frames. Every total comes
    from the lines: the frames need not hold to the rules that make ``ORDER_SUMS_SQL``
    exact (a line cancelled in a live order, a line dated without its order, orders
    whose net_amount is not their lines' sum)."""
    con = duckdb.connect()
    try:
        con.execute("create schema marts")
        for table, frame in (("fct_orders", orders), ("fct_order_lines", order_lines)):
            con.register(f"_{table}", frame.to_arrow())
            con.execute(f"create view marts.{table} as select * from _{table}")
        if products is None:
            con.execute(f"create view marts.dim_product as {_EMPTY_PRODUCTS}")
        else:
            con.register("_dim_product", products.to_arrow())
            con.execute("create view marts.dim_product as select * from _dim_product")
        return load_line_totals(con, as_of, order_sums=False)
    finally:
        con.close()


def load_inputs(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> KpiInputs:
    """Read the marts as of ``as_of`` into polars frames (the order lines summed, partly
    through fct_orders' per-order sums: ``ORDER_SUMS_SQL``).

    The customer ids of the frames of ``CUSTOMER_KEYED`` are read as the customers'
    integer keys (:func:`customer_keys`, mapped back by ``KpiInputs.with_customer_ids``):
    the KPIs group and join millions of orders on the customer, which costs about half
    on an integer what it costs on text, and DuckDB maps them in parallel while
    reading (docs/decisions/0007). The
    join does not keep the tables' row order, on which no KPI depends (dim_customer has
    one current row per customer: tests/dbt/assert_dim_customer_one_current_row.sql)."""
    keys = customer_keys(con)
    con.register(_CUSTOMER_KEYS, keys.to_arrow())
    try:
        frames = {
            name: _read(
                con,
                _keyed(input_query(name)) if name in CUSTOMER_KEYED else input_query(name),
                as_of,
                functools.partial(compact, name),
            )
            for name in INPUTS
        }
        lines = load_line_totals(con, as_of, keyed=True)
    finally:
        con.unregister(_CUSTOMER_KEYS)
    return KpiInputs(as_of=as_of, lines=lines, customer_ids=keys, **frames)


def latest_data_date(con: duckdb.DuckDBPyConnection, run_date: dt.date) -> dt.date | None:
    """The default as-of date: the latest data date on or before ``run_date`` (the day of
    the run); None when the marts hold no dated order, opportunity or lead.

    Data dates are the order dates (marts.fct_orders), the close dates of closed
    opportunities and the creation dates of opportunities and leads. A date after the
    run date is not a data date: a CRM lets a rep mark a deal won while its expected close
    date is still in the future, and such a date would push the as-of date (and empty
    periods) into the future. Only when every date is after the run date (data from
    another clock, such as a test set dated ahead) is the latest of them taken, as the
    only as-of date at which the data says anything. The hygiene checks
    ``closed_with_future_close_date`` and ``future_dated_records``
    (salesdw.validate.hygiene) report the records dated after the run date.
    """
    rows = con.execute(
        """
        with data_dates as (
            select order_date as day from marts.fct_orders
            union all
            select close_date from marts.fct_opportunities where is_closed
            union all
            select created_at from marts.fct_opportunities
            union all
            select created_at from marts.fct_leads
        )
        select coalesce(max(day) filter (where day <= $run_date), max(day)) from data_dates
        """,
        {"run_date": run_date},
    ).fetchall()
    return rows[0][0] if rows else None
