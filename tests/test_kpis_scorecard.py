"""Golden tests of kpi.rep_scorecard (kpis.scorecard) and kpi.stuck_opportunities
(kpis.stages). Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from kpi_builders import (
    make_inputs,
    opportunities,
    opportunity_stages,
    reps,
    sales,
    targets,
)

from kpis.compute import compute_kpi_values
from kpis.inputs import KpiInputs
from kpis.scorecard import rep_scorecard
from kpis.stages import stuck_opportunities
from schemas.config import KpiSettings

D = dt.date
T = dt.datetime
AS_OF = D(2024, 3, 31)


@pytest.fixture
def march() -> KpiInputs:
    """Team east: r1 (left the company: inactive) and r2; team west: r3."""
    orders, lines = sales(
        [
            {"order_id": "1", "order_date": D(2024, 3, 5), "customer_id": "c1", "rep_id": "r1",
             "team": "east", "region": "EMEA", "net_amount": 300.0},
            {"order_id": "2", "order_date": D(2024, 3, 20), "customer_id": "c2", "rep_id": "r2",
             "team": "east", "region": "EMEA", "net_amount": 100.0},
            {"order_id": "3", "order_date": D(2024, 3, 22), "customer_id": "c3", "rep_id": "r3",
             "team": "west", "region": "APAC", "net_amount": 300.0},
        ]
    )
    deals = opportunities(
        [
            # r1: won A (Feb 10 -> Mar 10: 29 days, 2024 is a leap year), lost L
            {"opportunity_id": "A", "owner_rep_id": "r1", "team": "east", "stage": "won",
             "amount": 500.0, "created_at": D(2024, 2, 10), "close_date": D(2024, 3, 10)},
            {"opportunity_id": "L", "owner_rep_id": "r1", "team": "east", "stage": "lost",
             "amount": 80.0, "created_at": D(2024, 2, 11), "close_date": D(2024, 3, 12)},
            # r2: won B (20 days), open D (1000)
            {"opportunity_id": "B", "owner_rep_id": "r2", "team": "east", "stage": "won",
             "amount": 200.0, "created_at": D(2024, 3, 1), "close_date": D(2024, 3, 21)},
            {"opportunity_id": "D", "owner_rep_id": "r2", "team": "east", "stage": "proposal",
             "amount": 1000.0, "created_at": D(2024, 3, 2), "close_date": D(2024, 5, 1)},
            # r3: won C (10 days); E lost after the period: open on Mar 31
            {"opportunity_id": "C", "owner_rep_id": "r3", "team": "west", "stage": "won",
             "amount": 500.0, "created_at": D(2024, 3, 15), "close_date": D(2024, 3, 25)},
            {"opportunity_id": "E", "owner_rep_id": "r3", "team": "west", "stage": "lost",
             "amount": 50.0, "created_at": D(2024, 3, 3), "close_date": D(2024, 4, 5)},
        ]
    )
    people = reps(
        [
            {"rep_id": "r1", "name": "Ann", "team": "east", "region": "EMEA", "active": False},
            {"rep_id": "r2", "name": "Bo", "team": "east", "region": "EMEA"},
            {"rep_id": "r3", "name": "Cy", "team": "west", "region": "APAC"},
        ]
    )
    goals = targets(
        [
            {"period_start": D(2024, 3, 1), "level": "rep", "level_value": "r1", "target_value": 400.0},
            {"period_start": D(2024, 3, 1), "level": "rep", "level_value": "r2", "target_value": 100.0},
        ]
    )
    return make_inputs(AS_OF, orders=orders, order_lines=lines, opportunities=deals, reps=people,
                       targets=goals)


def _card(inputs: KpiInputs) -> dict[str, dict[str, object]]:
    card = rep_scorecard(compute_kpi_values(inputs, KpiSettings()), inputs)
    rows = card.filter((pl.col("grain") == "month") & (pl.col("period_start") == D(2024, 3, 1)))
    return {str(row["rep_id"]): row for row in rows.iter_rows(named=True)}


def test_rep_scorecard_figures(march: KpiInputs) -> None:
    card = _card(march)
    assert set(card) == {"r1", "r2", "r3"}  # r1 left but sold in March: still there
    r1, r2, r3 = card["r1"], card["r2"], card["r3"]
    assert (r1["rep_name"], r1["team"], r1["region"]) == ("Ann", "east", "EMEA")
    # r1: revenue 300 of a 400 target: 0.75; bookings 500 (A), 1 won of 2 closed
    assert (r1["revenue"], r1["revenue_target"], r1["revenue_achievement"]) == (300.0, 400.0, 0.75)
    assert (r1["bookings"], r1["deals_won"], r1["win_rate"]) == (500.0, 1.0, 0.5)
    assert (r1["new_customers"], r1["median_sales_cycle_days"]) == (1.0, 29.0)
    assert r1["open_pipeline"] == 0.0
    # r2: 100 / 100; B won after 20 days; D (1000) open on Mar 31
    assert (r2["revenue_achievement"], r2["median_sales_cycle_days"], r2["open_pipeline"]) == (
        1.0, 20.0, 1000.0,
    )
    # r3: no target; E was still open on Mar 31 (lost on Apr 5, after the period)
    assert (r3["revenue_target"], r3["revenue_achievement"]) == (None, None)
    assert (r3["open_pipeline"], r3["median_sales_cycle_days"]) == (50.0, 10.0)
    assert r1["is_partial"] is False  # March ends on the as-of date


def test_rep_scorecard_ranks(march: KpiInputs) -> None:
    card = _card(march)

    def ranks(metric: str, scope: str) -> tuple[object, ...]:
        return tuple(card[rep][f"rank_{scope}_{metric}"] for rep in ("r1", "r2", "r3"))

    # revenue 300, 100, 300: r1 and r3 tie for first and share rank 1; r2 is 3rd
    assert ranks("revenue", "company") == (1, 3, 1)
    assert ranks("revenue", "team") == (1, 2, 1)  # east: r1 300 > r2 100; west: r3 alone
    assert ranks("bookings", "company") == (1, 3, 1)  # 500, 200, 500
    assert ranks("win_rate", "company") == (3, 1, 1)  # 0.5, 1.0, 1.0
    # the shortest cycle is best: 29, 20, 10 days
    assert ranks("median_sales_cycle_days", "company") == (3, 2, 1)
    # achievement 0.75, 1.0, none (no target: no rank)
    assert ranks("revenue_achievement", "company") == (2, 1, None)
    assert ranks("open_pipeline", "company") == (3, 1, 2)  # 0, 1000, 50
    assert ranks("new_customers", "company") == (1, 1, 1)


def test_scorecard_open_period_is_partial(march: KpiInputs) -> None:
    inputs = make_inputs(
        D(2024, 3, 25),
        orders=None,
        opportunities=opportunities(
            [{"opportunity_id": "D", "owner_rep_id": "r2", "stage": "proposal", "amount": 10.0,
              "created_at": D(2024, 3, 2), "close_date": D(2024, 5, 1)}]
        ),
        reps=reps([{"rep_id": "r2", "name": "Bo", "team": "east", "region": "EMEA"}]),
    )
    card = rep_scorecard(compute_kpi_values(inputs, KpiSettings()), inputs)
    q1 = card.filter((pl.col("grain") == "quarter") & (pl.col("rep_id") == "r2")).row(0, named=True)
    assert (q1["open_pipeline"], q1["is_partial"], q1["rank_team_open_pipeline"]) == (10.0, True, 1)
    del march


# --- stuck opportunities -------------------------------------------------------------------


def test_stuck_opportunities_against_the_stage_p90() -> None:
    deals = opportunities(
        [
            {"opportunity_id": "a", "stage": "proposal", "created_at": D(2024, 1, 1)},
            {"opportunity_id": "b", "stage": "proposal", "created_at": D(2024, 1, 1)},
            {"opportunity_id": "c", "stage": "proposal", "created_at": D(2024, 1, 1)},
            # open in qualification since Mar 2 (29 days on Mar 31): stuck
            {"opportunity_id": "D", "owner_rep_id": "r2", "team": "east", "customer_id": "k",
             "stage": "qualification", "amount": 1000.0, "created_at": D(2024, 2, 20),
             "close_date": D(2024, 5, 1)},
            # in qualification since Mar 29 (2 days): not stuck
            {"opportunity_id": "E", "stage": "qualification", "created_at": D(2024, 3, 29)},
            # in qualification on Mar 31 for 30 days, won on Apr 3 (after the as-of date):
            # stuck as of Mar 31
            {"opportunity_id": "F", "stage": "won", "created_at": D(2024, 3, 1),
             "close_date": D(2024, 4, 3)},
            # won on Mar 30: closed, never stuck
            {"opportunity_id": "G", "stage": "won", "created_at": D(2024, 1, 1),
             "close_date": D(2024, 3, 30)},
        ]
    )
    history = opportunity_stages(
        [
            # qualification stays that ended: 10, 20, 30 days -> p90 = 20 + 0.8 × 10 = 28
            {"opportunity_id": "a", "stage": "qualification", "entered_at": T(2024, 1, 1),
             "exited_at": T(2024, 1, 11)},
            {"opportunity_id": "b", "stage": "qualification", "entered_at": T(2024, 1, 1),
             "exited_at": T(2024, 1, 21)},
            {"opportunity_id": "c", "stage": "qualification", "entered_at": T(2024, 1, 1),
             "exited_at": T(2024, 1, 31)},
            *(
                {"opportunity_id": deal, "stage": "proposal", "entered_at": T(2024, 3, 28)}
                for deal in ("a", "b", "c")
            ),
            {"opportunity_id": "D", "stage": "lead", "entered_at": T(2024, 2, 20),
             "exited_at": T(2024, 3, 2)},
            {"opportunity_id": "D", "stage": "qualification", "entered_at": T(2024, 3, 2)},
            {"opportunity_id": "E", "stage": "qualification", "entered_at": T(2024, 3, 29)},
            {"opportunity_id": "F", "stage": "qualification", "entered_at": T(2024, 3, 1),
             "exited_at": T(2024, 4, 3)},
            {"opportunity_id": "F", "stage": "won", "entered_at": T(2024, 4, 3)},
            {"opportunity_id": "G", "stage": "qualification", "entered_at": T(2024, 1, 1),
             "exited_at": T(2024, 3, 30)},
            {"opportunity_id": "G", "stage": "won", "entered_at": T(2024, 3, 30)},
        ]
    )
    # G's qualification stay (89 days) ended on Mar 30: p90 over 10, 20, 30, 89 is
    # rank 2.7: 30 + 0.7 × 59 = 71.3; as of Mar 29 it is not known yet
    inputs = make_inputs(D(2024, 3, 29), opportunities=deals, opportunity_stages=history)
    stuck = stuck_opportunities(inputs, KpiSettings())
    # as of Mar 29: p90 28; D 27 days (no), F 28 days (not longer), G 88 days (stuck)
    assert stuck.get_column("opportunity_id").to_list() == ["G"]
    later = make_inputs(D(2024, 3, 31), opportunities=deals, opportunity_stages=history)
    stuck = stuck_opportunities(later, KpiSettings())
    # as of Mar 31 the p90 is 71.3: nobody is stuck (D 29 days, F 30, G closed)
    assert stuck.is_empty()
    # without G's long stay the p90 is 28: D (29 days) and F (30) are stuck
    short = make_inputs(
        D(2024, 3, 31),
        opportunities=deals.filter(pl.col("opportunity_id") != "G"),
        opportunity_stages=history.filter(pl.col("opportunity_id") != "G"),
    )
    stuck = stuck_opportunities(short, KpiSettings())
    assert stuck.get_column("opportunity_id").to_list() == ["F", "D"]  # longest first
    d = stuck.row(1, named=True)
    assert (d["stage"], d["entered_stage_on"], d["days_in_stage"]) == (
        "qualification", D(2024, 3, 2), 29,
    )
    assert d["stage_p90_days"] == pytest.approx(28.0)
    assert (d["owner_rep_id"], d["customer_id"], d["amount"]) == ("r2", "k", 1000.0)
