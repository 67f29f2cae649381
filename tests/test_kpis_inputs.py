"""The order lines as the KPIs receive them (kpis.inputs.LINE_TOTALS_SQL), worked out by
hand: which lines count, what a missing amount or cost does, lines of an unknown or a
later order, and the first-purchase orders' categories; and the default as-of date
(kpis.inputs.latest_data_date)."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest
from kpi_builders import leads, make_inputs, opportunities, order_lines, orders

from kpis.inputs import ORDER_DIMENSIONS, compact, latest_data_date, line_totals_from_frames

D = dt.date
AS_OF = D(2024, 3, 31)


def _shop() -> tuple[pl.DataFrame, pl.DataFrame]:
    heads = orders(
        [
            {"order_id": "o1", "order_date": D(2024, 3, 1), "customer_id": "a", "rep_id": "r1", "region": "EU",
             "net_amount": 150.0},
            {"order_id": "o2", "order_date": D(2024, 3, 1), "customer_id": "a", "region": "EU",
             "status": "cancelled", "net_amount": 70.0},
            {"order_id": "o3", "order_date": D(2024, 3, 5), "customer_id": "b", "rep_id": "r1", "region": "US",
             "net_amount": 40.0},
            {"order_id": "o4", "order_date": D(2024, 4, 2), "customer_id": "b", "region": "US",
             "net_amount": 999.0},  # after as_of
            {"order_id": "o5", "order_date": D(2024, 3, 1), "customer_id": "c", "rep_id": "r2", "region": "US",
             "net_amount": -20.0},  # a return: not a purchase, not a first order
            {"order_id": "o6", "order_date": D(2024, 3, 9), "customer_id": "c", "rep_id": "r2", "region": "US",
             "net_amount": 30.0},
        ]
    )
    lines = order_lines(
        [
            {"order_id": "o1", "order_date": D(2024, 3, 1), "customer_id": "a",
             "product_category": "Sensors", "amount": 100.0, "cost": 60.0},
            {"order_id": "o1", "order_date": D(2024, 3, 1), "customer_id": "a",
             "product_category": "Cables", "amount": 50.0},  # no cost
            {"order_id": "o1", "order_date": D(2024, 3, 1), "customer_id": "a",
             "product_category": "Cables", "amount": 8.0, "is_cancelled": True},
            {"order_id": "o1", "order_date": D(2024, 3, 1), "customer_id": "a",
             "product_category": "Cables", "amount": None, "cost": 5.0},  # no amount
            {"order_id": "o2", "order_date": D(2024, 3, 1), "customer_id": "a",
             "product_category": "Sensors", "amount": 70.0, "cost": 10.0},  # order cancelled
            {"order_id": "o3", "order_date": D(2024, 3, 5), "customer_id": "b",
             "product_category": "Sensors", "amount": 40.0, "cost": 50.0},  # sold at a loss
            {"order_id": "o4", "order_date": D(2024, 4, 2), "customer_id": "b",
             "product_category": "Sensors", "amount": 999.0},
            {"order_id": "o5", "order_date": D(2024, 3, 1), "customer_id": "c",
             "product_category": "Tools", "amount": -20.0, "cost": -12.0},
            {"order_id": "o6", "order_date": D(2024, 3, 9), "customer_id": "c",
             "product_category": "Tools", "amount": 30.0},
            {"order_id": "o9", "order_date": D(2024, 3, 5), "customer_id": None,
             "product_category": "Tools", "amount": 5.0},  # its order is unknown
        ]
    )
    return heads, lines


def _rows(frame: pl.DataFrame, *keys: str) -> list[tuple[object, ...]]:
    """The rows as text-valued tuples, sorted by ``keys`` (a missing key sorts as "None")."""
    return sorted(frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).rows(),
                  key=lambda row: tuple(str(v) for v in row[: len(keys)]))


def test_revenue_lines_leave_out_cancelled_lines_and_orders_and_later_days() -> None:
    totals = line_totals_from_frames(*_shop(), AS_OF)
    by_day = totals.revenue_by_day

    def dimension(name: str) -> list[tuple[object, ...]]:
        rows = by_day.filter(pl.col("dimension") == name).drop("dimension")
        return _rows(rows, "order_date", "dimension_value")

    # 1 Mar: o1 100 + 50 (+ no amount) = 150 (EU); o5 -20 (US); o2 cancelled, o4 later
    # 5 Mar: o3 40 (US); the line of unknown order o9: 5, without dimensions
    assert dimension("region") == [
        (D(2024, 3, 1), "EU", 150.0),
        (D(2024, 3, 1), "US", -20.0),
        (D(2024, 3, 5), None, 5.0),
        (D(2024, 3, 5), "US", 40.0),
        (D(2024, 3, 9), "US", 30.0),
    ]
    # the company's total per day: 150 - 20; 40 + 5; 30
    assert dimension("all") == [
        (D(2024, 3, 1), "all", 130.0),
        (D(2024, 3, 5), "all", 45.0),
        (D(2024, 3, 9), "all", 30.0),
    ]
    # every order dimension (rep: fct_orders.rep_id) has its rows, one per day and value,
    # and they sum to the day's total; nothing else is in the frame
    assert set(by_day["dimension"]) == {"all", *ORDER_DIMENSIONS}
    assert dimension("rep") == [
        (D(2024, 3, 1), "r1", 150.0),  # o1
        (D(2024, 3, 1), "r2", -20.0),  # o5
        (D(2024, 3, 5), None, 5.0),  # the unknown order o9
        (D(2024, 3, 5), "r1", 40.0),  # o3
        (D(2024, 3, 9), "r2", 30.0),  # o6
    ]
    per_day = by_day.group_by("dimension", "order_date").agg(pl.col("amount").sum())
    assert _rows(per_day.group_by("order_date").agg(pl.col("amount").unique()),
                 "order_date") == [
        (D(2024, 3, 1), [130.0]),
        (D(2024, 3, 5), [45.0]),
        (D(2024, 3, 9), [30.0]),
    ]
    assert _rows(totals.revenue_by_category, "order_date", "product_category") == [
        (D(2024, 3, 1), "Cables", 50.0),
        (D(2024, 3, 1), "Sensors", 100.0),
        (D(2024, 3, 1), "Tools", -20.0),
        (D(2024, 3, 5), "Sensors", 40.0),
        (D(2024, 3, 5), "Tools", 5.0),
        (D(2024, 3, 9), "Tools", 30.0),
    ]


def test_margins_split_lines_with_and_without_cost() -> None:
    margins = line_totals_from_frames(*_shop(), AS_OF).margin_by_customer
    # a, 1 Mar: lines not cancelled by their own flag (o2's line is not: its order is)
    #   amount 100 + 50 + 70 = 220; with cost: (100 - 60) + (70 - 10) = 100 (the line
    #   without amount counts nothing); without cost: 50
    # b: 40 - 50 = -10; c: -20 - (-12) = -8 on 1 Mar, 30 without cost on 9 Mar
    assert _rows(margins, "customer_id", "order_date") == [
        (None, D(2024, 3, 5), 5.0, 0.0, 5.0),
        ("a", D(2024, 3, 1), 220.0, 100.0, 50.0),
        ("b", D(2024, 3, 5), 40.0, -10.0, 0.0),
        ("c", D(2024, 3, 1), -20.0, -8.0, 0.0),
        ("c", D(2024, 3, 9), 30.0, 0.0, 30.0),
    ]


def test_first_order_categories_are_those_of_the_first_purchase_day() -> None:
    firsts = line_totals_from_frames(*_shop(), AS_OF).first_order_categories
    # a: 1 Mar (o1; o2 is cancelled but on the same day: its lines may come along, the
    # KPI picks the order); b: o3 (o4 is later than as_of); c: o6 (o5 is a return)
    assert {row for row in firsts.rows() if row[0] != "o2"} == {
        ("o1", "Sensors"), ("o1", "Cables"), ("o3", "Sensors"), ("o6", "Tools"),
    }


def test_inputs_hold_only_the_columns_the_kpis_read() -> None:
    heads, lines = _shop()
    inputs = make_inputs(AS_OF, orders=heads, order_lines=lines)
    assert "cost_amount" not in inputs.orders.columns
    assert inputs.orders.schema["region"] == pl.Categorical()
    assert inputs.orders.schema["customer_id"] == pl.String()
    # a KPI reading a column that is not loaded fails here, not only in production
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        compact("orders", heads.drop("is_purchase"))


def _marts(
    order_dates: list[dt.date],
    opps: list[dict[str, object]],
    lead_dates: list[dt.date],
) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the three marts latest_data_date reads."""
    con = duckdb.connect()
    con.execute("create schema marts")
    frames = {
        "fct_orders": orders(
            [{"order_id": f"o{i}", "order_date": d} for i, d in enumerate(order_dates)]
        ),
        "fct_opportunities": opportunities(opps),
        "fct_leads": leads(
            [{"lead_id": f"l{i}", "created_at": d} for i, d in enumerate(lead_dates)]
        ),
    }
    for name, frame in frames.items():
        con.register("_frame", frame.to_arrow())
        con.execute(f"create table marts.{name} as select * from _frame")
        con.unregister("_frame")
    return con


