"""Golden tests of kpis.unit_economics: cac, arpa, ltv, ltv_cac_ratio, cac_payback_months."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kpi_builders as kb
import polars as pl
import pytest

from kpis import unit_economics
from kpis.inputs import KpiInputs
from schemas.config import KpiSettings

D = dt.date
SETTINGS = KpiSettings(churn_window_days=30, gross_margin_default=0.3)


def value(
    frame: pl.DataFrame,
    kpi: str,
    grain: str,
    start: dt.date,
    channel: str | None = None,
    column: str = "value",
) -> Any:
    dimension, dimension_value = ("channel", channel) if channel else ("all", "all")
    row = frame.filter(
        (pl.col("kpi") == kpi)
        & (pl.col("grain") == grain)
        & (pl.col("period_start") == start)
        & (pl.col("dimension") == dimension)
        & (pl.col("dimension_value") == dimension_value)
    )
    assert row.height == 1, f"{kpi} {grain} {start} {channel}: {row}"
    return row.item(0, column)


@pytest.fixture
def shop() -> KpiInputs:
    """W = 30 days, default margin 0.3, as_of 2024-02-29 (leap day, the end of February).

    January: a (ads) 2024-01-10: lines 150 (cost 90) + 50 (no cost);
             b (ads) 2024-01-20: 100 (cost 40); c (seo) 2024-01-25: 100 (no cost);
             a cancelled order of 999 (ignored).
    February: a 2024-02-05: 100 (cost 50); d (seo) 2024-02-20: 100 (no cost).
    Spend: Jan ads 600, seo 100, events 50; Feb ads 200, seo 100.
    """
    orders, lines = kb.sales(
        [
            {
                "order_id": "1",
                "order_date": D(2024, 1, 10),
                "customer_id": "a",
                "lines": [{"amount": 150.0, "cost": 90.0}, {"amount": 50.0}],
            },
            {
                "order_id": "2",
                "order_date": D(2024, 1, 20),
                "customer_id": "b",
                "lines": [{"amount": 100.0, "cost": 40.0}],
            },
            {
                "order_id": "3",
                "order_date": D(2024, 1, 25),
                "customer_id": "c",
                "lines": [{"amount": 100.0}],
            },
            {
                "order_id": "4",
                "order_date": D(2024, 1, 26),
                "customer_id": "c",
                "status": "cancelled",
                "lines": [{"amount": 999.0, "cost": 1.0}],
            },
            {
                "order_id": "5",
                "order_date": D(2024, 2, 5),
                "customer_id": "a",
                "lines": [{"amount": 100.0, "cost": 50.0}],
            },
            {
                "order_id": "6",
                "order_date": D(2024, 2, 20),
                "customer_id": "d",
                "lines": [{"amount": 100.0}],
            },
        ]
    )
    spend = kb.marketing_spend(
        [
            {"period_start": D(2024, 1, 1), "channel": "ads", "amount": 600.0},
            {"period_start": D(2024, 1, 1), "channel": "seo", "amount": 100.0},
            {
                "period_start": D(2024, 1, 15),
                "channel": "events",
                "amount": 50.0,
            },  # a day
            {"period_start": D(2024, 2, 1), "channel": "ads", "amount": 200.0},
            {"period_start": D(2024, 2, 1), "channel": "seo", "amount": 100.0},
        ]
    )
    dim = kb.customers(
        [
            {"customer_id": "a", "channel": "ads"},
            {"customer_id": "b", "channel": "ads"},
            {"customer_id": "c", "channel": "seo"},
            {"customer_id": "d", "channel": "seo"},
        ]
    )
    return kb.make_inputs(
        D(2024, 2, 29),
        orders=orders,
        order_lines=lines,
        marketing_spend=spend,
        customers=dim,
    )


def test_cac(shop: KpiInputs) -> None:
    out = unit_economics.kpi_values(shop, SETTINGS)
    # Jan: spend 600 + 100 + 50 = 750 / new a, b, c = 3
    assert value(out, "cac", "month", D(2024, 1, 1)) == 250.0
    assert value(out, "cac", "month", D(2024, 1, 1), "ads") == 300.0  # 600 / 2
    assert value(out, "cac", "month", D(2024, 1, 1), "seo") == 100.0  # 100 / 1
    # events: spend 50, no new customer -> null (never inf)
    assert value(out, "cac", "month", D(2024, 1, 1), "events") is None
    assert value(out, "cac", "month", D(2024, 1, 1), "events", "numerator") == 50.0
    assert value(out, "cac", "month", D(2024, 1, 1), "events", "denominator") == 0.0
    # Feb: 300 / d = 300; ads 200 / 0 -> null; seo 100 / 1
    assert value(out, "cac", "month", D(2024, 2, 1)) == 300.0
    assert value(out, "cac", "month", D(2024, 2, 1), "ads") is None
    assert value(out, "cac", "month", D(2024, 2, 1), "seo") == 100.0
    # Q1, year and all: 1050 / 4
    assert value(out, "cac", "quarter", D(2024, 1, 1)) == 262.5
    assert value(out, "cac", "year", D(2024, 1, 1)) == 262.5
    assert value(out, "cac", "all", D(2024, 1, 1)) == 262.5
    assert value(out, "cac", "quarter", D(2024, 1, 1), "ads") == 400.0  # 800 / 2


def test_arpa_and_margin_based_kpis(shop: KpiInputs) -> None:
    out = unit_economics.kpi_values(shop, SETTINGS)
    # Jan: revenue 400 (cancelled 999 left out) / active on Jan 31 {a, b, c} = 3
    assert value(out, "arpa", "month", D(2024, 1, 1)) == pytest.approx(400 / 3)
    assert value(out, "arpa", "month", D(2024, 1, 1), "ads") == 150.0  # 300 / 2
    # Jan: nobody active on Dec 31 -> churn null -> ltv and ltv_cac_ratio null
    assert value(out, "ltv", "month", D(2024, 1, 1)) is None
    assert value(out, "ltv_cac_ratio", "month", D(2024, 1, 1)) is None
    # Jan gross margin = (150-90 + 50*0.3 + 100-40 + 100*0.3) / 400 = 165 / 400 = 0.4125
    # payback = 250 / (400/3 * 0.4125) = 250 / 55 months
    assert value(out, "cac_payback_months", "month", D(2024, 1, 1)) == pytest.approx(
        250 / 55
    )
    # ads: margin (60 + 15 + 60) / 300 = 0.45; payback = 300 / (150 * 0.45) = 300 / 67.5
    assert value(
        out, "cac_payback_months", "month", D(2024, 1, 1), "ads"
    ) == pytest.approx(300 / 67.5)

    # Feb: revenue 200 / active on Feb 29 {a (24 days), d} = 100
    # (b 40 days and c 35 days ago: out; W = 30)
    assert value(out, "arpa", "month", D(2024, 2, 1)) == 100.0
    # churn: Jan 31 {a, b, c} -> Feb 29 {a, d}: b, c churned = 2/3
    # margin (100-50 + 100*0.3) / 200 = 0.4; ltv = 100 * 0.4 / (2/3) = 60
    assert value(out, "ltv", "month", D(2024, 2, 1)) == pytest.approx(60.0)
    assert value(
        out, "ltv", "month", D(2024, 2, 1), column="denominator"
    ) == pytest.approx(2 / 3)
    assert value(out, "ltv_cac_ratio", "month", D(2024, 2, 1)) == pytest.approx(
        60 / 300
    )
    assert value(out, "cac_payback_months", "month", D(2024, 2, 1)) == pytest.approx(
        300 / 40
    )
    # ads in Feb: arpa 100 (a), margin 0.5, churn {a, b} -> {a} = 1/2: ltv = 50 / 0.5 = 100;
    # cac null (no new ads customer) -> ratio and payback null
    assert value(out, "ltv", "month", D(2024, 2, 1), "ads") == pytest.approx(100.0)
    assert value(out, "ltv_cac_ratio", "month", D(2024, 2, 1), "ads") is None
    assert value(out, "cac_payback_months", "month", D(2024, 2, 1), "ads") is None
    # seo in Feb: arpa 100 (d), margin 0.3, churn {c} -> {d}: 1/1: ltv 30; cac 100
    assert value(out, "ltv", "month", D(2024, 2, 1), "seo") == pytest.approx(30.0)
    assert value(out, "ltv_cac_ratio", "month", D(2024, 2, 1), "seo") == pytest.approx(
        0.3
    )
    assert value(
        out, "cac_payback_months", "month", D(2024, 2, 1), "seo"
    ) == pytest.approx(100 / 30)
    # only cac has grains other than month
    assert set(out.filter(pl.col("kpi") != "cac")["grain"].unique()) == {"month"}
    assert not out["value"].is_infinite().any()


def test_returns_lower_arpa_and_zero_active_gives_null() -> None:
    orders, lines = kb.sales(
        [
            {
                "order_id": "1",
                "order_date": D(2024, 1, 10),
                "customer_id": "a",
                "net_amount": 100.0,
            },
            {
                "order_id": "2",
                "order_date": D(2024, 2, 10),
                "customer_id": "a",
                "net_amount": -40.0,
            },
            {
                "order_id": "3",
                "order_date": D(2024, 4, 10),
                "customer_id": "a",
                "net_amount": -10.0,
            },
        ]
    )
    shop = kb.make_inputs(D(2024, 4, 30), orders=orders, order_lines=lines)
    out = unit_economics.kpi_values(shop, KpiSettings(churn_window_days=45))
    # Feb: revenue -40 (a return) / active on Feb 29 (a: 50 days > 45: no) = 0 -> null
    assert value(out, "arpa", "month", D(2024, 2, 1)) is None
    # Jan: 100 / 1; no cost known: margin = default 0.3 for ltv's numerator
    assert value(out, "arpa", "month", D(2024, 1, 1)) == 100.0
    # Feb: churn {a} -> {} = 1; ltv = arpa (null) ... -> null
    assert value(out, "ltv", "month", D(2024, 2, 1)) is None
    # no marketing spend data at all: CAC is unknown, not 0 — no cac-based rows
    cac_kpis = ["cac", "ltv_cac_ratio", "cac_payback_months"]
    assert out.filter(pl.col("kpi").is_in(cac_kpis)).height == 0

