"""Golden tests of kpis.segments (kpi.customer_segments) and kpis.cohorts
(kpi.cohort_retention)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kpi_builders as kb
import polars as pl

from kpis.cohorts import cohort_retention
from kpis.segments import customer_segments
from schemas.config import KpiSettings

D = dt.date
W365 = KpiSettings()  # W = 365, floor(W / 2) = 182


def order(
    order_id: str, day: dt.date, customer: str, amount: float, **extra: Any
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "order_date": day,
        "customer_id": customer,
        "net_amount": amount,
        **extra,
    }


def by_customer(frame: pl.DataFrame, column: str) -> dict[str, Any]:
    return dict(
        zip(frame["customer_id"].to_list(), frame[column].to_list(), strict=True)
    )


def test_lifecycle_status_boundaries() -> None:
    """as_of 2024-06-30 (2024 is a leap year); the W = 365 days ending on it start on
    2023-07-01 + 1 = 2023-07-02."""
    rows = [
        order("1", D(2024, 4, 2), "new89", 10.0),  # first purchase 89 days ago -> new
        order(
            "2", D(2024, 4, 1), "old90", 10.0
        ),  # 90 days ago: not new; 90 < 182 -> active
        order("3", D(2022, 1, 1), "act181", 10.0),
        order("4", D(2024, 1, 1), "act181", 10.0),  # last 181 days ago -> active
        order("5", D(2022, 1, 1), "risk182", 10.0),
        order("6", D(2023, 12, 31), "risk182", 10.0),  # 182 days ago -> at_risk
        order("7", D(2023, 7, 2), "risk364", 10.0),  # 364 days: still active -> at_risk
        order("8", D(2023, 7, 1), "churn365", 10.0),  # 365 days: not active -> churned
        order("9", D(2024, 6, 1), "returner", -30.0),  # a return is not a purchase
        order("10", D(2024, 6, 2), "cancel", 50.0, status="cancelled"),
        order("11", D(2022, 3, 1), "back", 10.0),  # churned in 2023, came back:
        order(
            "12", D(2024, 3, 1), "back", 10.0
        ),  # 121 days ago, not new (first in 2022)
    ]
    dim = kb.customers([{"customer_id": "lead_only"}])
    out = customer_segments(
        kb.make_inputs(D(2024, 6, 30), orders=kb.orders(rows), customers=dim), W365
    )
    assert by_customer(out, "lifecycle_status") == {
        "act181": "active",
        "back": "active",
        "cancel": "prospect",
        "churn365": "churned",
        "lead_only": "prospect",
        "new89": "new",
        "old90": "active",
        "returner": "prospect",
        "risk182": "at_risk",
        "risk364": "at_risk",
    }
    # purchases and window revenue within 2023-07-02 .. 2024-06-30; the return lowers revenue
    assert by_customer(out, "purchases")["act181"] == 1
    assert by_customer(out, "purchases")["churn365"] == 0
    assert by_customer(out, "window_revenue")["churn365"] == 0.0
    assert by_customer(out, "window_revenue")["returner"] == -30.0
    assert by_customer(out, "window_revenue")["cancel"] == 0.0
    assert by_customer(out, "last_purchase_date")["risk182"] == D(2023, 12, 31)
    assert by_customer(out, "last_purchase_date")["returner"] is None
    assert out["as_of"].unique().to_list() == [D(2024, 6, 30)]
    assert out.columns == [
        "customer_id",
        "lifecycle_status",
        "value_tier",
        "window_revenue",
        "purchases",
        "last_purchase_date",
        "as_of",
    ]


def test_value_tiers_at_exact_boundaries() -> None:
    """Window revenue: A 500, B 150 (300 + a return of -150), C 150, D 100, E 100 = 1000.
    Above A: 0 -> vip; above B: 500 = 50% -> key; above C: 650 -> key;
    above D: 800 = 80% -> general; above E: 900 -> general."""
    day = D(2024, 5, 1)
    rows = [
        order("1", day, "A", 500.0),
        order("2", day, "B", 300.0),
        order("3", D(2024, 5, 2), "B", -150.0),
        order("4", day, "C", 150.0),
        order("5", day, "D", 100.0),
        order("6", day, "E", 100.0),
        order("7", D(2022, 1, 1), "F", 900.0),  # outside the window: no tier
        order("8", day, "G", 70.0, status="cancelled"),
    ]
    opportunities = kb.opportunities(
        [
            {
                "opportunity_id": "o1",
                "customer_id": "F",
                "stage": "proposal",
                "created_at": D(2024, 4, 1),
            },
            {
                "opportunity_id": "o2",
                "customer_id": "G",
                "stage": "lost",
                "created_at": D(2024, 4, 1),
                "close_date": D(2024, 4, 20),
            },
            # won after as_of: still open on as_of
            {
                "opportunity_id": "o3",
                "customer_id": "H",
                "stage": "won",
                "created_at": D(2024, 4, 1),
                "close_date": D(2024, 7, 20),
            },
        ]
    )
    dim = kb.customers([{"customer_id": "H"}, {"customer_id": "I"}])
    shop = kb.make_inputs(
        D(2024, 6, 30),
        orders=kb.orders(rows),
        opportunities=opportunities,
        customers=dim,
    )
    out = customer_segments(shop, W365)
    assert by_customer(out, "value_tier") == {
        "A": "vip",
        "B": "key",
        "C": "key",
        "D": "general",
        "E": "general",
        "F": "potential",  # no window revenue, open opportunity
        "G": "none",  # lost opportunity only
        "H": "potential",
        "I": "none",
    }
    assert by_customer(out, "window_revenue")["B"] == 150.0
    assert by_customer(out, "purchases")["B"] == 1


def test_value_tier_ties_by_customer_id() -> None:
    """a and b both 50 of 100: a ranks first (above 0 -> vip), b has 50% above -> key."""
    rows = [order("1", D(2024, 6, 1), "b", 50.0), order("2", D(2024, 6, 1), "a", 50.0)]
    out = customer_segments(
        kb.make_inputs(D(2024, 6, 30), orders=kb.orders(rows)), W365
    )
    assert by_customer(out, "value_tier") == {"a": "vip", "b": "key"}


def test_cohort_retention() -> None:
    rows = [
        order("1", D(2024, 1, 5), "a", 100.0),
        order("2", D(2024, 1, 20), "b", 50.0),
        order("3", D(2024, 2, 3), "a", 30.0),
        order(
            "4", D(2024, 3, 9), "b", -20.0
        ),  # b returns goods: lowers revenue, not retained
        order("5", D(2024, 3, 10), "a", 40.0, status="cancelled"),
        order("6", D(2024, 2, 14), "c", 70.0),
        order("7", D(2024, 3, 1), "c", 10.0),
        order("8", D(2024, 4, 1), "a", 99.0),  # after as_of
    ]
    out = cohort_retention(kb.make_inputs(D(2024, 3, 31), orders=kb.orders(rows)), W365)
    expected = pl.DataFrame(
        {
            "cohort_month": [D(2024, 1, 1)] * 3 + [D(2024, 2, 1)] * 2,
            "months_since": [0, 1, 2, 0, 1],
            # Jan cohort {a, b}: Jan both, Feb a, Mar none (return, cancelled)
            # Feb cohort {c}: Feb c, Mar c
            "customers": [2, 1, 0, 1, 1],
            "cohort_size": [2, 2, 2, 1, 1],
            "retention_rate": [1.0, 0.5, 0.0, 1.0, 1.0],
            "revenue": [150.0, 30.0, -20.0, 70.0, 10.0],
            "as_of": [D(2024, 3, 31)] * 5,
        }
    )
    assert out.equals(expected.cast(out.schema))  # type: ignore[arg-type]


def test_cohort_retention_counts_a_customer_once_per_month() -> None:
    """Several purchases (and a return) in a month count the customer once; a month with
    only a return counts no customer but its revenue; a return before the customer's
    first purchase is in no cohort month."""
    rows = [
        order("1", D(2024, 1, 5), "a", 100.0),
        order("2", D(2024, 1, 25), "a", 40.0),
        order("3", D(2024, 1, 26), "a", -30.0),
        order("4", D(2024, 2, 10), "a", -10.0),  # only a return in February
        order("5", D(2024, 3, 2), "a", 20.0),
        order("6", D(2024, 3, 3), "a", 5.0),
        order("7", D(2024, 2, 1), "b", -5.0),  # before b's first purchase (March)
        order("8", D(2024, 3, 15), "b", 60.0),
    ]
    out = cohort_retention(kb.make_inputs(D(2024, 3, 31), orders=kb.orders(rows)), W365)
    expected = pl.DataFrame(
        {
            "cohort_month": [D(2024, 1, 1)] * 3 + [D(2024, 3, 1)],
            "months_since": [0, 1, 2, 0],
            "customers": [1, 0, 1, 1],
            "cohort_size": [1, 1, 1, 1],
            "retention_rate": [1.0, 0.0, 1.0, 1.0],
            # Jan 100 + 40 - 30; Feb -10; Mar 20 + 5; b's March 60
            "revenue": [110.0, -10.0, 25.0, 60.0],
            "as_of": [D(2024, 3, 31)] * 4,
        }
    )
    assert out.equals(expected.cast(out.schema))  # type: ignore[arg-type]
