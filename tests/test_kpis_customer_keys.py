"""The customers' integer keys of the KPI inputs read from a warehouse
(kpis.inputs.load_inputs, KpiInputs.customer_ids): they sort as the ids do, map back to
the ids, and every kpi table computed on them is the one computed on the ids themselves
(kpis.inputs.compact's frames, as tests and data outside a warehouse have them).

The shop: ids whose byte order is not the order in which they are written (``B`` before
``a``, ``a10`` before ``a9``, ``é`` last), ties of window revenue across a value tier
boundary (docs/architecture.md: ties by customer_id), a customer absent from dim_customer, one known
only from an opportunity, orders without a customer, a return and a cancelled order.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import kpi_builders as kb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from kpis.cohorts import cohort_retention
from kpis.compute import compute_clv, compute_kpi_values
from kpis.inputs import KpiInputs, load_inputs
from kpis.segments import customer_segments
from schemas.config import KpiSettings

D = dt.date
AS_OF = D(2024, 6, 30)
SETTINGS = KpiSettings()


def _order(number: int, day: dt.date, customer: str | None, amount: float, **more: object) -> dict[str, object]:
    return {"order_id": f"o{number}", "order_date": day, "customer_id": customer,
            "net_amount": amount, **more}


def _marts(with_orders: bool = True) -> dict[str, pl.DataFrame]:
    """The marts load_inputs reads."""
    rows = [
        _order(1, D(2024, 1, 5), "b", 37.0, region="EU", channel="Web"),
        _order(2, D(2024, 1, 9), "a", 50.0, region="US", channel="Partner"),
        _order(3, D(2024, 2, 1), "a9", 7.0, region="EU", channel="Web"),
        _order(4, D(2024, 2, 1), "a10", 14.0, region="EU", channel="Web"),
        _order(5, D(2024, 3, 3), "B", 10.0, region="US", channel="Partner"),
        _order(6, D(2024, 3, 4), "z-not-in-dim", 15.0, region="US"),
        _order(7, D(2024, 3, 5), None, 20.0, region="US"),  # no customer
        _order(8, D(2024, 4, 5), "a", -10.0, region="US"),  # a return
        _order(9, D(2024, 4, 6), "b", 99.0, status="cancelled"),
        _order(10, D(2024, 5, 2), "é", 5.0, region="EU"),
        _order(11, D(2024, 5, 3), "b", 3.0, region="EU"),
        _order(12, D(2024, 6, 1), "B", 4.0, region="US"),
        _order(13, D(2024, 6, 2), "a9", 7.0, region="EU"),
    ]
    heads, lines = kb.sales(rows if with_orders else [])
    return {
        "fct_orders": heads,
        "fct_order_lines": lines,
        "fct_opportunities": kb.opportunities(
            [
                {"opportunity_id": "p1", "customer_id": "c-no-orders", "stage": "proposal",
                 "created_at": D(2024, 2, 1), "close_date": D(2024, 8, 1), "amount": 100.0},
                {"opportunity_id": "p2", "customer_id": "only-in-opportunities", "stage": "won",
                 "created_at": D(2024, 1, 1), "close_date": D(2024, 2, 10), "amount": 70.0},
                {"opportunity_id": "p3", "customer_id": "a", "stage": "won",
                 "created_at": D(2024, 1, 2), "close_date": D(2024, 3, 10), "amount": 30.0},
                {"opportunity_id": "p4", "customer_id": None, "stage": "won",
                 "created_at": D(2024, 1, 2), "close_date": D(2024, 3, 11), "amount": 30.0},
            ]
        ),
        "fct_leads": kb.leads(),
        "fct_targets": kb.targets(
            [
                {"period_start": D(2024, 3, 1), "grain": "month", "metric": metric,
                 "level": "company", "target_value": 2.0}
                for metric in ("new_customers", "revenue")
            ]
        ),
        "fct_marketing_spend": kb.marketing_spend(
            [{"period_start": D(2024, 1, 1), "channel": "Web", "amount": 60.0}]
        ),
        "dim_customer": kb.customers(  # not in the order of the ids
            [
                {"customer_id": "a9", "segment": "SMB", "country": "DE", "channel": "Web"},
                {"customer_id": "b", "segment": "SMB", "country": "FR", "channel": "Web"},
                {"customer_id": "a10", "segment": "Enterprise", "country": "DE", "channel": "Web"},
                {"customer_id": "é", "segment": None, "country": "ES", "channel": None},
                {"customer_id": "c-no-orders", "segment": "SMB", "country": "DE", "channel": "Web"},
                {"customer_id": "a", "segment": "Enterprise", "country": "US", "channel": "Partner"},
                {"customer_id": "a", "segment": "SMB", "country": "US", "channel": "Web",
                 "is_current": False},  # an earlier version
                {"customer_id": "B", "segment": "SMB", "country": "US", "channel": "Partner"},
            ]
        ),
        "dim_rep": kb.reps(),
        "dim_product": kb.products(),
        "fct_invoices": kb.invoices(),
        "fct_payments": kb.payments(),
        "fct_activities": kb.activities(),
        "fct_opportunity_stages": kb.opportunity_stages(),
    }


def _inputs(with_orders: bool = True) -> tuple[KpiInputs, KpiInputs]:
    """The shop's inputs read from a warehouse and built from its frames."""
    marts = _marts(with_orders)
    con = duckdb.connect()
    con.execute("create schema marts")
    for name, frame in marts.items():
        con.register("_frame", frame.to_arrow())
        con.execute(f"create table marts.{name} as select * from _frame")
        con.unregister("_frame")
    from_warehouse = load_inputs(con, AS_OF)
    con.close()
    from_frames = kb.make_inputs(
        AS_OF,
        orders=marts["fct_orders"],
        order_lines=marts["fct_order_lines"],
        opportunities=marts["fct_opportunities"],
        targets=marts["fct_targets"],
        marketing_spend=marts["fct_marketing_spend"],
        customers=marts["dim_customer"],
    )
    return from_warehouse, from_frames


