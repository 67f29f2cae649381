"""One meaning per dimension (docs/kpis.md, "Conventions"): on the published demo
warehouse, every KPI's ``region`` is the sales region, drawn from the reps' regions (one
vocabulary for a BI filter on ``dimension = 'region'``); the customers' own geography is
the dimension ``customer_region``."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpis.registry import REGISTRY
from tests.e2e_helpers import query


@pytest.fixture(scope="module")
def db(demo_baseline: Path) -> Path:
    return demo_baseline / "warehouse" / "sales.duckdb"


def test_every_region_is_a_sales_region(db: Path) -> None:
    sales_regions = {row[0] for row in query(db, "select distinct region from marts.dim_rep")}
    assert sales_regions == {"APAC", "China", "EMEA", "North America"}
    rows = query(
        db,
        "select kpi, list(distinct dimension_value) from kpi.kpi_values "
        "where dimension = 'region' group by kpi",
    )
    by_kpi = {str(kpi): set(values) for kpi, values in rows}  # type: ignore[arg-type]
    # the customer KPIs are among them, with the sales regions (not provinces)
    for kpi in ("new_customers", "active_customers", "logo_churn_rate", "revenue", "win_rate"):
        assert by_kpi[kpi] & sales_regions, kpi
    for kpi, values in by_kpi.items():
        assert values <= sales_regions | {"unknown"}, (kpi, values - sales_regions)


def test_customer_geography_is_customer_region(db: Path) -> None:
    provinces = {
        row[0] for row in query(db, "select distinct region from marts.dim_customer where region is not null")
    }
    assert len(provinces) > 10  # states and provinces (California, England, …)
    rows = query(
        db,
        "select distinct kpi, dimension_value from kpi.kpi_values "
        "where dimension = 'customer_region'",
    )
    kpis = {str(kpi) for kpi, _ in rows}
    assert kpis == {"new_customers", "active_customers", "logo_churn_rate"}
    assert {str(value) for _, value in rows} <= provinces | {"unknown"}
    for kpi in kpis:
        assert "customer_region" in REGISTRY[kpi].dimensions
