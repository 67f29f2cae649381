"""The ``sources:`` of the demo data set and the config file that loads it (README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from schemas.config import AlertsConfig

SF_DATE_FORMAT = "%m/%d/%Y"


def config_sources() -> list[dict[str, Any]]:
    """One source per (file pattern, entity) the demo generator writes."""
    return [
        {
            "name": "reps",
            "entity": "reps",
            "path": "master/reps.csv",
            "columns": {
                "rep_id": "Full Name",
                "name": "Full Name",
                "manager": "Manager",
                "team": "Team",
                "region": "Region",
                "hire_date": "Hire Date",
                "active": "Active",
            },
        },
        {
            "name": "products",
            "entity": "products",
            "path": "master/products.csv",
            "columns": {
                "product_id": "SKU",
                "name": "Product Name",
                "category": "Product Line",
                "list_price": "List Price",
                "unit_cost": "Unit Cost",
            },
        },
        {
            "name": "salesforce_accounts",
            "entity": "customers",
            "preset": "salesforce",
            "path": "crm/salesforce/accounts.csv",
            "date_format": SF_DATE_FORMAT,
        },
        {
            "name": "hubspot_companies",
            "entity": "customers",
            "preset": "hubspot",
            "path": "crm/hubspot/companies.csv",
        },
        {
            "name": "fxiaoke_customers",
            "entity": "customers",
            "preset": "fxiaoke",
            "path": "crm/fxiaoke/客户.csv",
            "encoding": "gbk",
        },
        {
            "name": "salesforce_leads",
            "entity": "leads",
            "preset": "salesforce",
            "path": "crm/salesforce/leads.csv",
            "date_format": SF_DATE_FORMAT,
        },
        {
            "name": "hubspot_contacts",
            "entity": "leads",
            "preset": "hubspot",
            "path": "crm/hubspot/contacts.csv",
        },
        {
            "name": "fxiaoke_leads",
            "entity": "leads",
            "preset": "fxiaoke",
            "path": "crm/fxiaoke/线索.csv",
            "encoding": "gbk",
        },
        {
            "name": "salesforce_opportunities",
            "entity": "opportunities",
            "preset": "salesforce",
            "path": "crm/salesforce/opportunities_*.csv",
            "date_format": SF_DATE_FORMAT,
        },
        {
            "name": "salesforce_opportunity_history",
            "entity": "opportunity_stage_history",
            "path": "crm/salesforce/opportunity_history.csv",
            "date_format": "%m/%d/%Y %H:%M",
            "columns": {
                "opportunity_id": "Opportunity ID",
                "stage": "To Stage",
                "entered_at": "Edit Date",
            },
        },
        {
            "name": "hubspot_deals",
            "entity": "opportunities",
            "preset": "hubspot",
            "path": "crm/hubspot/deals.csv",
        },
        {
            "name": "fxiaoke_opportunities",
            "entity": "opportunities",
            "preset": "fxiaoke",
            "path": "crm/fxiaoke/商机.csv",
            "encoding": "gbk",
        },
        {
            "name": "erp_orders",
            "entity": "orders",
            "preset": "erp",
            "path": "erp/order_lines_*.csv",
        },
        {
            "name": "erp_order_lines",
            "entity": "order_lines",
            "preset": "erp",
            "path": "erp/order_lines_*.csv",
        },
        {
            "name": "targets",
            "entity": "targets",
            "path": "targets/targets_*.xlsx",
            "format": "xlsx",
            "columns": {
                "period_start": "Period",
                "grain": "Grain",
                "metric": "Metric",
                "level": "Level",
                "level_value": "Level Value",
                "target_value": "Target",
            },
        },
        {
            "name": "marketing_spend",
            "entity": "marketing_spend",
            "path": "marketing/spend.csv",
            "columns": {
                "period_start": "Month",
                "channel": "Channel",
                "campaign": "Campaign",
                "amount": "Amount",
                "currency": "Currency",
            },
        },
        {
            "name": "fx_rates",
            "entity": "fx_rates",
            "path": "fx/fx_rates.csv",
            "columns": {
                "date": "Date",
                "currency": "Currency",
                "rate_to_reporting": "Rate to USD",
            },
        },
        *receivables_and_activity_sources(),
    ]


def receivables_and_activity_sources() -> list[dict[str, Any]]:
    """The invoices, payments (回款) and activities (跟进记录) of the demo data set."""
    return [
        {
            "name": "erp_invoices",
            "entity": "invoices",
            "preset": "erp",
            "path": "erp/invoices_*.csv",
        },
        {
            "name": "erp_receipts",
            "entity": "payments",
            "preset": "erp",
            "path": "erp/receipts_*.csv",
        },
        {
            "name": "fxiaoke_payments",
            "entity": "payments",
            "preset": "fxiaoke",
            "path": "crm/fxiaoke/回款.csv",
            "encoding": "gbk",
            "columns": {"currency": {"value": "CNY"}},
        },
        {
            # a Data Loader export of Task with the owner's name and the completion time
            "name": "salesforce_tasks",
            "entity": "activities",
            "preset": "salesforce",
            "path": "crm/salesforce/tasks.csv",
            "columns": {"occurred_at": "CompletedDateTime", "rep_id": "Owner.Name"},
        },
        {
            "name": "hubspot_activities",
            "entity": "activities",
            "path": "crm/hubspot/activities.csv",
            "columns": {
                "activity_id": "Activity ID",
                "occurred_at": "Activity date",
                "type": "Activity type",
                "rep_id": "Activity assigned to",
                "customer_id": "Associated Company ID",
                "lead_id": "Associated Contact ID",
                "opportunity_id": "Associated Deal ID",
                "subject": "Subject",
            },
        },
        {
            "name": "fxiaoke_activities",
            "entity": "activities",
            "preset": "fxiaoke",
            "path": "crm/fxiaoke/跟进记录.csv",
            "encoding": "gbk",
            "columns": {"opportunity_id": "商机编号"},
        },
    ]


def config_text(warehouse: str, landing: str) -> str:
    """The YAML config (README.md) loading the demo data set."""
    config = {
        "warehouse": warehouse,
        "landing": landing,
        "reporting_currency": "USD",
        "kpi": {
            "churn_window_days": 365,
            "gross_margin_default": 0.30,
            "clv": {"time_unit": "week", "horizon": 52, "discount_rate_annual": 0.10},
        },
        # the alert rules with their defaults (schemas.config.AlertsConfig), to be tuned
        "alerts": AlertsConfig().model_dump(),
        "sources": config_sources(),
    }
    header = (
        "# salesdw config for the demo data set (written by salesdw.demo.write_config;\n"
        "# `salesdw generate` / `salesdw demo` write the files it names). See README.md.\n"
    )
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def write_config(path: Path, warehouse: str, landing: str) -> None:
    """Write the demo config to ``path`` (UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_text(warehouse, landing), encoding="utf-8")