def test_the_customers_keys_sort_as_their_ids_and_map_back() -> None:
    keyed, plain = _inputs()
    assert keyed.customer_ids is not None and plain.customer_ids is None
    ids = keyed.customer_ids
    assert ids["customer_id"].to_list() == [
        "B", "a", "a10", "a9", "b", "c-no-orders", "only-in-opportunities", "z-not-in-dim", "é",
    ]
    assert ids["key"].to_list() == list(range(9))
    for name in ("orders", "opportunities", "customers"):
        frame: pl.DataFrame = getattr(keyed, name)
        assert frame.schema["customer_id"] == pl.UInt32(), name
        # the same rows once the keys are mapped back (nulls stay null); DuckDB's join
        # need not keep the table's order, and no KPI depends on it
        columns = frame.columns
        assert_frame_equal(
            keyed.with_customer_ids(frame).sort(columns, nulls_last=True),
            getattr(plain, name).sort(columns, nulls_last=True),
        )
    margins = keyed.lines.margin_by_customer
    assert margins.schema["customer_id"] == pl.UInt32()
    assert_frame_equal(
        keyed.with_customer_ids(margins).sort("customer_id", "order_date", nulls_last=True),
        plain.lines.margin_by_customer.sort("customer_id", "order_date", nulls_last=True),
    )
    # frames built elsewhere keep their ids
    assert plain.with_customer_ids(plain.orders) is plain.orders


def test_value_tier_ties_by_customer_id_on_keys() -> None:
    keyed, plain = _inputs()
    segments = customer_segments(keyed, SETTINGS)
    assert segments.schema["customer_id"] == pl.String()
    assert segments["customer_id"].to_list() == sorted(segments["customer_id"].to_list())
    tiers = dict(segments.select("customer_id", "value_tier").iter_rows())
    # window revenue of 142 in all: a 40 and b 40 (above them 0 and 40: less than half,
    # vip), z 15 (80 above: less than 80 %, key), then B, a10 and a9 tied at 14, in the
    # order of their ids: 95 and 109 above (key), 123 (not less than 113.6: general)
    assert tiers == {
        "a": "vip", "b": "vip", "z-not-in-dim": "key", "B": "key", "a10": "key",
        "a9": "general", "é": "general", "c-no-orders": "potential",
    }
    assert_frame_equal(segments, customer_segments(plain, SETTINGS))


@pytest.mark.parametrize("with_orders", [True, False], ids=["orders", "opportunities only"])
def test_kpis_on_keys_are_those_on_ids(with_orders: bool) -> None:
    keyed, plain = _inputs(with_orders)
    keys = ["kpi", "grain", "dimension", "dimension_value", "period_start"]
    values = compute_kpi_values(keyed, SETTINGS)
    assert values.height > 0
    assert_frame_equal(values.sort(keys), compute_kpi_values(plain, SETTINGS).sort(keys))
    assert_frame_equal(cohort_retention(keyed, SETTINGS), cohort_retention(plain, SETTINGS))
    assert_frame_equal(customer_segments(keyed, SETTINGS), customer_segments(plain, SETTINGS))
    for ours, theirs in zip(compute_clv(keyed, SETTINGS), compute_clv(plain, SETTINGS), strict=True):
        assert_frame_equal(ours, theirs)
    if with_orders:
        clv_ids = compute_clv(keyed, SETTINGS)[0]["customer_id"]
        assert clv_ids.dtype == pl.String() and clv_ids.is_sorted()