#: The bench's incremental night: a deal marked won while its expected close date is
#: years ahead (2029-01-13), an open deal expected in 2027, the rest of the data in 2026.
NIGHT_OPPS: list[dict[str, object]] = [
    {
        "opportunity_id": "won_early",
        "stage": "won",
        "created_at": D(2026, 3, 2),
        "close_date": D(2029, 1, 13),
    },
    {
        "opportunity_id": "open",
        "stage": "proposal",
        "created_at": D(2026, 10, 20),
        "close_date": D(2027, 2, 1),
    },
    {
        "opportunity_id": "lost",
        "stage": "lost",
        "created_at": D(2026, 5, 1),
        "close_date": D(2026, 10, 29),
    },
]


def test_latest_data_date_ignores_dates_after_the_run_date() -> None:
    con = _marts([D(2026, 10, 31), D(2026, 9, 1)], NIGHT_OPPS, [D(2026, 10, 30)])
    # the orders' 2026-10-31, not the won deal's 2029-01-13 nor the open deal's 2027-02-01
    assert latest_data_date(con, D(2026, 11, 22)) == D(2026, 10, 31)
    # the run date itself is a data date; the day before it, the lead of 2026-10-30
    assert latest_data_date(con, D(2026, 10, 31)) == D(2026, 10, 31)
    assert latest_data_date(con, D(2026, 10, 30)) == D(2026, 10, 30)
    # the lost deal's close date 2026-10-29 is the latest on or before the 29th
    assert latest_data_date(con, D(2026, 10, 29)) == D(2026, 10, 29)
    # once the run date passes the deal's close date, it is a data date
    assert latest_data_date(con, D(2029, 2, 1)) == D(2029, 1, 13)


def test_latest_data_date_of_a_future_opportunity_or_lead() -> None:
    # no orders: the latest closed deal or creation date up to the run date
    con = _marts([], NIGHT_OPPS, [D(2026, 12, 24)])
    assert latest_data_date(con, D(2026, 11, 22)) == D(2026, 10, 29)  # the lost deal's close
    assert latest_data_date(con, D(2026, 12, 31)) == D(2026, 12, 24)  # the lead


def test_latest_data_date_when_every_date_is_after_the_run_date() -> None:
    # every date after the run date (a data set dated ahead of the machine's clock): the
    # latest of them, as before the rule, rather than an as-of date without any data
    con = _marts([D(2026, 10, 31)], NIGHT_OPPS, [D(2026, 10, 30)])
    assert latest_data_date(con, D(2025, 1, 1)) == D(2029, 1, 13)
    assert latest_data_date(_marts([], [], []), D(2026, 11, 22)) is None
