"""Golden tests of the activity KPIs (activities, visits_per_rep, follow_up_rate,
lead_response_hours, lead_untouched_rate) and kpi.stale_opportunities, as of 2024-03-31.
Expected numbers worked out by hand in the comments.

Reps: r1, r2 (team T1, region EU), r3 (team T2, region US). Activities (id, when, type,
rep, what):
  a1 03-01 09:00 call r1 C1      a2 03-02 visit r1 C1      a3 03-05 visit r2 C2
  a4 03-20 email r2 C2           a5 02-10 visit r3 C3      a6 04-10 visit r1 C1 (future)
  a7 03-10 meeting, no rep, O1   a8 03-22 visit r1 C1
  a9 03-01 06:00 call r3 L1      a10 03-04 12:00 call r3 L2  a11 03-05 email r3 L2
  a12 02-02 12:00 call r3 L4     a13 04-02 call r3 L3 (future)
  a15 02-15 task r2 O5           a16 04-05 call r2 O6 (future)
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from kpi_builders import (
    activities,
    kpi_row,
    kpi_value,
    leads,
    make_inputs,
    opportunities,
    sales,
)

from kpis import activities as act
from kpis.inputs import KpiInputs
from schemas.config import KpiSettings

D = dt.date
T = dt.datetime
AS_OF = D(2024, 3, 31)
MAR, FEB, JAN = D(2024, 3, 1), D(2024, 2, 1), D(2024, 1, 1)
R1 = {"rep_id": "r1", "team": "T1", "region": "EU"}
R2 = {"rep_id": "r2", "team": "T1", "region": "EU"}
R3 = {"rep_id": "r3", "team": "T2", "region": "US"}


def book() -> KpiInputs:
    acts = activities(
        [
            {**R1, "activity_id": "a1", "occurred_at": T(2024, 3, 1, 9), "type": "call", "customer_id": "C1"},
            {**R1, "activity_id": "a2", "occurred_at": T(2024, 3, 2, 10), "type": "visit", "customer_id": "C1"},
            {**R2, "activity_id": "a3", "occurred_at": T(2024, 3, 5, 11), "type": "visit", "customer_id": "C2"},
            {**R2, "activity_id": "a4", "occurred_at": T(2024, 3, 20), "type": "email", "customer_id": "C2"},
            {**R3, "activity_id": "a5", "occurred_at": T(2024, 2, 10), "type": "visit", "customer_id": "C3"},
            {**R1, "activity_id": "a6", "occurred_at": T(2024, 4, 10), "type": "visit", "customer_id": "C1"},
            {"activity_id": "a7", "occurred_at": T(2024, 3, 10), "type": "meeting", "opportunity_id": "O1"},
            {**R1, "activity_id": "a8", "occurred_at": T(2024, 3, 22), "type": "visit", "customer_id": "C1"},
            {**R3, "activity_id": "a9", "occurred_at": T(2024, 3, 1, 6), "type": "call", "lead_id": "L1"},
            {**R3, "activity_id": "a10", "occurred_at": T(2024, 3, 4, 12), "type": "call", "lead_id": "L2"},
            {**R3, "activity_id": "a11", "occurred_at": T(2024, 3, 5, 9), "type": "email", "lead_id": "L2"},
            {**R3, "activity_id": "a12", "occurred_at": T(2024, 2, 2, 12), "type": "call", "lead_id": "L4"},
            {**R3, "activity_id": "a13", "occurred_at": T(2024, 4, 2), "type": "call", "lead_id": "L3"},
            {**R2, "activity_id": "a15", "occurred_at": T(2024, 2, 15), "type": "task", "opportunity_id": "O5"},
            {**R2, "activity_id": "a16", "occurred_at": T(2024, 4, 5), "type": "call", "opportunity_id": "O6"},
        ]
    )
    orders, lines = sales(
        [
            {"order_id": "o1", "order_date": D(2024, 2, 25), "customer_id": "C1", "net_amount": 100.0},
            {"order_id": "o2", "order_date": D(2024, 3, 5), "customer_id": "C2", "net_amount": 50.0},
            {"order_id": "o3", "order_date": D(2024, 1, 5), "customer_id": "C3", "net_amount": 80.0},
            {"order_id": "o4", "order_date": D(2024, 3, 25), "customer_id": "C4", "net_amount": 40.0},
            {"order_id": "o5", "order_date": D(2024, 3, 25), "customer_id": "C1", "net_amount": 60.0},
            {"order_id": "o6", "order_date": D(2024, 3, 10), "customer_id": "C5", "net_amount": 70.0,
             "status": "cancelled"},  # not a purchase
        ]
    )
    lead_rows = leads(
        [
            {"lead_id": "L1", "created_at": D(2024, 3, 1), "owner_rep_id": "r3"},
            {"lead_id": "L2", "created_at": D(2024, 3, 3), "owner_rep_id": "r3"},
            {"lead_id": "L3", "created_at": D(2024, 3, 10), "owner_rep_id": "r1"},
            {"lead_id": "L4", "created_at": D(2024, 2, 1), "owner_rep_id": "r3"},
        ]
    )
    deals = opportunities(
        [
            {"opportunity_id": "O1", "stage": "proposal", "created_at": D(2024, 1, 1), "amount": 100.0},
            {"opportunity_id": "O2", "stage": "negotiation", "created_at": D(2024, 1, 15),
             "amount": 500.0, "owner_rep_id": "r2", "customer_id": "C2"},
            {"opportunity_id": "O3", "stage": "lead", "created_at": D(2024, 3, 20), "amount": 50.0},
            {"opportunity_id": "O4", "stage": "won", "created_at": D(2023, 12, 1),
             "close_date": D(2024, 1, 10), "amount": 70.0},
            {"opportunity_id": "O5", "stage": "proposal", "created_at": D(2023, 12, 1),
             "amount": 900.0, "owner_rep_id": "r1"},
            {"opportunity_id": "O6", "stage": "qualification", "created_at": D(2024, 3, 1)},
        ]
    )
    return make_inputs(
        AS_OF, orders=orders, order_lines=lines, leads=lead_rows, opportunities=deals,
        activities=acts,
    )


def test_activities_by_type_rep_and_team() -> None:
    values = act.activities(book())
    # March: a1 a2 a3 a4 a7 a8 a9 a10 a11 = 9 (a6, a13, a16 are after the as-of date)
    assert kpi_value(values, "activities", "month", MAR) == 9.0
    assert kpi_value(values, "activities", "month", FEB) == 3.0  # a5, a12, a15
    by_type = {t: kpi_value(values, "activities", "month", MAR, "type", t)
               for t in ("call", "visit", "email", "meeting")}
    assert by_type == {"call": 3.0, "visit": 3.0, "email": 2.0, "meeting": 1.0}
    assert kpi_value(values, "activities", "month", MAR, "rep", "r1") == 3.0  # a1 a2 a8
    assert kpi_value(values, "activities", "month", MAR, "rep", "unknown") == 1.0  # a7
    assert kpi_value(values, "activities", "month", MAR, "team", "T1") == 5.0  # r1 3 + r2 2
    assert kpi_value(values, "activities", "quarter", JAN) == 12.0


def test_visits_per_rep() -> None:
    values = act.visits_per_rep(book())
    # March: visits a2 a3 a8 = 3; reps with an activity r1, r2, r3 = 3
    row = kpi_row(values, "visits_per_rep", "month", MAR)
    assert (row["numerator"], row["denominator"], row["value"]) == (3.0, 3.0, 1.0)
    assert kpi_value(values, "visits_per_rep", "month", MAR, "team", "T1") == 1.5  # 3 / (r1, r2)
    assert kpi_value(values, "visits_per_rep", "month", MAR, "region", "US") == 0.0  # 0 / r3
    assert kpi_value(values, "visits_per_rep", "month", FEB) == 0.5  # a5 / (r3, r2)


def test_follow_up_rate() -> None:
    values = act.follow_up_rate(book(), follow_up_days=30)
    # Feb: C1 bought 02-25, a1 on 03-01 (4 days after) → 1 / 1
    assert kpi_value(values, "follow_up_rate", "month", FEB) == 1.0
    # March: C2 bought 03-05 (a3 that day is the sale; a4 03-20 is 15 days after: yes),
    # C4 03-25 (no activity), C1 03-25 (a6 04-10 is after the as-of date): 1 / 3; C5's
    # order is cancelled
    row = kpi_row(values, "follow_up_rate", "month", MAR)
    assert (row["numerator"], row["denominator"]) == (1.0, 3.0)
    # Jan: C3 bought 01-05, a5 02-10 is 36 days after → 0 / 1
    assert kpi_value(values, "follow_up_rate", "month", JAN) == 0.0
    # Q1: C1 (followed after its Feb purchase), C2 / C1, C2, C3, C4
    assert kpi_value(values, "follow_up_rate", "quarter", JAN) == 0.5
    # with 40 days a5 counts: Jan 1 / 1
    assert kpi_value(act.follow_up_rate(book(), follow_up_days=40), "follow_up_rate", "month",
                     JAN) == 1.0


def test_lead_response_hours_and_untouched_rate() -> None:
    values = act.lead_response(book())
    # March: L1 03-01 → a9 03-01 06:00 = 6 h; L2 03-03 → a10 03-04 12:00 = 36 h (a11 is
    # later); L3 untouched by 03-31 (a13 is 04-02). Median of 6, 36 = 21
    assert kpi_value(values, "lead_response_hours", "month", MAR) == 21.0
    assert kpi_value(values, "lead_response_hours", "month", FEB) == 36.0  # L4 → a12
    row = kpi_row(values, "lead_untouched_rate", "month", MAR)
    assert (row["numerator"], row["denominator"]) == (1.0, 3.0)
    assert kpi_value(values, "lead_untouched_rate", "month", FEB) == 0.0
    assert kpi_value(values, "lead_response_hours", "month", MAR, "rep", "r3") == 21.0
    assert kpi_value(values, "lead_untouched_rate", "month", MAR, "rep", "r1") == 1.0  # L3


def test_stale_opportunities() -> None:
    table = act.stale_opportunities(book(), KpiSettings())
    assert table.select(
        "opportunity_id", "owner_rep_id", "stage", "amount", "last_activity_date",
        "days_without_activity",
    ).rows() == [
        # O5: last touched 02-15 (a15), 45 days before 03-31
        ("O5", "r1", "proposal", 900.0, D(2024, 2, 15), 45),
        # O2: never touched, created 01-15: 76 days
        ("O2", "r2", "negotiation", 500.0, None, 76),
        # O6: created 03-01, its only activity is after the as-of date: 30 days
        ("O6", None, "qualification", None, None, 30),
    ]  # O1 touched 03-10 (21 days), O3 created 03-20 (11 days), O4 won
    assert set(table["as_of"]) == {AS_OF}
    # with 20 days O1 (21 days) is stale too, O3 (11) still not
    ids = act.stale_opportunities(book(), KpiSettings(stale_days=20))["opportunity_id"]
    assert sorted(ids) == ["O1", "O2", "O5", "O6"]


def test_kpi_values_cover_every_activity_kpi() -> None:
    values = act.kpi_values(book(), KpiSettings())
    assert set(values["kpi"]) == {
        "activities", "visits_per_rep", "follow_up_rate", "lead_response_hours",
        "lead_untouched_rate",
    }
    assert values.filter(pl.col("value").is_nan()).is_empty()
