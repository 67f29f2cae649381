"""Golden tests of the alerts (kpis.alerts, kpi.alerts, `salesdw alerts`): each rule
firing and not firing, the config's thresholds, and `--fail-on` for schedulers.
Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from kpi_builders import (
    activities,
    customers,
    invoices,
    leads,
    make_inputs,
    marketing_spend,
    opportunities,
    opportunity_stages,
    payments,
    products,
    reps,
    sales,
    targets,
)

from kpis import alerts as rules_module
from kpis.compute import compute_all, compute_kpi_values
from kpis.inputs import KpiInputs
from kpis.segments import CUSTOMER_SEGMENTS_SCHEMA
from kpis.stages import STUCK_OPPORTUNITIES_SCHEMA
from salesdw import cli
from schemas.config import AlertsConfig, KpiSettings

D = dt.date
T = dt.datetime
AS_OF = D(2024, 3, 15)  # March: 15 of 31 days elapsed


def _marts(company_target: float = 1550.0) -> dict[str, pl.DataFrame]:
    orders, lines = sales(
        [  # March to date: r1 (east) sells 600
            {"order_id": "1", "order_date": D(2024, 3, 5), "customer_id": "c1", "rep_id": "r1",
             "team": "east", "region": "EMEA", "net_amount": 600.0},
        ]
    )
    deals = opportunities(
        [
            # open, expected on Mar 10: past its close date by 5 days
            {"opportunity_id": "X", "owner_rep_id": "r2", "team": "east", "stage": "negotiation",
             "amount": 100.0, "probability": 0.0, "created_at": D(2024, 1, 5),
             "close_date": D(2024, 3, 10)},
            # open, expected on Mar 25: weighted 0.6 × 1000 = 600 of east's pipeline
            {"opportunity_id": "Y", "owner_rep_id": "r1", "team": "east", "stage": "proposal",
             "amount": 1000.0, "created_at": D(2024, 2, 1), "close_date": D(2024, 3, 25)},
            # won on Mar 1: closed, never past its date
            {"opportunity_id": "Z", "owner_rep_id": "r1", "team": "east", "stage": "won",
             "amount": 50.0, "created_at": D(2024, 1, 1), "close_date": D(2024, 3, 1)},
        ]
    )
    history = opportunity_stages(
        [
            {"opportunity_id": "X", "stage": "negotiation", "entered_at": T(2024, 1, 5)},
            {"opportunity_id": "Y", "stage": "proposal", "entered_at": T(2024, 2, 1)},
            {"opportunity_id": "Z", "stage": "lead", "entered_at": T(2024, 1, 1),
             "exited_at": T(2024, 3, 1)},
            {"opportunity_id": "Z", "stage": "won", "entered_at": T(2024, 3, 1)},
        ]
    )
    march = D(2024, 3, 1)
    goals = targets(
        [
            # company: 1550 × 15 / 31 = 750 expected to date; 600 / 750 = 0.8: warning
            {"period_start": march, "target_value": company_target},
            # east: 3100 × 15 / 31 = 1500; 600 / 1500 = 0.4: critical
            {"period_start": march, "level": "team", "level_value": "east", "target_value": 3100.0},
            # r1: 310 × 15 / 31 = 150; 600 / 150 = 4: no alert; met, so no coverage alert
            {"period_start": march, "level": "rep", "level_value": "r1", "target_value": 310.0},
            {"period_start": march, "level": "rep", "level_value": "r2", "target_value": 2000.0},
            # west: 1000 against its reps' 600 + 405 = 1005 (0.5 % apart): adds up
            {"period_start": march, "level": "team", "level_value": "west", "target_value": 1000.0},
            {"period_start": march, "level": "rep", "level_value": "r3", "target_value": 600.0},
            {"period_start": march, "level": "rep", "level_value": "r4", "target_value": 405.0},
            # February is over: its targets are not checked any more
            {"period_start": D(2024, 2, 1), "level": "team", "level_value": "east",
             "target_value": 1.0},
            {"period_start": D(2024, 2, 1), "level": "rep", "level_value": "r1",
             "target_value": 99.0},
        ]
    )
    people = reps(
        [
            {"rep_id": "r1", "team": "east", "region": "EMEA"},
            {"rep_id": "r2", "team": "east", "region": "EMEA"},
            {"rep_id": "r3", "team": "west", "region": "APAC"},
            {"rep_id": "r4", "team": "west", "region": "APAC"},
        ]
    )
    return {
        "orders": orders,
        "order_lines": lines,
        "opportunities": deals,
        "opportunity_stages": history,
        "targets": goals,
        "reps": people,
        "customers": customers([{"customer_id": "c1"}]),
    }


@pytest.fixture
def inputs() -> KpiInputs:
    return make_inputs(AS_OF, **_marts())


def _subjects(frame: pl.DataFrame, rule: str) -> dict[tuple[str, str], dict[str, object]]:
    rows = frame.filter(pl.col("rule") == rule).iter_rows(named=True)
    return {(str(r["subject_type"]), str(r["subject_id"])): r for r in rows}


def _monthly(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("message").str.contains("revenue target of the month"))


def test_pacing_below(inputs: KpiInputs) -> None:
    values = compute_kpi_values(inputs, KpiSettings())
    fired = _subjects(_monthly(rules_module.pacing_below(values, AlertsConfig(), AS_OF)),
                      "pacing_below")
    company = fired[("company", "all")]
    assert (company["level"], company["value"], company["threshold"]) == (
        "warning", pytest.approx(0.8), 0.9,
    )
    east = fired[("team", "east")]
    assert (east["level"], east["value"], east["threshold"]) == (
        "critical", pytest.approx(0.4), 0.75,
    )
    assert ("rep", "r1") not in fired  # pacing 4.0
    # thresholds from the config: at 0.7 / 0.5 the company (0.8) is fine, east a warning
    lenient = AlertsConfig.model_validate({"pacing_below": {"warning": 0.7, "critical": 0.3}})
    fired = _subjects(_monthly(rules_module.pacing_below(values, lenient, AS_OF)), "pacing_below")
    assert ("company", "all") not in fired
    assert fired[("team", "east")]["level"] == "warning"


def test_coverage_below(inputs: KpiInputs) -> None:
    values = compute_kpi_values(inputs, KpiSettings())
    fired = _subjects(
        _monthly(rules_module.coverage_below(values, AlertsConfig(), AS_OF)), "coverage_below"
    )
    # company: pipeline 600 (Y) + 0 (X, probability 0) over 1550 − 600 = 950 left: 0.63
    company = fired[("company", "all")]
    assert (company["level"], company["value"]) == ("warning", pytest.approx(600 / 950))
    # east: 600 over 3100 − 600 = 2500: 0.24
    assert fired[("team", "east")]["value"] == pytest.approx(600 / 2500)
    # r1 met its target (nothing left): no alert
    assert ("rep", "r1") not in fired
    # a threshold of 0.5 spares the company (0.63)
    half = AlertsConfig.model_validate({"coverage_below": {"threshold": 0.5}})
    fired = _subjects(_monthly(rules_module.coverage_below(values, half, AS_OF)), "coverage_below")
    assert ("company", "all") not in fired and ("team", "east") in fired


def test_key_customer_at_risk() -> None:
    segments = pl.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "lifecycle_status": ["at_risk", "active", "at_risk", "at_risk"],
            "value_tier": ["vip", "vip", "general", "key"],
            "window_revenue": [900.0, 800.0, 10.0, 300.0],
            "last_purchase_date": [D(2023, 6, 1), D(2024, 3, 1), D(2023, 6, 1), D(2023, 7, 1)],
        }
    )
    fired = _subjects(
        rules_module.key_customer_at_risk(segments, AlertsConfig(), AS_OF), "key_customer_at_risk"
    )
    # c1 (vip) and c4 (key) are at risk; c2 is active, c3 only general
    assert set(fired) == {("customer", "c1"), ("customer", "c4")}
    assert fired[("customer", "c1")]["level"] == "warning"


def test_deal_past_close_date(inputs: KpiInputs) -> None:
    fired = _subjects(rules_module.deal_past_close_date(inputs, AlertsConfig()),
                      "deal_past_close_date")
    # X (due Mar 10, open): 5 days past; Y is due Mar 25; Z was won
    assert set(fired) == {("opportunity", "X")}
    assert (fired[("opportunity", "X")]["value"], fired[("opportunity", "X")]["level"]) == (
        5.0, "info",
    )


def test_deal_stuck() -> None:
    stuck = pl.DataFrame(
        {"opportunity_id": ["D"], "stage": ["qualification"], "days_in_stage": [29],
         "stage_p90_days": [28.0]}
    )
    fired = _subjects(rules_module.deal_stuck(stuck, AlertsConfig(), AS_OF), "deal_stuck")
    assert (fired[("opportunity", "D")]["value"], fired[("opportunity", "D")]["threshold"]) == (
        29.0, 28.0,
    )
    assert rules_module.deal_stuck(stuck.clear(), AlertsConfig(), AS_OF).is_empty()


def test_overdue_receivable() -> None:
    ageing = pl.DataFrame(
        {
            "customer_id": ["a", "b", "a"],
            "current": [10.0, 0.0, 0.0], "1_30": [0.0, 5.0, 0.0], "31_60": [0.0, 70.0, 0.0],
            "61_90": [100.0, 0.0, 0.0], "over_90": [0.0, 0.0, 50.0],
        }
    )
    fired = _subjects(rules_module.overdue_receivable(ageing, AlertsConfig(), AS_OF),
                      "overdue_receivable")
    # a: 100 (61–90 days) + 50 (over 90) more than 60 days past due; b at most 60 days
    assert set(fired) == {("customer", "a")}
    assert (fired[("customer", "a")]["value"], fired[("customer", "a")]["level"]) == (
        150.0, "critical",
    )
    # without receivables (no kpi.receivables_ageing): skipped, no error
    assert rules_module.overdue_receivable(None, AlertsConfig(), AS_OF).is_empty()


def test_overdue_receivable_from_the_receivables_ageing() -> None:
    """The rule reads the KPI layer's own kpi.receivables_ageing: an invoice of 200 due
    on 2024-01-05 (invoice 2023-12-06 + 30 days) is 70 days past due on 2024-03-15, with
    50 paid: 150 open (critical); one due on 2024-02-14 (30 days past due) does not."""
    from kpis.receivables import receivables_ageing

    inputs = make_inputs(
        AS_OF,
        invoices=invoices(
            [
                {"invoice_id": "i1", "invoice_date": D(2023, 12, 6), "customer_id": "a",
                 "amount": 200.0},
                {"invoice_id": "i2", "invoice_date": D(2024, 1, 15), "customer_id": "b",
                 "amount": 80.0},
            ]
        ),
        payments=payments(
            [{"payment_id": "p1", "payment_date": D(2024, 1, 20), "customer_id": "a",
              "invoice_id": "i1", "amount": 50.0}]
        ),
    )
    ageing = receivables_ageing(inputs, KpiSettings())
    fired = _subjects(rules_module.overdue_receivable(ageing, AlertsConfig(), AS_OF),
                      "overdue_receivable")
    assert set(fired) == {("customer", "a")}
    assert (fired[("customer", "a")]["value"], fired[("customer", "a")]["level"]) == (
        150.0, "critical",
    )


def test_targets_do_not_add_up(inputs: KpiInputs) -> None:
    fired = _subjects(rules_module.targets_do_not_add_up(inputs, AlertsConfig()),
                      "targets_do_not_add_up")
    # east: r1 310 + r2 2000 = 2310 against 3100; the company: east 3100 + west 1000 =
    # 4100 against 1550; west adds up within 1 % (1005 vs 1000); February is over
    assert set(fired) == {("team", "east"), ("company", "all")}
    assert (fired[("team", "east")]["value"], fired[("team", "east")]["threshold"]) == (
        2310.0, 3100.0,
    )
    assert fired[("company", "all")]["value"] == 4100.0
    # a 0.4 % tolerance flags west too (5 / 1000 = 0.5 %)
    strict = AlertsConfig.model_validate({"targets_do_not_add_up": {"tolerance": 0.004}})
    assert ("team", "west") in _subjects(
        rules_module.targets_do_not_add_up(inputs, strict), "targets_do_not_add_up"
    )


def test_disabled_rules_do_not_fire(inputs: KpiInputs) -> None:
    values = compute_kpi_values(inputs, KpiSettings())
    off = AlertsConfig.model_validate({name: {"enabled": False} for name in AlertsConfig.model_fields})
    segments = pl.DataFrame(schema=CUSTOMER_SEGMENTS_SCHEMA)
    stuck = pl.DataFrame(schema=STUCK_OPPORTUNITIES_SCHEMA)
    assert rules_module.alerts(values, segments, stuck, inputs, off).is_empty()
    every = rules_module.alerts(values, segments, stuck, inputs, AlertsConfig())
    assert every.get_column("level").to_list()[0] == "critical"  # the most severe first


# --- salesdw alerts ----------------------------------------------------------------


def _warehouse(
    folder: Path, company_target: float, east_target: float, only_company_and_east: bool
) -> Path:
    marts = _marts(company_target)
    if only_company_and_east:  # no rep or west targets (those have no revenue: critical)
        marts["targets"] = marts["targets"].filter(
            (pl.col("level") == "company") | (pl.col("level_value") == "east")
        )
    marts["targets"] = marts["targets"].with_columns(
        pl.when((pl.col("level") == "team") & (pl.col("level_value") == "east")
                & (pl.col("period_start") == D(2024, 3, 1)))
        .then(pl.lit(east_target))
        .otherwise(pl.col("target_value"))
        .alias("target_value")
    )
    tables = {
        "fct_orders": marts["orders"], "fct_order_lines": marts["order_lines"],
        "fct_opportunities": marts["opportunities"],
        "fct_opportunity_stages": marts["opportunity_stages"], "fct_leads": leads(),
        "fct_targets": marts["targets"], "fct_marketing_spend": marketing_spend(),
        "dim_customer": marts["customers"], "dim_rep": marts["reps"], "dim_product": products(),
        "fct_invoices": invoices(), "fct_payments": payments(), "fct_activities": activities(),
    }
    db = folder / "sales.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts")
        for name, frame in tables.items():
            con.register("_frame", frame.to_arrow())
            con.execute(f"create table marts.{name} as select * from _frame")
            con.unregister("_frame")
        compute_all(con, AS_OF, KpiSettings(), run_id="test", alert_rules=AlertsConfig())
    config = folder / "salesdw.yml"
    config.write_text(f"warehouse: {db}\nlanding: {folder}\n", encoding="utf-8")
    return config


def test_fail_on_critical_exits_1_with_a_critical_alert(tmp_path: Path) -> None:
    # east at 0.4; r2, r3, r4 and west without any revenue at 0: critical
    config = _warehouse(tmp_path, 1550.0, 3100.0, only_company_and_east=False)
    runner = CliRunner()
    done = runner.invoke(cli.main, ["alerts", "--fail-on", "critical", "--config", str(config)])
    assert done.exit_code == 1, done.output
    assert "pacing_below" in done.output and "critical" in done.output
    shown = runner.invoke(
        cli.main, ["alerts", "--level", "critical", "--format", "json", "--config", str(config)]
    )
    rows = json.loads(shown.stdout)
    assert shown.exit_code == 0 and {row["level"] for row in rows} == {"critical"}
    assert {row["subject_id"] for row in rows} == {"east", "west", "r2", "r3", "r4"}


def test_fail_on_critical_exits_0_without_one(tmp_path: Path) -> None:
    # east's target 1240: 1240 × 15 / 31 = 600 to date, pacing 1.0; the company 0.8 is a
    # warning only
    config = _warehouse(tmp_path, 1550.0, 1240.0, only_company_and_east=True)
    runner = CliRunner()
    done = runner.invoke(cli.main, ["alerts", "--fail-on", "critical", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert runner.invoke(
        cli.main, ["alerts", "--fail-on", "warning", "--config", str(config)]
    ).exit_code == 1
    csv = runner.invoke(cli.main, ["alerts", "--format", "csv", "--config", str(config)])
    assert csv.stdout.splitlines()[0] == (
        "rule,level,subject_type,subject_id,value,threshold,message,as_of"
    )
