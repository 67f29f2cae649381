"""Each default has one source, the config schema; the places that must repeat it
(dbt's vars for a dbt run by hand, the KPI registry's text) agree with it."""

from __future__ import annotations

from pathlib import Path

import yaml

from kpis.registry import REGISTRY
from salesdw.pipeline import RunContext, _dbt_vars
from schemas.config import Config, KpiSettings

ROOT = Path(__file__).resolve().parents[1]


def test_dbt_vars_default_to_the_config_defaults() -> None:
    project = yaml.safe_load((ROOT / "dbt_project.yml").read_text(encoding="utf-8"))
    config = Config.model_validate({"warehouse": "w.duckdb", "landing": "l", "sources": []})
    passed = _dbt_vars(RunContext(config, "r1"))
    assert project["vars"] == passed  # every var the run passes, with the config's default
    assert passed["churn_window_days"] == KpiSettings().churn_window_days == 365


def test_the_registry_states_the_configured_default() -> None:
    active = REGISTRY["active_customers"]
    assert f"default {KpiSettings().churn_window_days}" in active.formula
