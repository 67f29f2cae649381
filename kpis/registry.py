"""Every KPI: its id, definition, unit, grains and dimensions (docs/kpis.md).

The formulas are the product contract's words; docs/kpis.md explains each one. The registry is
what ``kpis.api.list_kpis`` shows and what ``kpis.api.kpi`` checks ids against.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.config import KpiSettings

#: the modules holding a ``kpi_values(inputs, settings)`` function, in output order
#: (``kpis.compute`` imports them when it computes; here, where importing costs nothing,
#: so that the run's process can name them without importing polars)
FAMILIES: tuple[str, ...] = (
    "kpis.revenue",
    "kpis.targets",
    "kpis.funnel",
    "kpis.cycle",
    "kpis.customers",
    "kpis.retention",
    "kpis.unit_economics",
    "kpis.receivables",
    "kpis.activities",
    "kpis.margin",
    "kpis.revenue_mix",
    "kpis.stages",
    "kpis.forecast",
)

ALL_GRAINS: tuple[str, ...] = ("month", "quarter", "year", "all")
CALENDAR_GRAINS: tuple[str, ...] = ("month", "quarter", "year")
#: revenue, bookings and the target KPIs: a ``week`` grain (ISO weeks, Monday start)
#: besides the others when a target is weekly (docs/kpis.md)
WEEKLY_GRAINS: tuple[str, ...] = ("week", *ALL_GRAINS)
WEEKLY_CALENDAR_GRAINS: tuple[str, ...] = ("week", *CALENDAR_GRAINS)

#: dimensions of KPIs on orders (revenue) and on opportunities (funnel)
ORDER_DIMENSIONS: tuple[str, ...] = (
    "region",
    "team",
    "rep",
    "channel",
    "segment",
    "country",
)
REVENUE_DIMENSIONS: tuple[str, ...] = (
    "region",
    "team",
    "rep",
    "channel",
    "product_category",
    "segment",
    "country",
)
OPPORTUNITY_DIMENSIONS = REVENUE_DIMENSIONS
#: customer KPIs: ``region`` is the sales region (docs/kpis.md), ``customer_region`` the
#: customer's own geography (dim_customer.region: province, state)
CUSTOMER_DIMENSIONS: tuple[str, ...] = ("channel", "segment", "country", "region", "customer_region")
NEW_CUSTOMER_DIMENSIONS: tuple[str, ...] = (
    "rep",
    "team",
    "region",
    "channel",
    "segment",
    "country",
    "customer_region",
)
#: the open funnel stages, in order (``stage_conversion_rate.<stage>``)
FUNNEL_STAGE_NAMES: tuple[str, ...] = (
    "lead",
    "qualification",
    "needs_analysis",
    "proposal",
    "negotiation",
)
#: a target's level is one of these dimensions (company = ``all``)
TARGET_DIMENSIONS: tuple[str, ...] = (
    "region",
    "team",
    "rep",
    "channel",
    "product_category",
)
#: dimensions of the receivables KPIs: the invoice's rep (else its customer's owner),
#: that rep's team and region, the customer's segment and acquisition channel
INVOICE_DIMENSIONS: tuple[str, ...] = ("rep", "team", "region", "segment", "channel")
#: the metrics a target can have (docs/entities.md targets.metric)
TARGET_METRICS: tuple[str, ...] = ("revenue", "bookings", "new_customers", "deals_won")
#: the metrics that have a pipeline to cover them
PIPELINE_METRICS: tuple[str, ...] = ("revenue", "bookings")


@dataclass(frozen=True)
class KpiDefinition:
    """One KPI: ``formula`` is the contract's text, ``grains`` and ``dimensions`` those computed
    (dimension ``all`` is implied unless ``dimensions`` says otherwise)."""

    id: str
    description: str
    formula: str
    unit: str
    grains: tuple[str, ...]
    dimensions: tuple[str, ...]


_DEFINITIONS = (
    KpiDefinition(
        "revenue",
        "Net revenue: order-line amounts of orders not cancelled, returns included.",
        "sum of net order-line amount in the period",
        "currency",
        WEEKLY_GRAINS,
        REVENUE_DIMENSIONS,
    ),
    KpiDefinition(
        "target_achievement_rate",
        "Actual over target, per target metric: kpi id `target_achievement_rate` for "
        "revenue, `target_achievement_rate.<metric>` for bookings, new_customers, deals_won.",
        "actual / target for the target's metric, period and level; actual revenue as "
        "above, bookings = won opportunity amount by close date",
        "ratio",
        WEEKLY_CALENDAR_GRAINS,
        TARGET_DIMENSIONS,
    ),
    KpiDefinition(
        "target_pacing",
        "Actual to date over the pro-rata target to date, for the period containing the "
        "as-of date; kpi id `target_pacing` (revenue) or `target_pacing.<metric>`.",
        "actual to date / (target × elapsed days / days in period) for the open period",
        "ratio",
        WEEKLY_CALENDAR_GRAINS,
        TARGET_DIMENSIONS,
    ),
    KpiDefinition(
        "win_rate",
        "Share of the opportunities closed in the period that were won.",
        "won / (won + lost) opportunities closed in the period (count based)",
        "ratio",
        ALL_GRAINS,
        OPPORTUNITY_DIMENSIONS,
    ),
    KpiDefinition(
        "win_rate_amount",
        "Share of the amount closed in the period that was won.",
        "won amount / (won + lost amount), closed in the period",
        "ratio",
        ALL_GRAINS,
        OPPORTUNITY_DIMENSIONS,
    ),
    KpiDefinition(
        "lead_conversion_rate",
        "Share of the leads created in the period that converted by the as-of date.",
        "leads created in the period that converted (a won opportunity or a customer "
        "linked to the lead) by as_of / leads created in the period",
        "ratio",
        ALL_GRAINS,
        ("channel", "rep", "team", "region"),
    ),
    KpiDefinition(
        "stage_conversion_rate",
        "Per funnel stage, the share of the opportunities (created in the period) that "
        "reached it and went on to the next stage (won after negotiation); by rep, team, "
        "region and channel as kpi `stage_conversion_rate.<stage>`.",
        "per funnel stage k: opportunities that reached the next stage / opportunities "
        "that reached stage k (dimension `stage`)",
        "ratio",
        ALL_GRAINS,
        ("stage", "rep", "team", "region", "channel"),
    ),
    KpiDefinition(
        "sales_cycle_days",
        "Median days from creation to close of the opportunities won in the period.",
        "for opportunities won in the period: close_date − created_at in days; value is "
        "the median, mean and p90 are kpis `sales_cycle_days_mean`, `sales_cycle_days_p90`",
        "days",
        ALL_GRAINS,
        OPPORTUNITY_DIMENSIONS,
    ),
    KpiDefinition(
        "sales_cycle_days_mean",
        "Mean days from creation to close of the opportunities won in the period.",
        "for opportunities won in the period: mean of close_date − created_at in days",
        "days",
        ALL_GRAINS,
        OPPORTUNITY_DIMENSIONS,
    ),
    KpiDefinition(
        "sales_cycle_days_p90",
        "90th percentile (linear interpolation) of the days from creation to close of "
        "the opportunities won in the period.",
        "for opportunities won in the period: p90 of close_date − created_at in days",
        "days",
        ALL_GRAINS,
        OPPORTUNITY_DIMENSIONS,
    ),
    KpiDefinition(
        "lead_to_close_days",
        "Median days from the lead's creation to the close of the opportunities won in "
        "the period that have a lead.",
        "for won opportunities with a lead: close date − lead created_at, median",
        "days",
        ALL_GRAINS,
        OPPORTUNITY_DIMENSIONS,
    ),
    KpiDefinition(
        "new_customers",
        "Customers whose first purchase falls in the period; rep, team, region and "
        "channel are the first purchase's.",
        "customers whose first purchase falls in the period (for a business without "
        "orders: whose first won opportunity does)",
        "count",
        ALL_GRAINS,
        NEW_CUSTOMER_DIMENSIONS,
    ),
    KpiDefinition(
        "active_customers",
        "Customers with a purchase within the churn window ending on the period's last day.",
        "customers active at period end (`churn_window_days`, default "
        f"{KpiSettings.model_fields['churn_window_days'].default})",
        "count",
        CALENDAR_GRAINS,
        CUSTOMER_DIMENSIONS,
    ),
    KpiDefinition(
        "logo_churn_rate",
        "Share of the customers active at period start that are no longer active at period end.",
        "customers active at period start and not active at period end / customers "
        "active at period start",
        "ratio",
        CALENDAR_GRAINS,
        CUSTOMER_DIMENSIONS,
    ),
    KpiDefinition(
        "gross_revenue_retention",
        "Revenue kept from last period's paying customers, without expansion.",
        "over customers with positive revenue in the previous period of the same grain: "
        "their revenue in this period (for GRR capped per customer at the previous value "
        "and floored at 0) / their revenue in the previous period",
        "ratio",
        CALENDAR_GRAINS,
        ("segment", "country"),
    ),
    KpiDefinition(
        "net_revenue_retention",
        "Revenue kept from last period's paying customers, expansion included.",
        "over customers with positive revenue in the previous period of the same grain: "
        "their revenue in this period / their revenue in the previous period",
        "ratio",
        CALENDAR_GRAINS,
        ("segment", "country"),
    ),
    KpiDefinition(
        "cac",
        "Customer acquisition cost: marketing spend per new customer.",
        "marketing spend of the channel in the period / new customers acquired through "
        "that channel in the period (dimension `channel`; `all` = total spend / all new "
        "customers)",
        "currency",
        ALL_GRAINS,
        ("channel",),
    ),
    KpiDefinition(
        "arpa",
        "Average revenue per active account, per month.",
        "revenue / active customers, per month",
        "currency",
        ("month",),
        (),
    ),
    KpiDefinition(
        "ltv",
        "Historical lifetime value of a customer.",
        "arpa × gross margin / monthly logo churn rate (gross margin from product costs "
        "where known, else the configured default)",
        "currency",
        ("month",),
        (),
    ),
    KpiDefinition(
        "ltv_cac_ratio",
        "Lifetime value over acquisition cost.",
        "ltv / cac",
        "ratio",
        ("month",),
        (),
    ),
    KpiDefinition(
        "cac_payback_months",
        "Months of gross margin needed to earn back the acquisition cost.",
        "cac / (arpa × gross margin)",
        "count",
        ("month",),
        (),
    ),
    KpiDefinition(
        "aov",
        "Average order value: revenue per purchase.",
        "revenue / number of purchases in the period",
        "currency",
        ALL_GRAINS,
        ORDER_DIMENSIONS,
    ),
    KpiDefinition(
        "revenue_growth",
        "Growth of revenue over the previous period of the same grain (MoM, QoQ, YoY).",
        "revenue / revenue of the previous period − 1 (MoM for months, YoY for years)",
        "ratio",
        CALENDAR_GRAINS,
        REVENUE_DIMENSIONS,
    ),
    KpiDefinition(
        "repeat_purchase_rate",
        "Share of the buying customers that bought at least twice in the period.",
        "customers with ≥ 2 purchases / customers with ≥ 1 purchase, in the period",
        "ratio",
        ALL_GRAINS,
        ("segment", "country"),
    ),
    KpiDefinition(
        "pipeline_coverage",
        "Probability-weighted open pipeline over what is left of the target of the open "
        "period; kpi id `pipeline_coverage` (revenue) or `pipeline_coverage.bookings`.",
        "open pipeline amount weighted by stage probability / remaining target of the period",
        "ratio",
        WEEKLY_CALENDAR_GRAINS,
        TARGET_DIMENSIONS,
    ),
    KpiDefinition(
        "gross_margin",
        "Gross margin of the revenue whose cost is known (line cost, else quantity × "
        "product unit cost); lines without a known cost are left out (cost_coverage).",
        "(net revenue − cost) / net revenue, over order lines whose cost is known (line "
        "cost, else quantity × product unit_cost)",
        "ratio",
        ALL_GRAINS,
        REVENUE_DIMENSIONS,
    ),
    KpiDefinition(
        "cost_coverage",
        "Share of the revenue whose cost is known (the base of gross_margin).",
        "net revenue of lines with a known cost / net revenue",
        "ratio",
        ALL_GRAINS,
        REVENUE_DIMENSIONS,
    ),
    KpiDefinition(
        "revenue_yoy",
        "Revenue against the same period a year earlier; the open period to date "
        "against last year's to the same day.",
        "revenue / revenue of the same period one year earlier − 1 (month, quarter, year "
        "grains; 29 February compares with 28 February)",
        "ratio",
        CALENDAR_GRAINS,
        REVENUE_DIMENSIONS,
    ),
    KpiDefinition(
        "revenue_new_customers",
        "Revenue from customers whose first purchase is in the period.",
        "revenue from customers whose first purchase is in the period",
        "currency",
        ALL_GRAINS,
        ("segment", "country"),
    ),
    KpiDefinition(
        "revenue_existing_customers",
        "Revenue from customers whose first purchase is before the period.",
        "revenue from customers whose first purchase is before the period",
        "currency",
        ALL_GRAINS,
        ("segment", "country"),
    ),
    KpiDefinition(
        "new_customer_revenue_share",
        "Share of the revenue that comes from new customers.",
        "revenue_new_customers / revenue",
        "ratio",
        ALL_GRAINS,
        ("segment", "country"),
    ),
    KpiDefinition(
        "revenue_per_rep",
        "Revenue per rep credited with an order or a won deal in the period.",
        "revenue / reps credited with at least one order or won deal in the period (by "
        "team, region)",
        "currency",
        ALL_GRAINS,
        ("team", "region"),
    ),
    KpiDefinition(
        "discount_rate",
        "Discounts given over the gross (list-quantity) value of the discounted lines.",
        "sum of line discounts / sum of quantity × unit_price, over lines with both",
        "ratio",
        ALL_GRAINS,
        REVENUE_DIMENSIONS,
    ),
    KpiDefinition(
        "price_realisation",
        "Net amount over the list value of the lines whose product has a list price.",
        "net amount / (quantity × product list_price), over lines with a list price",
        "ratio",
        ALL_GRAINS,
        REVENUE_DIMENSIONS,
    ),
    KpiDefinition(
        "channel_revenue_share",
        "Each channel's share of the period's revenue.",
        "revenue of the channel / revenue (dimension `channel`)",
        "ratio",
        ALL_GRAINS,
        ("channel",),
    ),
    KpiDefinition(
        "roas",
        "Return on advertising spend: revenue of the channel per unit of its marketing "
        "spend.",
        "revenue of the channel in the period / marketing spend of the channel in the period",
        "ratio",
        ALL_GRAINS,
        ("channel",),
    ),
    KpiDefinition(
        "bookings",
        "Amount of the opportunities won in the period, by close date (the actual of "
        "bookings targets).",
        "won opportunity amount by close date",
        "currency",
        WEEKLY_GRAINS,
        OPPORTUNITY_DIMENSIONS,
    ),
    KpiDefinition(
        "stage_duration_days",
        "Per funnel stage, median days in the stage of the opportunities that left it "
        "in the period.",
        "per funnel stage, over opportunities that left the stage in the period: median "
        "days in the stage",
        "days",
        ALL_GRAINS,
        ("stage",),
    ),
    KpiDefinition(
        "stage_duration_days_p90",
        "Per funnel stage, the 90th percentile (linear interpolation) of the days in the "
        "stage of the opportunities that left it in the period.",
        "per funnel stage, over opportunities that left the stage in the period: 90th "
        "percentile of the days in the stage",
        "days",
        ALL_GRAINS,
        ("stage",),
    ),    KpiDefinition(
        "revenue_forecast",
        "Where the period will land: revenue to date + probability-weighted pipeline "
        "closing in it + the run-rate of orders without a deal for the days left; for "
        "the open month and quarter and the next two.",
        "actual to date + Σ over open opportunities with a close date in the period of "
        "amount × stage probability + the daily order run-rate of the last 90 days × the "
        "days left in the period",
        "currency",
        ("month", "quarter"),
        (),
    ),
    KpiDefinition(
        "bookings_forecast",
        "Bookings to date + probability-weighted pipeline closing in the period; for "
        "the open month and quarter and the next two.",
        "actual to date + Σ over open opportunities with a close date in the period of "
        "amount × stage probability",
        "currency",
        ("month", "quarter"),
        (),
    ),
    KpiDefinition(
        "forecast_accuracy",
        "How close the forecasts made at a closed period's start, 1/3 and 2/3 came to "
        "its actual; kpi id `forecast_accuracy` (revenue) or `forecast_accuracy.bookings`.",
        "1 − |forecast − actual| / actual",
        "ratio",
        ("month", "quarter"),
        ("lead",),
    ),
)

_RECEIVABLES_AND_ACTIVITIES = (
    KpiDefinition(
        "collection_rate",
        "回款率: share of the amount due in the period that was paid by the as-of date "
        "(payments applied by invoice, else to the customer's oldest-due open invoices).",
        "of the invoices due in the period: amount paid by the as-of date / amount due",
        "ratio",
        ALL_GRAINS,
        INVOICE_DIMENSIONS,
    ),
    KpiDefinition(
        "on_time_collection_rate",
        "Share of the amount due in the period that was paid by each invoice's due date.",
        "of the invoices due in the period: amount paid on or before each invoice's due "
        "date / amount due",
        "ratio",
        ALL_GRAINS,
        INVOICE_DIMENSIONS,
    ),
    KpiDefinition(
        "overdue_receivables",
        "Open amount of the invoices past their due date at the period's end (at the "
        "as-of date for the open period).",
        "open amount of invoices past due at period end (at the as-of date for the open "
        "period)",
        "currency",
        CALENDAR_GRAINS,
        INVOICE_DIMENSIONS,
    ),
    KpiDefinition(
        "dso",
        "Days sales outstanding: open receivables at the period's end over the amount "
        "invoiced in the period, times the days of the period (elapsed days for the open "
        "period).",
        "receivables open at period end / amount invoiced in the period × days in the period",
        "days",
        CALENDAR_GRAINS,
        INVOICE_DIMENSIONS,
    ),
    KpiDefinition(
        "activities",
        "Sales activities (calls, visits, emails, meetings, demos, tasks) in the period.",
        "activities in the period (dimension `type`, plus rep, team, region)",
        "count",
        ALL_GRAINS,
        ("type", "rep", "team", "region"),
    ),
    KpiDefinition(
        "visits_per_rep",
        "Customer visits per rep who logged an activity in the period.",
        "visits in the period / reps with at least one activity in the period (by team, "
        "region)",
        "count",
        ALL_GRAINS,
        ("team", "region"),
    ),
    KpiDefinition(
        "follow_up_rate",
        "回访率: share of the buying customers that had an activity within "
        "`kpi.follow_up_days` (default 30) after a purchase in the period.",
        "customers with a purchase in the period that had an activity within "
        "`kpi.follow_up_days` (default 30) after a purchase in the period / customers "
        "with a purchase in the period",
        "ratio",
        ALL_GRAINS,
        (),
    ),
    KpiDefinition(
        "lead_response_hours",
        "Median hours from a lead's creation (its day's start) to its first activity, "
        "over the leads created in the period that have one.",
        "median hours from a lead's creation to its first activity, over leads created "
        "in the period that have one",
        "hours",
        ALL_GRAINS,
        ("channel", "rep", "team", "region"),
    ),
    KpiDefinition(
        "lead_untouched_rate",
        "Share of the leads created in the period without any activity by the as-of date.",
        "untouched leads / leads created in the period",
        "ratio",
        ALL_GRAINS,
        ("channel", "rep", "team", "region"),
    ),
)

REGISTRY: dict[str, KpiDefinition] = {
    definition.id: definition for definition in (*_DEFINITIONS, *_RECEIVABLES_AND_ACTIVITIES)
}

#: KPIs stored once per target metric: under the plain id for revenue (docs/kpis.md: "actual
#: revenue as above"), as ``<id>.<metric>`` for the other metrics
PER_METRIC_KPIS: dict[str, tuple[str, ...]] = {
    "target_achievement_rate": TARGET_METRICS,
    "target_pacing": TARGET_METRICS,
    "pipeline_coverage": PIPELINE_METRICS,
    "forecast_accuracy": PIPELINE_METRICS,
}


def metric_kpi_id(kpi: str, metric: str) -> str:
    """The kpi_values id of a per-metric KPI: ``target_achievement_rate`` for revenue,
    ``target_achievement_rate.bookings`` for bookings."""
    return kpi if metric == "revenue" else f"{kpi}.{metric}"


#: KPIs without a row for dimension ``all`` (one value per stage, channel or lead)
WITHOUT_ALL: frozenset[str] = frozenset(
    {
        "stage_conversion_rate",
        "channel_revenue_share",
        "stage_duration_days",
        "stage_duration_days_p90",
        "forecast_accuracy",
    }
)

#: KPIs stored under the plain id (dimension ``stage``) and once per funnel stage as
#: ``<id>.<stage>`` (by owner: rep, team, region, channel)
PER_STAGE_KPIS: dict[str, tuple[str, ...]] = {"stage_conversion_rate": FUNNEL_STAGE_NAMES}


def stored_ids(kpi: str) -> tuple[str, ...]:
    """The ids under which a registry KPI is stored in kpi.kpi_values."""
    if kpi in PER_METRIC_KPIS:
        return tuple(metric_kpi_id(kpi, metric) for metric in PER_METRIC_KPIS[kpi])
    if kpi in PER_STAGE_KPIS:
        return (kpi, *(f"{kpi}.{stage}" for stage in PER_STAGE_KPIS[kpi]))
    return (kpi,)
