"""Builders of hand-made mart frames for KPI tests.

Every builder takes a list of dicts holding only the columns a test cares about and
fills the others with sensible defaults, so that a frame has exactly the columns and
types of its mart (docs/architecture.md). Derived columns (flags, period ends, stage
orders) follow from the given ones unless they are given too.

    inputs = make_inputs(
        date(2024, 3, 15),
        orders=orders([{"order_id": "o1", "order_date": date(2024, 3, 1), "net_amount": 100.0}]),
    )
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from kpis.inputs import KpiInputs, compact, line_totals_from_frames

Rows = Sequence[Mapping[str, Any]]

ORDERS_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "order_date": pl.Date(),
    "customer_id": pl.String(),
    "status": pl.String(),
    "channel": pl.String(),
    "rep_id": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "country": pl.String(),
    "segment": pl.String(),
    "currency": pl.String(),
    "net_amount": pl.Float64(),
    "cost_amount": pl.Float64(),
    "line_count": pl.Int64(),
    "is_cancelled": pl.Boolean(),
    "is_purchase": pl.Boolean(),
    "is_return": pl.Boolean(),
    "cost_margin": pl.Float64(),
    "amount_without_cost": pl.Float64(),
}
ORDER_LINES_SCHEMA: dict[str, pl.DataType] = {
    "order_line_key": pl.String(),
    "order_id": pl.String(),
    "line_id": pl.String(),
    "order_date": pl.Date(),
    "customer_id": pl.String(),
    "product_id": pl.String(),
    "product_category": pl.String(),
    "quantity": pl.Float64(),
    "unit_price": pl.Float64(),
    "discount": pl.Float64(),
    "amount": pl.Float64(),
    "amount_local": pl.Float64(),
    "currency": pl.String(),
    "cost": pl.Float64(),
    "is_cancelled": pl.Boolean(),
}
OPPORTUNITIES_SCHEMA: dict[str, pl.DataType] = {
    "opportunity_id": pl.String(),
    "customer_id": pl.String(),
    "lead_id": pl.String(),
    "owner_rep_id": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "name": pl.String(),
    "stage_raw": pl.String(),
    "stage": pl.String(),
    "stage_order": pl.Int64(),
    "max_stage_order_reached": pl.Int64(),
    "is_won": pl.Boolean(),
    "is_lost": pl.Boolean(),
    "is_closed": pl.Boolean(),
    "amount": pl.Float64(),
    "amount_local": pl.Float64(),
    "currency": pl.String(),
    "probability": pl.Float64(),
    "created_at": pl.Date(),
    "close_date": pl.Date(),
    "channel": pl.String(),
    "product_id": pl.String(),
    "product_category": pl.String(),
    "type": pl.String(),
    "segment": pl.String(),
    "country": pl.String(),
}
OPPORTUNITY_STAGES_SCHEMA: dict[str, pl.DataType] = {
    "opportunity_stage_key": pl.String(),
    "opportunity_id": pl.String(),
    "stage": pl.String(),
    "stage_order": pl.Int64(),
    "default_probability": pl.Float64(),
    "entered_at": pl.Datetime("us"),
    "exited_at": pl.Datetime("us"),
    "days_in_stage": pl.Float64(),
}
LEADS_SCHEMA: dict[str, pl.DataType] = {
    "lead_id": pl.String(),
    "created_at": pl.Date(),
    "channel": pl.String(),
    "channel_raw": pl.String(),
    "status": pl.String(),
    "owner_rep_id": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "converted_at": pl.Date(),
    "converted_customer_id": pl.String(),
    "converted_opportunity_id": pl.String(),
    "converted_date": pl.Date(),
}
TARGETS_SCHEMA: dict[str, pl.DataType] = {
    "target_key": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "grain": pl.String(),
    "metric": pl.String(),
    "level": pl.String(),
    "level_value": pl.String(),
    "target_value": pl.Float64(),
}
MARKETING_SPEND_SCHEMA: dict[str, pl.DataType] = {
    "spend_key": pl.String(),
    "period_start": pl.Date(),
    "channel": pl.String(),
    "channel_raw": pl.String(),
    "campaign": pl.String(),
    "amount": pl.Float64(),
    "amount_local": pl.Float64(),
    "currency": pl.String(),
}
CUSTOMERS_SCHEMA: dict[str, pl.DataType] = {
    "customer_key": pl.String(),
    "customer_id": pl.String(),
    "name": pl.String(),
    "segment": pl.String(),
    "industry": pl.String(),
    "country": pl.String(),
    "region": pl.String(),
    "city": pl.String(),
    "channel": pl.String(),
    "channel_raw": pl.String(),
    "created_at": pl.Date(),
    "owner_rep_id": pl.String(),
    "first_purchase_date": pl.Date(),
    "first_won_date": pl.Date(),
    "valid_from": pl.Date(),
    "valid_to": pl.Date(),
    "is_current": pl.Boolean(),
}
REPS_SCHEMA: dict[str, pl.DataType] = {
    "rep_id": pl.String(),
    "name": pl.String(),
    "manager": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "hire_date": pl.Date(),
    "active": pl.Boolean(),
}
PRODUCTS_SCHEMA: dict[str, pl.DataType] = {
    "product_id": pl.String(),
    "name": pl.String(),
    "category": pl.String(),
    "list_price": pl.Float64(),
    "unit_cost": pl.Float64(),
}
INVOICES_SCHEMA: dict[str, pl.DataType] = {
    "invoice_id": pl.String(),
    "invoice_date": pl.Date(),
    "due_date": pl.Date(),
    "customer_id": pl.String(),
    "order_id": pl.String(),
    "opportunity_id": pl.String(),
    "rep_id": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "segment": pl.String(),
    "channel": pl.String(),
    "country": pl.String(),
    "status": pl.String(),
    "is_void": pl.Boolean(),
    "currency": pl.String(),
    "amount": pl.Float64(),
    "amount_local": pl.Float64(),
    "paid_amount": pl.Float64(),
    "open_amount": pl.Float64(),
    "paid_in_full_date": pl.Date(),
    "days_late": pl.Int64(),
}
PAYMENTS_SCHEMA: dict[str, pl.DataType] = {
    "payment_id": pl.String(),
    "payment_date": pl.Date(),
    "customer_id": pl.String(),
    "invoice_id": pl.String(),
    "is_invoice_known": pl.Boolean(),
    "applied_invoice_id": pl.String(),
    "order_id": pl.String(),
    "method": pl.String(),
    "currency": pl.String(),
    "amount": pl.Float64(),
    "amount_local": pl.Float64(),
    "is_refund": pl.Boolean(),
}
ACTIVITIES_SCHEMA: dict[str, pl.DataType] = {
    "activity_id": pl.String(),
    "occurred_at": pl.Datetime("us"),
    "activity_date": pl.Date(),
    "type": pl.String(),
    "rep_id": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "customer_id": pl.String(),
    "lead_id": pl.String(),
    "opportunity_id": pl.String(),
    "subject": pl.String(),
    "outcome": pl.String(),
    "duration_minutes": pl.Float64(),
}

STAGE_ORDER = {
    "lead": 1,
    "qualification": 2,
    "needs_analysis": 3,
    "proposal": 4,
    "negotiation": 5,
    "won": 6,
    "lost": 7,
}
STAGE_PROBABILITY = {
    "lead": 0.1,
    "qualification": 0.2,
    "needs_analysis": 0.4,
    "proposal": 0.6,
    "negotiation": 0.8,
    "won": 1.0,
    "lost": 0.0,
}


def _frame(rows: Rows, schema: Mapping[str, pl.DataType], defaults: Mapping[str, Any]) -> pl.DataFrame:
    unknown = {key for row in rows for key in row} - set(schema)
    if unknown:
        raise KeyError(f"not a column of this mart: {sorted(unknown)}")
    filled = [{name: row.get(name, defaults.get(name)) for name in schema} for row in rows]
    return pl.DataFrame(filled, schema=dict(schema), orient="row")


def orders(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_orders; status defaults to completed, flags follow status and net_amount."""
    frame = _frame(
        rows,
        ORDERS_SCHEMA,
        {"status": "completed", "channel": "unknown", "currency": "USD", "line_count": 1},
    )
    cancelled = pl.col("status") == "cancelled"
    net = pl.col("net_amount").fill_null(0)
    return frame.with_columns(
        pl.col("is_cancelled").fill_null(cancelled),
        pl.col("is_purchase").fill_null(~cancelled & (net > 0)),
        pl.col("is_return").fill_null(~cancelled & (net < 0)),
    )


