"""Golden tests of the revenue KPIs (revenue, aov, revenue_growth, repeat_purchase_rate),
the registry, ``kpis.compute`` and ``kpis.api``. Expected numbers are worked out by hand."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from kpi_builders import activities as kb_activities
from kpi_builders import (
    customers,
    kpi_row,
    kpi_value,
    leads,
    make_inputs,
    marketing_spend,
    opportunities,
    opportunity_stages,
    products,
    reps,
    sales,
    targets,
)
from kpi_builders import invoices as kb_invoices
from kpi_builders import payments as kb_payments

from kpis import api, compute, revenue
from kpis.inputs import KpiInputs
from kpis.registry import REGISTRY
from kpis.values import KPI_VALUES_SCHEMA
from schemas.config import KpiSettings

D = dt.date
AS_OF = D(2024, 3, 15)  # mid-month: March is a partial period


@pytest.fixture
def shop() -> KpiInputs:
    """Q1 2024 of a small shop (amounts already in the reporting currency)."""
    orders, lines = sales(
        [
            # Jan: 100 (A) + 50 (B) in EU
            {"order_id": "o1", "order_date": D(2024, 1, 10), "customer_id": "c1", "region": "EU",
             "rep_id": "r1", "segment": "smb", "country": "DE",
             "lines": [{"amount": 100.0, "product_category": "A"},
                       {"amount": 50.0, "product_category": "B"}]},
            # Jan: cancelled, never revenue
            {"order_id": "o2", "order_date": D(2024, 1, 20), "customer_id": "c2", "region": "EU",
             "status": "cancelled", "net_amount": 70.0},
            # Feb: a EUR order, 180 EUR = 200 in the reporting currency
            {"order_id": "o3", "order_date": D(2024, 2, 5), "customer_id": "c2", "region": "US",
             "currency": "EUR",
             "lines": [{"amount": 200.0, "amount_local": 180.0, "currency": "EUR",
                        "product_category": "A"}]},
            # Feb 29 (leap day): a return of 30 in EU
            {"order_id": "o4", "order_date": D(2024, 2, 29), "customer_id": "c1", "region": "EU",
             "status": "returned", "lines": [{"amount": -30.0, "product_category": "A"}]},
            # Mar: no region, no category -> unknown
            {"order_id": "o5", "order_date": D(2024, 3, 10), "customer_id": "c3", "net_amount": 40.0},
            # after the as-of date: not seen
            {"order_id": "o6", "order_date": D(2024, 3, 20), "customer_id": "c3", "net_amount": 999.0},
        ]
    )
    return make_inputs(AS_OF, orders=orders, order_lines=lines)


# --- revenue -----------------------------------------------------------------------------


def test_revenue_per_grain(shop: KpiInputs) -> None:
    values = revenue.revenue(shop)
    assert kpi_value(values, "revenue", "month", D(2024, 1, 1)) == 150.0  # 100 + 50; o2 cancelled
    assert kpi_value(values, "revenue", "month", D(2024, 2, 1)) == 170.0  # 200 - 30 (return)
    assert kpi_value(values, "revenue", "month", D(2024, 3, 1)) == 40.0  # to Mar 15; o6 later
    assert kpi_value(values, "revenue", "quarter", D(2024, 1, 1)) == 360.0  # 150 + 170 + 40
    assert kpi_value(values, "revenue", "year", D(2024, 1, 1)) == 360.0
    everything = kpi_row(values, "revenue", "all", D(2024, 1, 10))  # from the first order
    assert everything["value"] == 360.0
    assert everything["period_end"] == D(2024, 3, 16)  # exclusive: the day after as_of
    assert everything["unit"] == "currency"
    assert everything["numerator"] is None and everything["denominator"] is None
    assert set(values.get_column("as_of")) == {AS_OF}
    assert values.schema == pl.Schema(KPI_VALUES_SCHEMA)


def test_revenue_uses_reporting_currency_amounts(shop: KpiInputs) -> None:
    # o3: 180 EUR local, 200 in the reporting currency -> 200
    values = revenue.revenue(shop)
    assert kpi_value(values, "revenue", "month", D(2024, 2, 1), "region", "US") == 200.0


def test_revenue_by_dimension_with_unknown(shop: KpiInputs) -> None:
    values = revenue.revenue(shop)
    month = "month"
    assert kpi_value(values, "revenue", month, D(2024, 1, 1), "region", "EU") == 150.0
    assert kpi_value(values, "revenue", month, D(2024, 2, 1), "region", "EU") == -30.0  # return only
    assert kpi_value(values, "revenue", month, D(2024, 3, 1), "region", "unknown") == 40.0
    assert kpi_value(values, "revenue", month, D(2024, 1, 1), "product_category", "A") == 100.0
    assert kpi_value(values, "revenue", month, D(2024, 2, 1), "product_category", "A") == 170.0
    assert kpi_value(values, "revenue", month, D(2024, 1, 1), "product_category", "B") == 50.0
    assert kpi_value(values, "revenue", month, D(2024, 3, 1), "product_category", "unknown") == 40.0
    assert kpi_value(values, "revenue", month, D(2024, 1, 1), "rep", "r1") == 150.0
    assert kpi_value(values, "revenue", month, D(2024, 2, 1), "rep", "unknown") == 170.0
    # every dimension adds up to the total of its period
    totals = (
        values.filter(pl.col("grain") == "quarter")
        .group_by("dimension")
        .agg(pl.col("value").sum())
    )
    assert set(totals.get_column("value")) == {360.0}
    assert set(totals.get_column("dimension")) == {
        "all", "region", "team", "rep", "channel", "product_category", "segment", "country",
    }


def test_revenue_months_without_orders_are_zero() -> None:
    orders, lines = sales(
        [
            {"order_id": "a", "order_date": D(2024, 1, 5), "net_amount": 10.0},
            {"order_id": "b", "order_date": D(2024, 3, 5), "net_amount": 20.0},
        ]
    )
    values = revenue.revenue(make_inputs(D(2024, 3, 31), orders=orders, order_lines=lines))
    assert kpi_value(values, "revenue", "month", D(2024, 2, 1)) == 0.0


# --- aov ---------------------------------------------------------------------------------


def test_aov(shop: KpiInputs) -> None:
    values = revenue.aov(shop)
    jan = kpi_row(values, "aov", "month", D(2024, 1, 1))
    assert (jan["value"], jan["numerator"], jan["denominator"]) == (150.0, 150.0, 1.0)  # o2 cancelled
    feb = kpi_row(values, "aov", "month", D(2024, 2, 1))
    # revenue 200 - 30 = 170 over 1 purchase (the return o4 is not a purchase)
    assert (feb["value"], feb["numerator"], feb["denominator"]) == (170.0, 170.0, 1.0)
    # Q1: 360 / 3 purchases (o1, o3, o5)
    assert kpi_value(values, "aov", "quarter", D(2024, 1, 1)) == 120.0
    assert kpi_row(values, "aov", "month", D(2024, 1, 1))["unit"] == "currency"


def test_aov_without_purchases_is_null() -> None:
    orders, lines = sales(
        [
            {"order_id": "a", "order_date": D(2024, 1, 5), "net_amount": 10.0},
            {"order_id": "r", "order_date": D(2024, 2, 5), "net_amount": -4.0},  # a return only
        ]
    )
    values = revenue.aov(make_inputs(D(2024, 2, 29), orders=orders, order_lines=lines))
    feb = kpi_row(values, "aov", "month", D(2024, 2, 1))
    assert (feb["value"], feb["numerator"], feb["denominator"]) == (None, -4.0, 0.0)


# --- revenue_growth ----------------------------------------------------------------------


def test_revenue_growth(shop: KpiInputs) -> None:
    values = revenue.revenue_growth(shop)
    assert kpi_value(values, "revenue_growth", "month", D(2024, 1, 1)) is None  # no previous
    feb = kpi_row(values, "revenue_growth", "month", D(2024, 2, 1))
    assert feb["value"] == pytest.approx(170 / 150 - 1)  # +13.3 %
    assert (feb["numerator"], feb["denominator"]) == (170.0, 150.0)
    # March is partial (to Mar 15): compared with February to the same day (Feb 1-15:
    # o3's 200; the return of Feb 29 is later in the month): 40 / 200 - 1
    march = kpi_row(values, "revenue_growth", "month", D(2024, 3, 1))
    assert (march["numerator"], march["denominator"]) == (40.0, 200.0)
    assert march["value"] == pytest.approx(40 / 200 - 1)
    assert kpi_value(values, "revenue_growth", "quarter", D(2024, 1, 1)) is None
    assert "all" not in set(values.get_column("grain"))
    # EU: Jan 150 -> Feb -30
    assert kpi_value(values, "revenue_growth", "month", D(2024, 2, 1), "region", "EU") == (
        pytest.approx(-30 / 150 - 1)
    )


def test_revenue_growth_yoy_and_zero_previous() -> None:
    orders, lines = sales(
        [
            {"order_id": "a", "order_date": D(2023, 1, 5), "net_amount": 100.0},
            {"order_id": "b", "order_date": D(2023, 3, 5), "net_amount": 50.0},
            {"order_id": "c", "order_date": D(2024, 1, 5), "net_amount": 300.0},
        ]
    )
    values = revenue.revenue_growth(make_inputs(D(2024, 1, 31), orders=orders, order_lines=lines))
    assert kpi_value(values, "revenue_growth", "month", D(2023, 2, 1)) == -1.0  # 0 / 100 - 1
    march = kpi_row(values, "revenue_growth", "month", D(2023, 3, 1))
    assert (march["value"], march["denominator"]) == (None, 0.0)  # previous month had 0
    # 2024 is open (to Jan 31): against 2023 to Jan 31 (order a, 100): 300 / 100 - 1
    assert kpi_value(values, "revenue_growth", "year", D(2024, 1, 1)) == 2.0
    # QoQ: Q1 2024 300 vs Q4 2023 0 -> null
    assert kpi_value(values, "revenue_growth", "quarter", D(2024, 1, 1)) is None


# --- repeat_purchase_rate ----------------------------------------------------------------


def test_repeat_purchase_rate() -> None:
    orders, lines = sales(
        [
            {"order_id": "1", "order_date": D(2024, 1, 3), "customer_id": "c1", "segment": "smb",
             "net_amount": 10.0},
            {"order_id": "2", "order_date": D(2024, 1, 9), "customer_id": "c1", "segment": "smb",
             "net_amount": 10.0},
            {"order_id": "3", "order_date": D(2024, 1, 4), "customer_id": "c2", "net_amount": 10.0},
            {"order_id": "4", "order_date": D(2024, 1, 5), "customer_id": "c3", "segment": "ent",
             "net_amount": 10.0},
            {"order_id": "5", "order_date": D(2024, 2, 5), "customer_id": "c3", "segment": "ent",
             "net_amount": 10.0},
            # not purchases: cancelled, a return; no customer: not counted
            {"order_id": "6", "order_date": D(2024, 2, 6), "customer_id": "c1", "segment": "smb",
             "status": "cancelled", "net_amount": 10.0},
            {"order_id": "7", "order_date": D(2024, 2, 7), "customer_id": "c2", "net_amount": -5.0},
            {"order_id": "8", "order_date": D(2024, 2, 8), "net_amount": 10.0},
            {"order_id": "9", "order_date": D(2024, 2, 9), "net_amount": 10.0},
        ]
    )
    values = revenue.repeat_purchase_rate(make_inputs(D(2024, 2, 29), orders=orders, order_lines=lines))
    jan = kpi_row(values, "repeat_purchase_rate", "month", D(2024, 1, 1))
    # buyers c1, c2, c3; c1 bought twice -> 1 / 3
    assert (jan["numerator"], jan["denominator"]) == (1.0, 3.0)
    assert jan["value"] == pytest.approx(1 / 3)
    # Feb: only c3 bought (once) -> 0 / 1
    assert kpi_value(values, "repeat_purchase_rate", "month", D(2024, 2, 1)) == 0.0
    # Q1: c1 twice, c2 once, c3 twice -> 2 / 3
    assert kpi_value(values, "repeat_purchase_rate", "quarter", D(2024, 1, 1)) == pytest.approx(2 / 3)
    grain, jan1 = "month", D(2024, 1, 1)
    assert kpi_value(values, "repeat_purchase_rate", grain, jan1, "segment", "smb") == 1.0
    assert kpi_value(values, "repeat_purchase_rate", grain, jan1, "segment", "unknown") == 0.0


def test_repeat_purchase_rate_without_buyers_is_null() -> None:
    orders, lines = sales(
        [
            {"order_id": "1", "order_date": D(2024, 1, 3), "customer_id": "c1", "net_amount": 10.0},
            {"order_id": "2", "order_date": D(2024, 2, 3), "customer_id": "c1",
             "status": "cancelled", "net_amount": 10.0},
        ]
    )
    values = revenue.repeat_purchase_rate(make_inputs(D(2024, 2, 29), orders=orders, order_lines=lines))
    feb = kpi_row(values, "repeat_purchase_rate", "month", D(2024, 2, 1))
    assert (feb["value"], feb["numerator"], feb["denominator"]) == (None, 0.0, 0.0)


def test_no_orders_gives_zero_revenue_and_null_ratios() -> None:
    values = revenue.kpi_values(make_inputs(D(2024, 2, 10)), KpiSettings())
    assert kpi_value(values, "revenue", "month", D(2024, 2, 1)) == 0.0
    assert kpi_value(values, "aov", "month", D(2024, 2, 1)) is None
    assert kpi_value(values, "repeat_purchase_rate", "month", D(2024, 2, 1)) is None


# --- registry ----------------------------------------------------------------------------

KPI_IDS = (
    "revenue", "target_achievement_rate", "target_pacing", "win_rate", "win_rate_amount",
    "lead_conversion_rate", "stage_conversion_rate", "sales_cycle_days",
    "sales_cycle_days_mean", "sales_cycle_days_p90", "lead_to_close_days", "new_customers",
    "active_customers", "logo_churn_rate", "gross_revenue_retention", "net_revenue_retention",
    "cac", "arpa", "ltv", "ltv_cac_ratio", "cac_payback_months", "aov", "revenue_growth",
    "repeat_purchase_rate", "pipeline_coverage", "collection_rate",
    "on_time_collection_rate", "overdue_receivables", "dso", "activities", "visits_per_rep",
    "follow_up_rate", "lead_response_hours", "lead_untouched_rate", "gross_margin",
    "cost_coverage", "revenue_yoy", "revenue_new_customers", "revenue_existing_customers",
    "new_customer_revenue_share", "revenue_per_rep", "discount_rate", "price_realisation",
    "channel_revenue_share", "roas", "bookings", "stage_duration_days",
    "stage_duration_days_p90", "revenue_forecast", "bookings_forecast", "forecast_accuracy",
)


def test_registry_has_every_kpi_of_the_spec() -> None:
    assert sorted(REGISTRY) == sorted(KPI_IDS)
    for definition in REGISTRY.values():
        # lead_response_hours is measured in hours (docs/kpis.md)
        assert definition.unit in {"ratio", "days", "currency", "count", "hours"}
        assert set(definition.grains) <= {"week", "month", "quarter", "year", "all"}


def test_registry_formulas_are_the_contract_s_text() -> None:
    """The registry's formulas are the product contract's words (the contract, shared
    with the product's owner, lies beside the repository; skipped without it)."""
    spec = Path(__file__).resolve().parents[2] / "shared" / "SPEC.md"
    if not spec.exists():
        pytest.skip("the product contract is not beside the repository")
    table = " ".join(spec.read_text(encoding="utf-8").split())
    for kpi in (
        "revenue", "win_rate", "stage_conversion_rate", "aov", "pipeline_coverage",
        "collection_rate", "on_time_collection_rate", "overdue_receivables", "dso",
        "activities", "visits_per_rep", "follow_up_rate", "lead_untouched_rate",
        "gross_margin", "cost_coverage", "revenue_yoy", "revenue_per_rep", "discount_rate",
        "price_realisation", "channel_revenue_share", "roas",
    ):
        formula = REGISTRY[kpi].formula
        assert re.sub(r"\s+", " ", formula) in table, kpi


# --- compute and api ---------------------------------------------------------------------

MY_FAMILIES = ("kpis.revenue", "kpis.targets", "kpis.funnel", "kpis.cycle")


def _full_marts() -> dict[str, pl.DataFrame]:
    """A small company's marts: make_inputs keyword -> frame."""
    orders, lines = sales(
        [
            {"order_id": f"o{i}", "order_date": D(2024, 1, 1) + dt.timedelta(days=7 * i),
             "customer_id": f"c{i % 12}", "net_amount": 10.0 + i}
            for i in range(40)
        ]
    )
    return {
        "orders": orders,
        "order_lines": lines,
        "opportunities": opportunities(
            [
                {"opportunity_id": "p1", "stage": "won", "amount": 100.0, "lead_id": "l1",
                 "created_at": D(2024, 1, 2), "close_date": D(2024, 2, 2)},
                {"opportunity_id": "p2", "stage": "proposal", "amount": 50.0,
                 "created_at": D(2024, 9, 2), "close_date": D(2024, 9, 29)},
            ]
        ),
        "leads": leads([{"lead_id": "l1", "created_at": D(2024, 1, 1), "converted_at": D(2024, 2, 2)}]),
        "targets": targets([{"period_start": D(2024, 9, 1), "target_value": 100.0}]),
        "customers": customers([{"customer_id": f"c{i}"} for i in range(12)]),
        "reps": reps([{"rep_id": "r1", "team": "t", "region": "EU"}]),
        "products": products([{"product_id": "x", "category": "A"}]),
    }


def _full_inputs() -> KpiInputs:
    return make_inputs(D(2024, 9, 30), **_full_marts())


def test_compute_kpi_values_covers_my_kpis() -> None:
    values = compute.compute_kpi_values(_full_inputs(), KpiSettings(), MY_FAMILIES)
    base_ids = {kpi.split(".")[0] for kpi in values.get_column("kpi").unique()}
    assert base_ids == {
        "revenue", "aov", "revenue_growth", "repeat_purchase_rate", "target_achievement_rate",
        "target_pacing", "pipeline_coverage", "win_rate", "win_rate_amount",
        "lead_conversion_rate", "stage_conversion_rate", "sales_cycle_days",
        "sales_cycle_days_mean", "sales_cycle_days_p90", "lead_to_close_days",
    }
    assert values.schema == pl.Schema(KPI_VALUES_SCHEMA)
    keys = ["kpi", "grain", "period_start", "dimension", "dimension_value"]
    assert values.select(keys).is_duplicated().sum() == 0
    # never inf, never NaN
    assert values.filter(pl.col("value").is_infinite() | pl.col("value").is_nan()).is_empty()


def _write_marts(con: duckdb.DuckDBPyConnection, marts: dict[str, pl.DataFrame]) -> None:
    tables = {
        "fct_orders": marts["orders"],
        "fct_order_lines": marts["order_lines"],
        "fct_opportunities": marts["opportunities"],
        "fct_leads": marts["leads"],
        "fct_targets": marts["targets"],
        "fct_marketing_spend": marketing_spend(),
        "fct_opportunity_stages": opportunity_stages(),
        "dim_customer": marts["customers"],
        "dim_rep": marts["reps"],
        "dim_product": marts["products"],
        "fct_invoices": kb_invoices(),
        "fct_payments": kb_payments(),
        "fct_activities": kb_activities(),
    }
    con.execute("create schema marts")
    for name, frame in tables.items():
        con.register("_frame", frame.to_arrow())
        con.execute(f"create table marts.{name} as select * from _frame")
        con.unregister("_frame")


def test_compute_all_writes_the_kpi_schema_idempotently(tmp_path: Path) -> None:
    path = tmp_path / "sales.duckdb"
    with duckdb.connect(str(path)) as con:
        _write_marts(con, _full_marts())
        first = compute.compute_all(con, None, KpiSettings(), run_id="run-1")
        # rerun for the same as-of date: history keeps one copy
        second = compute.compute_all(con, None, KpiSettings(), run_id="run-2")
        history = con.execute(
            "select count(*), count(distinct run_id), min(run_id) from kpi.kpi_history"
        ).fetchone()
    assert first == second
    assert first["kpi.kpi_values"] > 0
    assert history == (first["kpi.kpi_values"], 1, "run-2")

    with api.connect(path) as con:
        revenue_rows = api.kpi(con, "revenue", grain="quarter")
        # Q1: orders 0..12 (Jan 1 .. Mar 25), amounts 10 + i -> 13 * 10 + (0 + ... + 12) = 208
        q1 = revenue_rows.filter(pl.col("period_start") == D(2024, 1, 1))
        assert q1.get_column("value").to_list() == [208.0]
        assert revenue_rows.get_column("as_of").unique().to_list() == [D(2024, 9, 30)]
        targets_rows = api.kpi(con, "target_achievement_rate", start=D(2024, 9, 1))
        assert targets_rows.get_column("kpi").to_list() == ["target_achievement_rate"]
        earlier = api.kpi(con, "revenue", grain="year", as_of=D(2024, 9, 30))
        assert earlier.height == 1
        with pytest.raises(duckdb.Error):
            con.execute("delete from kpi.kpi_values")  # read-only


def _snapshots(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    return [r[0] for r in con.execute("select distinct as_of from kpi.kpi_history order by 1").fetchall()]


def test_thin_history_keeps_the_recent_months_and_each_earlier_month_s_last() -> None:
    days = [D(2026, 1, 10), D(2026, 1, 31), D(2026, 2, 3), D(2026, 2, 20)]
    days += [D(2026, 3, 1), D(2026, 3, 15), D(2026, 4, 2)]
    with duckdb.connect() as con:
        con.execute("create schema kpi")
        con.execute("create table kpi.kpi_history (kpi varchar, as_of date, run_id varchar)")
        assert compute.thin_history(con, 0) == 0  # an empty history: nothing to thin
        con.execute("insert into kpi.kpi_history values ('a', $d, 'r')", {"d": D(2025, 12, 31)})
        assert compute.thin_history(con, 0) == 0  # a lone snapshot is its month's last
        con.execute("delete from kpi.kpi_history")
        for day in days:  # a snapshot of two rows per day
            con.execute("insert into kpi.kpi_history values ('a', $d, 'r'), ('b', $d, 'r')", {"d": day})
        # newest April: April and March (one month before it) whole; of January and
        # February their last snapshots (the 31st, the 20th)
        assert compute.thin_history(con, 1) == 4
        assert _snapshots(con) == [D(2026, 1, 31), D(2026, 2, 20), D(2026, 3, 1), D(2026, 3, 15), D(2026, 4, 2)]
        assert compute.thin_history(con, 1) == 0  # a month is thinned once
        assert compute.thin_history(con, 0) == 2  # now March too: its 1st goes
        assert _snapshots(con) == [D(2026, 1, 31), D(2026, 2, 20), D(2026, 3, 15), D(2026, 4, 2)]
        assert con.execute("select count(*) from kpi.kpi_history").fetchone() == (8,)


def test_compute_all_thins_history_only_when_configured(tmp_path: Path) -> None:
    """Snapshots of earlier runs (as of 2024-06-05, -06-28, -08-10, -08-20): a run as of
    2024-09-30 with ``daily_months: 1`` keeps August and September whole and June's last;
    without the setting every snapshot stays."""
    earlier = [D(2024, 6, 5), D(2024, 6, 28), D(2024, 8, 10), D(2024, 8, 20)]
    counts = {}
    for daily_months in (None, 1):
        path = tmp_path / f"sales-{daily_months}.duckdb"
        with duckdb.connect(str(path)) as con:
            _write_marts(con, _full_marts())
            compute.compute_all(con, D(2024, 9, 30), KpiSettings(), run_id="first")
            for day in earlier:  # the same values, reported on earlier days
                con.execute(
                    "insert into kpi.kpi_history select * replace ($d as as_of, 'old' as run_id) "
                    "from kpi.kpi_history where run_id = 'first'",
                    {"d": day},
                )
            settings = KpiSettings.model_validate({"history": {"daily_months": daily_months}})
            rows = compute.compute_all(con, None, settings, run_id="second")
            counts[daily_months] = rows.get("kpi.kpi_history thinned")
            kept = _snapshots(con)
        snapshot = rows["kpi.kpi_history"]
        if daily_months is None:
            assert kept == [*earlier, D(2024, 9, 30)]
        else:
            assert kept == [D(2024, 6, 28), D(2024, 8, 10), D(2024, 8, 20), D(2024, 9, 30)]
    assert counts == {None: None, 1: snapshot}


def test_history_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        KpiSettings.model_validate({"history": {"daily_months": -1}})
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        KpiSettings.model_validate({"history": {"daily_days": 90}})


def test_api_rejects_unknown_names(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        with pytest.raises(api.UnknownKpiError, match="unknown KPI 'revenu'"):
            api.kpi(con, "revenu")
        with pytest.raises(api.UnknownKpiError, match="no dimension 'stage'"):
            api.kpi(con, "revenue", by="stage")
        with pytest.raises(api.UnknownKpiError, match="unknown grain"):
            api.kpi(con, "revenue", grain="fortnight")
    with pytest.raises(FileNotFoundError):
        api.connect(tmp_path / "missing.duckdb")


def test_list_kpis() -> None:
    listing = api.list_kpis()
    assert listing.height == len(KPI_IDS)
    stage = listing.filter(pl.col("id") == "stage_conversion_rate").row(0, named=True)
    assert stage["dimensions"] == ["stage", "rep", "team", "region", "channel"]
    assert stage["formula"].startswith("per funnel stage k")