def order_lines(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_order_lines; line keys numbered, amount_local defaults to amount."""
    frame = _frame(rows, ORDER_LINES_SCHEMA, {"currency": "USD", "is_cancelled": False})
    return frame.with_columns(
        pl.col("order_line_key").fill_null(
            pl.concat_str(pl.lit("l"), pl.int_range(pl.len()).cast(pl.String))
        ),
        pl.col("amount_local").fill_null(pl.col("amount")),
    )


def sales(rows: Rows) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Consistent (fct_orders, fct_order_lines) from orders with their lines.

    Each row is an order (fct_orders columns) plus ``lines``: a list of fct_order_lines
    dicts (order_id, order_date, customer_id and is_cancelled are copied from the order);
    without ``lines`` the order has one line of ``net_amount``. ``net_amount`` is the sum
    of the line amounts; ``cost_margin`` and ``amount_without_cost`` are the lines' sums
    as int_orders_netted has them (null without a line to sum), so that the KPI step's
    totals from the orders' sums (kpis.inputs.ORDER_SUMS_SQL) are those of the lines.
    """

    def total(values: list[float]) -> float | None:
        return sum(values) if values else None

    order_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    for row in rows:
        order = {key: value for key, value in row.items() if key != "lines"}
        lines = row.get("lines") or [{"amount": row.get("net_amount", 0.0)}]
        order["net_amount"] = sum(float(line.get("amount") or 0.0) for line in lines)
        order["line_count"] = len(lines)
        order["cost_margin"] = total(
            [line["amount"] - line["cost"] for line in lines
             if line.get("amount") is not None and line.get("cost") is not None]
        )
        order["amount_without_cost"] = total(
            [line["amount"] for line in lines
             if line.get("amount") is not None and line.get("cost") is None]
        )
        cancelled = order.get("status") == "cancelled"
        for number, line in enumerate(lines, start=1):
            line_rows.append(
                {
                    "order_line_key": f"{order['order_id']}-{number}",
                    "line_id": str(number),
                    "order_id": order["order_id"],
                    "order_date": order["order_date"],
                    "customer_id": order.get("customer_id"),
                    "is_cancelled": cancelled,
                    **line,
                }
            )
        order_rows.append(order)
    return orders(order_rows), order_lines(line_rows)


def opportunities(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_opportunities; stage defaults to lead, flags, stage_order and probability
    follow the stage, max_stage_order_reached defaults to the stage's order (5 for won,
    1 for lost)."""
    frame = _frame(rows, OPPORTUNITIES_SCHEMA, {"stage": "lead", "currency": "USD", "type": "new"})
    stage = pl.col("stage")
    order = stage.replace_strict(STAGE_ORDER, default=None, return_dtype=pl.Int64)
    reached = (
        pl.when(stage == "won").then(5).when(stage == "lost").then(1).otherwise(order)
    ).cast(pl.Int64)
    return frame.with_columns(
        pl.col("stage_raw").fill_null(stage),
        pl.col("stage_order").fill_null(order),
        pl.col("max_stage_order_reached").fill_null(reached),
        pl.col("is_won").fill_null(stage == "won"),
        pl.col("is_lost").fill_null(stage == "lost"),
        pl.col("is_closed").fill_null(stage.is_in(["won", "lost"])),
        pl.col("probability").fill_null(
            stage.replace_strict(STAGE_PROBABILITY, default=None, return_dtype=pl.Float64)
        ),
        pl.col("amount_local").fill_null(pl.col("amount")),
    )


def opportunity_stages(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_opportunity_stages; stage_order and default_probability follow the stage."""
    frame = _frame(rows, OPPORTUNITY_STAGES_SCHEMA, {})
    return frame.with_columns(
        pl.col("default_probability").fill_null(
            pl.col("stage").replace_strict(STAGE_PROBABILITY, default=None, return_dtype=pl.Float64)
        ),
        pl.col("opportunity_stage_key").fill_null(
            pl.concat_str("opportunity_id", pl.lit("-"), "stage")
        ),
        pl.col("stage_order").fill_null(
            pl.col("stage").replace_strict(STAGE_ORDER, default=None, return_dtype=pl.Int64)
        ),
    )


def leads(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_leads; converted_date defaults to converted_at."""
    frame = _frame(rows, LEADS_SCHEMA, {"channel": "unknown"})
    return frame.with_columns(pl.col("converted_date").fill_null(pl.col("converted_at")))


def targets(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_targets; grain month, metric revenue, level company by default;
    period_end follows period_start and grain, level_value is ``all`` for company."""
    frame = _frame(rows, TARGETS_SCHEMA, {"grain": "month", "metric": "revenue", "level": "company"})
    step = pl.col("grain").replace_strict(
        {"week": "1w", "month": "1mo", "quarter": "3mo", "year": "1y"}
    )
    return frame.with_columns(
        pl.col("target_key").fill_null(
            pl.concat_str(pl.lit("t"), pl.int_range(pl.len()).cast(pl.String))
        ),
        pl.col("period_end").fill_null(pl.col("period_start").dt.offset_by(step)),
        pl.col("level_value").fill_null(
            pl.when(pl.col("level") == "company").then(pl.lit("all"))
        ),
    )


def marketing_spend(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_marketing_spend; amount_local defaults to amount."""
    frame = _frame(rows, MARKETING_SPEND_SCHEMA, {"currency": "USD"})
    return frame.with_columns(
        pl.col("spend_key").fill_null(
            pl.concat_str(pl.lit("s"), pl.int_range(pl.len()).cast(pl.String))
        ),
        pl.col("channel_raw").fill_null(pl.col("channel")),
        pl.col("amount_local").fill_null(pl.col("amount")),
    )


def customers(rows: Rows = ()) -> pl.DataFrame:
    """marts.dim_customer current rows; customer_key defaults to customer_id."""
    frame = _frame(rows, CUSTOMERS_SCHEMA, {"is_current": True})
    return frame.with_columns(pl.col("customer_key").fill_null(pl.col("customer_id")))


def reps(rows: Rows = ()) -> pl.DataFrame:
    """marts.dim_rep."""
    return _frame(rows, REPS_SCHEMA, {"active": True})


def products(rows: Rows = ()) -> pl.DataFrame:
    """marts.dim_product."""
    return _frame(rows, PRODUCTS_SCHEMA, {})


def invoices(rows: Rows = (), payment_terms_days: int = 30) -> pl.DataFrame:
    """marts.fct_invoices; due_date defaults to invoice_date + payment_terms_days (as the
    model does), status to open, is_void follows status, amount_local to amount."""
    frame = _frame(rows, INVOICES_SCHEMA, {"status": "open", "currency": "USD"})
    return frame.with_columns(
        pl.col("due_date").fill_null(
            pl.col("invoice_date").dt.offset_by(f"{payment_terms_days}d")
        ),
        pl.col("is_void").fill_null(pl.col("status") == "void"),
        pl.col("amount_local").fill_null(pl.col("amount")),
    )


def payments(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_payments; amount_local defaults to amount, is_refund follows amount."""
    frame = _frame(rows, PAYMENTS_SCHEMA, {"currency": "USD"})
    return frame.with_columns(
        pl.col("amount_local").fill_null(pl.col("amount")),
        pl.col("is_refund").fill_null(pl.col("amount") < 0),
    )


def activities(rows: Rows = ()) -> pl.DataFrame:
    """marts.fct_activities; ids numbered, type call, activity_date follows occurred_at."""
    frame = _frame(rows, ACTIVITIES_SCHEMA, {"type": "call"})
    return frame.with_columns(
        pl.col("activity_id").fill_null(
            pl.concat_str(pl.lit("a"), pl.int_range(pl.len()).cast(pl.String))
        ),
        pl.col("activity_date").fill_null(pl.col("occurred_at").dt.date()),
    )


def make_inputs(
    as_of: dt.date,
    *,
    orders: pl.DataFrame | None = None,
    order_lines: pl.DataFrame | None = None,
    opportunities: pl.DataFrame | None = None,
    leads: pl.DataFrame | None = None,
    targets: pl.DataFrame | None = None,
    marketing_spend: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
    reps: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    invoices: pl.DataFrame | None = None,
    payments: pl.DataFrame | None = None,
    activities: pl.DataFrame | None = None,
    opportunity_stages: pl.DataFrame | None = None,
) -> KpiInputs:
    """KpiInputs with empty frames (of the right schema) for everything not given.

    Like ``kpis.inputs.load_inputs`` the dated frames are cut at ``as_of``, only the
    columns the KPIs read are kept, dimensions as Categorical (``kpis.inputs.compact``),
    and the order lines are summed by the same queries (``line_totals_from_frames``).
    """

    def given(frame: pl.DataFrame | None, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        return frame if frame is not None else pl.DataFrame(schema=dict(schema))

    def upto(frame: pl.DataFrame, column: str) -> pl.DataFrame:
        return frame.filter(pl.col(column).is_null() | (pl.col(column).cast(pl.Date) <= as_of))

    customer_rows = given(customers, CUSTOMERS_SCHEMA)
    frames = {
        "orders": upto(given(orders, ORDERS_SCHEMA), "order_date"),
        "opportunities": upto(given(opportunities, OPPORTUNITIES_SCHEMA), "created_at"),
        "leads": upto(given(leads, LEADS_SCHEMA), "created_at"),
        "targets": given(targets, TARGETS_SCHEMA),
        "marketing_spend": upto(given(marketing_spend, MARKETING_SPEND_SCHEMA), "period_start"),
        "customers": customer_rows.filter(pl.col("is_current").fill_null(True)),
        "reps": given(reps, REPS_SCHEMA),
        "products": given(products, PRODUCTS_SCHEMA),
        "invoices": upto(given(invoices, INVOICES_SCHEMA), "invoice_date"),
        "payments": upto(given(payments, PAYMENTS_SCHEMA), "payment_date"),
        "activities": upto(given(activities, ACTIVITIES_SCHEMA), "activity_date"),
        "opportunity_stages": given(opportunity_stages, OPPORTUNITY_STAGES_SCHEMA).filter(
            pl.col("entered_at").cast(pl.Date) <= as_of
        ),
    }
    return KpiInputs(
        as_of=as_of,
        lines=line_totals_from_frames(
            given(orders, ORDERS_SCHEMA),
            given(order_lines, ORDER_LINES_SCHEMA),
            as_of,
            given(products, PRODUCTS_SCHEMA),
        ),
        **{name: compact(name, frame) for name, frame in frames.items()},
    )


def kpi_row(
    values: pl.DataFrame,
    kpi: str,
    grain: str,
    period_start: dt.date,
    dimension: str = "all",
    dimension_value: str = "all",
) -> dict[str, Any]:
    """The one kpi_values row with these keys (fails unless there is exactly one)."""
    rows = values.filter(
        (pl.col("kpi") == kpi)
        & (pl.col("grain") == grain)
        & (pl.col("period_start") == period_start)
        & (pl.col("dimension") == dimension)
        & (pl.col("dimension_value") == dimension_value)
    )
    assert rows.height == 1, f"{rows.height} rows for {kpi} {grain} {period_start} {dimension}={dimension_value}"
    return rows.row(0, named=True)


def kpi_value(values: pl.DataFrame, kpi: str, grain: str, period_start: dt.date,
              dimension: str = "all", dimension_value: str = "all") -> float | None:
    """The ``value`` of the one kpi_values row with these keys."""
    value: float | None = kpi_row(values, kpi, grain, period_start, dimension, dimension_value)["value"]
    return value
