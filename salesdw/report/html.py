"""The KPI report page: reads the warehouse, writes one self-contained HTML file.

``render_report`` only runs SELECTs on the connection it is given. Every section reads
its own tables; a table that is missing, lacks a contract column, or is empty makes
that section say "no data" instead of failing the report. The page has inline CSS,
inline SVG (``salesdw.report.charts``) and one inline script (``_SORT_SCRIPT``: sorts the
rep scorecard by a clicked column), no URL, so it can be mailed or opened from a file
share as it is. All text from the data is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from kpis.registry import metric_kpi_id
from kpis.values import empty_kpi_values
from salesdw.report import charts
from salesdw.report.charts import escape

# (kpi id, label) of the headline cards, in display order (dimension `all`).
HEADLINE_KPIS: tuple[tuple[str, str], ...] = (
    ("revenue", "Revenue"),
    ("target_achievement_rate", "Target achievement"),
    ("win_rate", "Win rate"),
    ("lead_conversion_rate", "Lead conversion"),
    ("sales_cycle_days", "Sales cycle (median)"),
    ("new_customers", "New customers"),
    ("active_customers", "Active customers"),
    ("logo_churn_rate", "Logo churn"),
    ("cac", "CAC"),
    ("ltv", "LTV"),
    ("ltv_cac_ratio", "LTV / CAC"),
    ("net_revenue_retention", "Net revenue retention"),
)
# A fall in these is good news: the arrow keeps its direction, the colour flips.
LOWER_IS_BETTER = frozenset({"sales_cycle_days", "logo_churn_rate", "cac"})
# Units used when kpi_values has no unit for a row.
DEFAULT_UNITS = {
    "revenue": "currency",
    "cac": "currency",
    "ltv": "currency",
    "sales_cycle_days": "days",
    "new_customers": "count",
    "active_customers": "count",
}
# Ratios read as multiples (3.2×), not percentages.
MULTIPLE_KPIS = frozenset({"ltv_cac_ratio"})
# Headline KPI -> fct_targets.metric with a company-level target.
TARGET_METRICS = {"revenue": "revenue", "new_customers": "new_customers"}
MOVER_DIMENSIONS = ("region", "team", "rep", "channel")
MOVERS_PER_DIMENSION = 5
FUNNEL_STAGES = ("lead", "qualification", "needs_analysis", "proposal", "negotiation")
LIFECYCLE_ORDER = ("prospect", "new", "active", "at_risk", "churned")
TIER_ORDER = ("vip", "key", "general", "potential", "none")
REVENUE_CHART_MONTHS = 24
HEATMAP_COHORTS = 36
QUARANTINE_REASONS = 10
QUARANTINE_EXAMPLES = 2
RAW_PREVIEW_CHARS = 240
_KV_KEY = ["kpi", "grain", "period_start", "dimension", "dimension_value"]


# --------------------------------------------------------------------------- formats


def fmt_value(value: float | None, unit: str | None, *, currency: str, kpi: str = "") -> str:
    """A KPI value for humans: ``USD 1,234,567``, ``12.3%``, ``45.5 days``, ``1,234``,
    ``3.20×``; ``—`` when missing."""
    if value is None or not math.isfinite(value):
        return "—"
    if kpi in MULTIPLE_KPIS:
        return f"{value:,.2f}×"
    if unit == "ratio":
        return f"{value * 100:,.1f}%"
    if unit == "days":
        return f"{value:,.1f} days"
    if unit == "hours":
        return f"{value:,.1f} h"
    if unit == "currency":
        return f"{currency} {value:,.0f}" if abs(value) >= 1000 else f"{currency} {value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{value:,.2f}"


def fmt_compact(value: float) -> str:
    """An axis tick: ``950``, ``12.5k``, ``3.4M``, ``1.2B``."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fmt_delta(
    current: float | None, previous: float | None, unit: str | None, kpi: str
) -> tuple[str, str, str]:
    """(arrow, change text, css class) of ``current`` vs ``previous``.

    Ratios change in percentage points, everything else in % of the previous value.
    The class is ``good``/``bad`` by the KPI's direction, ``flat`` when unchanged.
    """
    if (
        current is None
        or previous is None
        or not (math.isfinite(current) and math.isfinite(previous))
    ):
        return "", "no previous value", "flat"
    diff = current - previous
    if unit == "ratio" and kpi not in MULTIPLE_KPIS:
        text = f"{diff * 100:+,.1f} pp"
    elif previous != 0:
        text = f"{diff / abs(previous) * 100:+,.1f}%"
    else:
        text = "new" if diff else "±0"
    if diff == 0:
        return "▶", text, "flat"
    improved = (diff > 0) != (kpi in LOWER_IS_BETTER)
    return ("▲" if diff > 0 else "▼"), text, ("good" if improved else "bad")


def _month_label(day: dt.date) -> str:
    return f"{day:%Y-%m}"


def _quarter_label(day: dt.date) -> str:
    return f"{day.year} Q{(day.month - 1) // 3 + 1}"


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------- reading


class _Warehouse:
    """Read-only access that turns a missing table or column into ``None``."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def query(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame | None:
        """The result, or ``None`` when a table or column of the contract is missing."""
        try:
            frame: pl.DataFrame = self._con.sql(sql, params=list(params) or None).pl()
            return frame
        except (duckdb.CatalogException, duckdb.BinderException):
            return None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        frame = self.query(sql, params)
        return [] if frame is None else list(frame.iter_rows(named=True))


@dataclass(frozen=True)
class _Context:
    """What every section needs: the KPI rows, the periods and the formats."""

    wh: _Warehouse
    kv: pl.DataFrame  # kpi_values rows the report uses (possibly empty)
    currency: str
    as_of: dt.date | None
    run: dict[str, Any] | None  # latest meta.runs row
    run_order: tuple[str, ...]  # run ids, newest first

    def fmt(self, value: float | None, unit: str | None, kpi: str = "") -> str:
        return fmt_value(value, unit, currency=self.currency, kpi=kpi)

    def kpi_rows(self, kpi: str, grain: str, dimension: str = "all") -> pl.DataFrame:
        return self.kv.filter(
            (pl.col("kpi") == kpi) & (pl.col("grain") == grain) & (pl.col("dimension") == dimension)
        )

    def point(
        self, kpi: str, grain: str, start: dt.date, dimension: str = "all", value: str = "all"
    ) -> dict[str, Any] | None:
        rows = self.kv.filter(
            (pl.col("kpi") == kpi)
            & (pl.col("grain") == grain)
            & (pl.col("period_start") == start)
            & (pl.col("dimension") == dimension)
            & (pl.col("dimension_value") == value)
        )
        return rows.row(0, named=True) if rows.height else None

    def latest_period(self, grain: str) -> dict[str, Any] | None:
        """The newest period of ``grain`` with a revenue value (else with any KPI)."""
        rows = self.kv.filter((pl.col("grain") == grain) & (pl.col("dimension") == "all"))
        revenue = rows.filter(pl.col("kpi") == "revenue")
        rows = revenue if revenue.height else rows
        if not rows.height:
            return None
        return rows.sort("period_start").row(-1, named=True)

    def is_partial(self, period_end: dt.date | None) -> bool:
        return bool(self.as_of and period_end and period_end > self.as_of + dt.timedelta(days=1))


def _load_kpi_values(wh: _Warehouse) -> pl.DataFrame:
    dims = ", ".join(f"'{d}'" for d in MOVER_DIMENSIONS)
    frame = wh.query(
        f"""
        select kpi, grain, period_start, period_end, dimension, dimension_value,
               value, numerator, denominator, unit, as_of
        from kpi.kpi_values
        where dimension = 'all'
           or (kpi = 'revenue' and grain = 'month' and dimension in ({dims}))
           or (kpi = 'stage_conversion_rate' and dimension = 'stage')
           or (kpi = 'ltv_cac_ratio' and dimension = 'channel')
        """
    )
    if frame is None or not frame.height:
        return empty_kpi_values()
    frame = frame.with_columns(
        pl.col("period_start").cast(pl.Date),
        pl.col("period_end").cast(pl.Date),
        pl.col("as_of").cast(pl.Date),
    )
    # Keep the newest row per key should several snapshots share the table.
    return frame.sort("as_of", nulls_last=False).unique(
        subset=_KV_KEY, keep="last", maintain_order=True
    )


def _context(con: duckdb.DuckDBPyConnection, currency: str) -> _Context:
    wh = _Warehouse(con)
    kv = _load_kpi_values(wh)
    runs = wh.rows(
        "select run_id, started_at, finished_at, status, as_of from meta.runs "
        "order by started_at desc nulls last, run_id desc"
    )
    run = runs[0] if runs else None
    as_of = _as_date(run["as_of"]) if run else None
    if as_of is None and "as_of" in kv.columns and kv.height:
        as_of = _as_date(kv["as_of"].max())
    return _Context(
        wh=wh,
        kv=kv,
        currency=currency,
        as_of=as_of,
        run=run,
        run_order=tuple(str(r["run_id"]) for r in runs),
    )


# --------------------------------------------------------------------------- html bits


def _no_data(what: str) -> str:
    return f'<p class="no-data">no data — {escape(what)}</p>'


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    css: str = "",
) -> str:
    """A table; cells are HTML already (escape data before passing it)."""
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(fig_id: str, title: str, body: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return (
        f'<figure id="{fig_id}"><h3>{escape(title)}</h3>'
        f'<div class="scroll">{body}</div>{cap}</figure>'
    )


# --------------------------------------------------------------------------- targets


def _targets(ctx: _Context, metric: str, grain: str) -> dict[dt.date, float]:
    """Company target of ``metric`` per period: the denominator of its
    target_achievement_rate (dimension all), as the KPI layer computed it."""
    kpi = metric_kpi_id("target_achievement_rate", metric)
    return {
        r["period_start"]: target
        for r in ctx.kpi_rows(kpi, grain).iter_rows(named=True)
        if (target := _num(r["denominator"])) is not None
    }


# --------------------------------------------------------------------------- sections


def _headline_cards(ctx: _Context, grain: str) -> str:
    period = ctx.latest_period(grain)
    if period is None:
        return _no_data(f"no {grain}ly KPI values in kpi.kpi_values")
    start: dt.date = period["period_start"]
    previous = _add_months(start, -1 if grain == "month" else -3)
    label = _month_label(start) if grain == "month" else _quarter_label(start)
    prev_label = _month_label(previous) if grain == "month" else _quarter_label(previous)
    partial = " (to date)" if ctx.is_partial(period["period_end"]) else ""
    # Revenue of an open period is compared to the same day (the KPI layer's
    # revenue_growth and revenue_yoy); other cards with the whole previous period: say so.
    versus = f"{prev_label} (full)" if partial else prev_label
    cards = []
    for kpi, name in HEADLINE_KPIS:
        row = ctx.point(kpi, grain, start)
        prev = ctx.point(kpi, grain, previous)
        unit = (row or prev or {}).get("unit") or DEFAULT_UNITS.get(kpi, "ratio")
        value = _num(row["value"]) if row else None
        prev_value = _num(prev["value"]) if prev else None
        compared = versus
        year_ago = ""
        if kpi == "revenue":
            # the KPI layer's like-for-like denominators: the previous period (and the
            # same period last year) to the same day for an open period
            growth = ctx.point("revenue_growth", grain, start)
            if growth is not None:
                prev_value = _num(growth["denominator"])
                compared = f"{prev_label} to the same day" if partial else prev_label
            yoy = ctx.point("revenue_yoy", grain, start)
            last_year = _num(yoy["denominator"]) if yoy else None
            if last_year is not None:
                y_arrow, y_change, y_css = fmt_delta(value, last_year, unit, kpi)
                same = " to the same day" if partial else ""
                year_ago = (
                    f'<div class="delta {y_css}"><span class="arrow">{y_arrow}</span> '
                    f"{escape(y_change)} <span class=\"muted\">vs a year earlier{same}: "
                    f"{escape(ctx.fmt(last_year, unit, kpi))}</span></div>"
                )
        arrow, change, css = fmt_delta(value, prev_value, unit, kpi)
        delta = (
            f'<div class="delta {css}"><span class="arrow">{arrow}</span> {escape(change)}'
            f' <span class="muted">vs {escape(compared)}: '
            f"{escape(ctx.fmt(prev_value, unit, kpi))}</span></div>"
        ) + year_ago
        if prev_value is None:
            delta = f'<div class="delta flat muted">no value for {escape(prev_label)}</div>'
        target = _targets(ctx, TARGET_METRICS[kpi], grain).get(start) if kpi in TARGET_METRICS else None
        target_html = ""
        if target is not None:
            share = value / target if value is not None and target else None
            width = min(100.0, max(0.0, (share or 0.0) * 100))
            target_html = (
                f'<div class="target">target {escape(ctx.fmt(target, unit, kpi))}'
                f" · {escape(fmt_value(share, 'ratio', currency=ctx.currency))}</div>"
                f'<div class="progress"><span style="width:{width:.0f}%"></span></div>'
            )
        cards.append(
            f'<div class="card" data-kpi="{escape(kpi)}"><div class="kpi-name">{escape(name)}</div>'
            f'<div class="kpi-value">{escape(ctx.fmt(value, unit, kpi))}</div>'
            f"{delta}{target_html}</div>"
        )
    return f'<h3>{escape(label)}{escape(partial)}</h3><div class="cards">{"".join(cards)}</div>'


def _headline_section(ctx: _Context) -> str:
    if not ctx.kv.height:
        return _no_data("kpi.kpi_values is missing or empty")
    return _headline_cards(ctx, "month") + _headline_cards(ctx, "quarter")


def _revenue_chart(ctx: _Context) -> str:
    rows = ctx.kpi_rows("revenue", "month").sort("period_start").tail(REVENUE_CHART_MONTHS)
    if not rows.height:
        return _figure(
            "chart-revenue",
            "Revenue vs target by month",
            _no_data("no monthly revenue in kpi.kpi_values"),
        )
    targets = _targets(ctx, "revenue", "month")
    starts = rows["period_start"].to_list()
    line = [targets.get(s) for s in starts]
    has_target = any(t is not None for t in line)
    svg = charts.bar_chart(
        [_month_label(s) for s in starts],
        [_num(v) for v in rows["value"].to_list()],
        fmt=fmt_compact,
        title="Revenue vs target by month",
        series_label=f"Revenue ({ctx.currency})",
        line=line if has_target else None,
        line_label="Target",
    )
    note = "" if has_target else " No revenue targets found."
    return _figure(
        "chart-revenue",
        "Revenue vs target by month",
        svg,
        f"Monthly revenue (bars) and the company revenue target (line), "
        f"last {len(starts)} months, {escape(ctx.currency)}.{escape(note)}",
    )


def _funnel_from_kpis(ctx: _Context) -> tuple[list[str], list[float], list[float | None], str]:
    rows = ctx.kv.filter(
        (pl.col("kpi") == "stage_conversion_rate") & (pl.col("dimension") == "stage")
    )
    for grain in ("all", "year", "quarter", "month"):
        picked = rows.filter(pl.col("grain") == grain)
        if picked.height:
            latest = picked["period_start"].max()
            picked = picked.filter(pl.col("period_start") == latest)
            break
    else:
        return [], [], [], ""
    by_stage = {r["dimension_value"]: r for r in picked.iter_rows(named=True)}
    order = [s for s in FUNNEL_STAGES if s in by_stage]
    order += sorted(s for s in by_stage if s not in FUNNEL_STAGES)
    rates = [_num(by_stage[s]["value"]) for s in order]
    denominators = [_num(by_stage[s]["denominator"]) for s in order]
    scope = "all time" if grain == "all" else f"{grain} from {latest!s}"
    if all(d is not None for d in denominators):
        counts = [d or 0.0 for d in denominators]
        won = _num(by_stage[order[-1]]["numerator"])
        if won is not None:
            return [*order, "won"], [*counts, won], [*rates, None], f"opportunities, {scope}"
        return order, counts, rates, f"opportunities, {scope}"
    index, counts = 100.0, []
    for rate in rates:  # No counts: an index that starts at 100.
        counts.append(index)
        index *= rate if rate is not None else 1.0
    return order, counts, rates, f"index (first stage = 100), {scope}"


def _funnel_chart(ctx: _Context) -> str:
    title = "Sales funnel"
    stages, counts, rates, scope = _funnel_from_kpis(ctx)
    if not stages or not any(counts):
        return _figure("chart-funnel", title, _no_data("no stage_conversion_rate values"))
    svg = charts.funnel_chart(
        [s.replace("_", " ") for s in stages],
        counts,
        rates,
        fmt_count=lambda v: f"{v:,.0f}",
        fmt_rate=lambda v: fmt_value(v, "ratio", currency=ctx.currency),
        title=title,
    )
    return _figure(
        "chart-funnel",
        title,
        svg,
        f"Bar width: {escape(scope)}; right: conversion to the next stage "
        "(source: kpi stage_conversion_rate).",
    )


def _cycle_chart(ctx: _Context) -> str:
    """The distribution of the cycle lengths of the deals won up to the as-of date, with
    the median, mean and p90 the KPI layer computed over all of them (grain all)."""
    title = "Sales cycle length (won opportunities)"
    frame = ctx.wh.query(
        "select date_diff('day', cast(created_at as date), cast(close_date as date)) as days "
        "from marts.fct_opportunities where is_won and created_at is not null "
        "and close_date is not null and cast(close_date as date) <= ?",
        [ctx.as_of or dt.date.max],
    )
    if frame is None or not frame.height:
        return _figure("chart-cycle", title, _no_data("no won opportunities with dates"))
    days = [float(d) for d in frame["days"].to_list()]
    svg = charts.histogram(
        days,
        fmt=lambda v: f"{v:,.0f}",
        title=title,
        x_label="days from created to close",
        integer=True,
        clip_quantile=0.99,
    )
    stats = [
        f"{label} {ctx.fmt(_num(row['value']), 'days')}"
        for kpi, label in (
            ("sales_cycle_days", "median"),
            ("sales_cycle_days_mean", "mean"),
            ("sales_cycle_days_p90", "p90"),
        )
        if (rows := ctx.kpi_rows(kpi, "all")).height and (row := rows.row(0, named=True))
    ]
    caption = f"{len(days):,} won opportunities up to {ctx.as_of}" + (
        "; " + ", ".join(stats) if stats else ""
    )
    return _figure("chart-cycle", title, svg, escape(caption + "."))


def _cohort_chart(ctx: _Context) -> str:
    title = "Cohort retention"
    frame = ctx.wh.query(
        "select cohort_month, months_since, customers, cohort_size, retention_rate "
        "from kpi.cohort_retention order by cohort_month, months_since"
    )
    if frame is None or not frame.height:
        return _figure("chart-cohorts", title, _no_data("kpi.cohort_retention is missing or empty"))
    cohorts = sorted({d for c in frame["cohort_month"].to_list() if (d := _as_date(c))})
    shown = cohorts[-HEATMAP_COHORTS:]
    row_of = {c: i for i, c in enumerate(shown)}
    cells = []
    max_since = 0
    for r in frame.iter_rows(named=True):
        cohort, since = _as_date(r["cohort_month"]), r["months_since"]
        if cohort is None or cohort not in row_of or since is None:
            continue
        rate = _num(r["retention_rate"])
        max_since = max(max_since, int(since))
        text = "" if rate is None else f"{rate * 100:.0f}"
        tooltip = (
            f"cohort {_month_label(cohort)}, month {since}: "
            f"{fmt_value(rate, 'ratio', currency=ctx.currency)} "
            f"({r['customers'] if r['customers'] is not None else '—'} of "
            f"{r['cohort_size'] if r['cohort_size'] is not None else '—'})"
        )
        cells.append(charts.HeatCell(row_of[cohort], int(since), rate, text, tooltip))
    svg = charts.heatmap(
        [_month_label(c) for c in shown],
        [str(k) for k in range(max_since + 1)],
        cells,
        title=title,
        x_label="months since first purchase",
        y_label="retention",
    )
    cut = f" Latest {len(shown)} of {len(cohorts)} cohorts." if len(shown) < len(cohorts) else ""
    return _figure(
        "chart-cohorts",
        title,
        svg,
        "Share of each first-purchase cohort (rows) active N months later "
        f"(columns), in %.{escape(cut)}",
    )


def _ltv_cac_chart(ctx: _Context) -> str:
    title = "LTV / CAC by channel"
    rows = ctx.kpi_rows("ltv_cac_ratio", "month", "channel").filter(
        pl.col("value").is_not_null() & pl.col("value").is_finite()
    )
    if not rows.height:
        return _figure("chart-ltv-cac", title, _no_data("no ltv_cac_ratio values by channel"))
    latest: dt.date = rows["period_start"].max()  # type: ignore[assignment]
    rows = rows.filter(pl.col("period_start") == latest).sort("value", descending=True)
    svg = charts.hbar_chart(
        rows["dimension_value"].cast(pl.String).to_list(),
        [float(v) for v in rows["value"].to_list()],
        fmt=lambda v: f"{v:,.1f}×",
        title=title,
        reference=(3.0, "3×"),
    )
    return _figure(
        "chart-ltv-cac",
        title,
        svg,
        f"Month {escape(_month_label(latest))} (latest month with values); "
        "dashed line: the common 3× benchmark.",
    )


def _clv_chart(ctx: _Context) -> str:
    title = "Predicted customer lifetime value"
    frame = ctx.wh.query("select clv from kpi.customer_clv where clv is not null")
    if frame is None or not frame.height:
        return _figure("chart-clv", title, _no_data("kpi.customer_clv is missing or empty"))
    values = [float(v) for v in frame["clv"].to_list() if math.isfinite(v)]
    if not values:
        return _figure("chart-clv", title, _no_data("no finite CLV values"))
    svg = charts.histogram(
        values, fmt=fmt_compact, title=title, x_label=f"CLV ({ctx.currency})", clip_quantile=0.99
    )
    caption = (
        f"{len(values):,} customers of kpi.customer_clv (BG/NBD + Gamma-Gamma); values "
        "above the 99th percentile are in the last bar."
    )
    return _figure("chart-clv", title, svg, escape(caption))


def _charts_section(ctx: _Context) -> str:
    return (
        '<div class="figures">'
        + "".join(
            (
                _revenue_chart(ctx),
                _funnel_chart(ctx),
                _cycle_chart(ctx),
                _cohort_chart(ctx),
                _ltv_cac_chart(ctx),
                _clv_chart(ctx),
            )
        )
        + "</div>"
    )


def _movers_section(ctx: _Context) -> str:
    period = ctx.latest_period("month")
    if period is None:
        return _no_data("no monthly revenue in kpi.kpi_values")
    start: dt.date = period["period_start"]
    previous = _add_months(start, -1)
    revenue = ctx.kv.filter(
        (pl.col("kpi") == "revenue")
        & (pl.col("grain") == "month")
        & pl.col("dimension").is_in(MOVER_DIMENSIONS)
    )
    current = revenue.filter(pl.col("period_start") == start).select(
        "dimension", "dimension_value", pl.col("value").alias("current")
    )
    before = revenue.filter(pl.col("period_start") == previous).select(
        "dimension", "dimension_value", pl.col("value").alias("previous")
    )
    movers = (
        current.join(before, on=["dimension", "dimension_value"], how="full", coalesce=True)
        .with_columns(pl.col("current").fill_null(0.0), pl.col("previous").fill_null(0.0))
        .with_columns((pl.col("current") - pl.col("previous")).alias("change"))
        .filter(pl.col("change") != 0)
        .with_columns(pl.col("change").abs().alias("size"))
        .sort(["size", "dimension_value"], descending=[True, False])
        .group_by("dimension", maintain_order=True)
        .head(MOVERS_PER_DIMENSION)
    )
    if not movers.height:
        return _no_data(
            f"no revenue change by {', '.join(MOVER_DIMENSIONS)} between "
            f"{_month_label(previous)} and {_month_label(start)}"
        )
    order = {d: i for i, d in enumerate(MOVER_DIMENSIONS)}
    rows = []
    for r in sorted(
        movers.iter_rows(named=True), key=lambda r: (order[r["dimension"]], -r["size"])
    ):
        arrow, change, css = fmt_delta(r["current"], r["previous"], "currency", "revenue")
        rows.append(
            (
                escape(r["dimension"]),
                escape(r["dimension_value"]),
                escape(ctx.fmt(r["previous"], "currency")),
                escape(ctx.fmt(r["current"], "currency")),
                f'<span class="{css}">{arrow} {escape(ctx.fmt(r["change"], "currency"))}</span>',
                f'<span class="{css}">{escape(change)}</span>',
            )
        )
    partial = " (month to date)" if ctx.is_partial(period["period_end"]) else ""
    return (
        f"<p>Revenue {escape(_month_label(start) + partial)} vs "
        f"{escape(_month_label(previous))}: the {MOVERS_PER_DIMENSION} largest changes "
        "per dimension.</p>"
        + _table(
            [
                "dimension",
                "value",
                _month_label(previous),
                _month_label(start),
                "change",
                "change %",
            ],
            rows,
            numeric=(2, 3, 4, 5),
            css="movers",
        )
    )


def _segments_section(ctx: _Context) -> str:
    rows = ctx.wh.rows(
        "select lifecycle_status, value_tier, count(*) as n, sum(window_revenue) as revenue "
        "from kpi.customer_segments group by all"
    )
    if not rows:
        return _no_data("kpi.customer_segments is missing or empty")

    def ordered(values: set[str], canon: Sequence[str]) -> list[str]:
        return [v for v in canon if v in values] + sorted(values - set(canon))

    statuses = ordered({str(r["lifecycle_status"]) for r in rows}, LIFECYCLE_ORDER)
    tiers = ordered({str(r["value_tier"]) for r in rows}, TIER_ORDER)
    count = {(str(r["lifecycle_status"]), str(r["value_tier"])): int(r["n"]) for r in rows}
    revenue: dict[str, float] = {}
    for r in rows:
        key = str(r["lifecycle_status"])
        revenue[key] = revenue.get(key, 0.0) + (_num(r["revenue"]) or 0.0)
    body = []
    for status in statuses:
        cells = [count.get((status, t), 0) for t in tiers]
        body.append(
            [
                escape(status.replace("_", " ")),
                *(f"{c:,}" for c in cells),
                f"<b>{sum(cells):,}</b>",
                escape(ctx.fmt(revenue[status], "currency")),
            ]
        )
    totals = [sum(count.get((s, t), 0) for s in statuses) for t in tiers]
    body.append(
        [
            "<b>total</b>",
            *(f"<b>{c:,}</b>" for c in totals),
            f"<b>{sum(totals):,}</b>",
            f"<b>{escape(ctx.fmt(sum(revenue.values()), 'currency'))}</b>",
        ]
    )
    headers = ["lifecycle \\ value tier", *tiers, "total", "window revenue"]
    return "<p>Customers by lifecycle status (rows) and value tier (columns).</p>" + _table(
        headers, body, numeric=tuple(range(1, len(headers))), css="segments"
    )


def _pick_run(ctx: _Context, table: str, order_column: str | None = None) -> str | None:
    """The newest run (by meta.runs) that has rows in ``table``; without meta.runs the
    run of the newest ``order_column``, else the greatest run id."""
    latest = f"max({order_column})" if order_column else "null"
    frame = ctx.wh.query(
        f"select run_id, {latest} as ts from {table} "
        "group by run_id order by ts desc nulls last, run_id desc"
    )
    if frame is None or not frame.height:
        return None
    present = [str(r) for r in frame["run_id"].to_list()]
    for run_id in ctx.run_order:
        if run_id in present:
            return run_id
    return present[0]


def _files_table(ctx: _Context, run_id: str) -> str:
    rows = ctx.wh.rows(
        "select source, entity, file, rows_in, rows_loaded, rows_quarantined "
        "from meta.load_manifest where run_id = ? order by source, file",
        [run_id],
    )
    body = []
    for r in rows:
        rows_in, loaded, quarantined = (
            int(r[k] or 0) for k in ("rows_in", "rows_loaded", "rows_quarantined")
        )
        share = quarantined / rows_in if rows_in else 0.0
        balanced = rows_in == loaded + quarantined
        name = os.path.basename(str(r["file"]))
        body.append(
            (
                escape(r["source"]),
                escape(r["entity"]),
                f'<span title="{escape(r["file"])}">{escape(name)}</span>',
                f"{rows_in:,}",
                f"{loaded:,}",
                f'<span class="{"bad" if quarantined else ""}">{quarantined:,}</span>',
                escape(fmt_value(share, "ratio", currency=ctx.currency)),
                "✓" if balanced else '<span class="bad">✗ rows_in ≠ loaded + quarantined</span>',
            )
        )
    return _table(
        [
            "source",
            "entity",
            "file",
            "rows in",
            "loaded",
            "quarantined",
            "quarantined %",
            "balanced",
        ],
        body,
        numeric=(3, 4, 5, 6),
    )


def _quarantine_table(ctx: _Context, run_id: str) -> str:
    reasons = ctx.wh.rows(
        """
        select reason, count(*) as n, count(distinct file) as files,
               string_agg(distinct field, ', ' order by field) as fields
        from meta.quarantine where run_id = ?
        group by reason order by n desc, reason limit ?
        """,
        [run_id, QUARANTINE_REASONS],
    )
    if not reasons:
        return "<p>No quarantined rows in this run.</p>"
    examples = ctx.wh.rows(
        """
        select reason, file, "row_number" as row_no, field, raw
        from meta.quarantine where run_id = ?
        qualify row_number() over (partition by reason order by file, "row_number") <= ?
        """,
        [run_id, QUARANTINE_EXAMPLES],
    )
    body = []
    for r in reasons:
        shown = []
        for e in examples:
            if e["reason"] != r["reason"]:
                continue
            raw = str(e["raw"]) if e["raw"] is not None else ""
            if len(raw) > RAW_PREVIEW_CHARS:
                raw = raw[:RAW_PREVIEW_CHARS] + "…"
            shown.append(
                f'<div class="example"><span class="muted">'
                f"{escape(os.path.basename(str(e['file'])))} row {escape(e['row_no'])}"
                f" · {escape(e['field'])}</span><code>{escape(raw)}</code></div>"
            )
        body.append(
            (
                escape(r["reason"]),
                escape(r["fields"] or ""),
                f"{int(r['n']):,}",
                f"{int(r['files']):,}",
                "".join(shown),
            )
        )
    return _table(
        ["reason", "fields", "rows", "files", "examples"], body, numeric=(2, 3), css="quarantine"
    )


def _expectations_block(ctx: _Context) -> str:
    run_id = _pick_run(ctx, "meta.dq_results")
    if run_id is None:
        return _no_data("meta.dq_results is missing or empty")
    rows = ctx.wh.rows(
        "select source, expectation, success, unexpected_count from meta.dq_results "
        "where run_id = ? order by source, expectation",
        [run_id],
    )
    failed = [r for r in rows if not r["success"]]
    summary = (
        f"<p>Run {escape(run_id)}: {len(rows) - len(failed):,} of {len(rows):,} "
        "expectations passed.</p>"
    )
    if not failed:
        return summary
    body = [
        (
            escape(r["source"]),
            escape(r["expectation"]),
            "—" if r["unexpected_count"] is None else f"{int(r['unexpected_count']):,}",
        )
        for r in failed
    ]
    return summary + _table(
        ["source", "failed expectation", "unexpected rows"], body, numeric=(2,), css="failed"
    )


def _hygiene_block(ctx: _Context) -> str:
    run_id = _pick_run(ctx, "meta.hygiene")
    if run_id is None:
        return _no_data("meta.hygiene is missing or empty")
    rows = ctx.wh.rows(
        'select "check", "count", examples from meta.hygiene where run_id = ? '
        'order by "count" desc nulls last, "check"',
        [run_id],
    )
    body = []
    for r in rows:
        n = int(r["count"] or 0)
        examples = "" if r["examples"] is None else str(r["examples"])
        if len(examples) > RAW_PREVIEW_CHARS:
            examples = examples[:RAW_PREVIEW_CHARS] + "…"
        body.append(
            (
                escape(r["check"]),
                f'<span class="{"bad" if n else "good"}">{n:,}</span>',
                f"<code>{escape(examples)}</code>" if examples else "",
            )
        )
    return f"<p>Run {escape(run_id)}.</p>" + _table(
        ["check", "count", "examples"], body, numeric=(1,), css="hygiene"
    )


def _dq_section(ctx: _Context) -> str:
    parts = ["<h3>Files loaded</h3>"]
    run_id = _pick_run(ctx, "meta.load_manifest", "loaded_at")
    if run_id is None:
        parts.append(_no_data("meta.load_manifest is missing or empty"))
    else:
        latest = ctx.run_order[0] if ctx.run_order else run_id
        note = (
            ""
            if latest == run_id
            else f" (run {escape(latest)} loaded no new file; files are loaded once)"
        )
        parts.append(f"<p>Run {escape(run_id)}{note}.</p>" + _files_table(ctx, run_id))
    parts.append("<h3>Quarantine reasons</h3>")
    q_run = run_id or _pick_run(ctx, "meta.quarantine")
    if q_run is None or ctx.wh.query("select 1 from meta.quarantine limit 1") is None:
        parts.append(_no_data("meta.quarantine is missing"))
    else:
        parts.append(
            f"<p>Run {escape(q_run)}: the {QUARANTINE_REASONS} most frequent reasons, "
            f"with up to {QUARANTINE_EXAMPLES} example rows each.</p>"
            + _quarantine_table(ctx, q_run)
        )
    parts.append("<h3>Failed expectations</h3>" + _expectations_block(ctx))
    parts.append("<h3>Hygiene checks</h3>" + _hygiene_block(ctx))
    return "".join(parts)


def _version() -> str:
    try:
        return metadata.version("salesdw")
    except metadata.PackageNotFoundError:
        return "dev"


def _footer(ctx: _Context, generated_at: dt.datetime) -> str:
    run = ctx.run or {}
    return (
        "<footer>"
        f"<span>As of <b>{escape(ctx.as_of or '—')}</b></span>"
        f"<span>Run <b>{escape(run.get('run_id') or '—')}</b>"
        f"{' (' + escape(run['status']) + ')' if run.get('status') else ''}</span>"
        f"<span>Generated by salesdw {escape(_version())} (salesdw.report) at "
        f"{escape(generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</span>"
        "</footer>"
    )


# --------------------------------------------------------------------------- page

_CSS = """
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f9fafb;--good:#15803d;--bad:#b91c1c;
--accent:#4c78a8}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
"PingFang SC","Microsoft YaHei",sans-serif;color:var(--ink);background:var(--bg)}
header{background:#1f2937;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#d1d5db}
nav{padding:8px 32px;background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0}
nav a{color:var(--accent);margin-right:16px;text-decoration:none}
main{padding:8px 32px 32px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;
margin:16px 0}
h2{margin:0 0 8px;font-size:18px}
h3{margin:16px 0 8px;font-size:15px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.kpi-name{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.kpi-value{font-size:22px;font-weight:600;margin:2px 0}
.delta,.target{font-size:12px}
.good{color:var(--good)}.bad{color:var(--bad)}.flat,.muted{color:var(--muted)}
.progress{height:5px;background:var(--line);border-radius:3px;margin-top:4px;overflow:hidden}
.progress span{display:block;height:100%;background:var(--accent)}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:10px 12px;min-width:0}
figure h3{margin:0 0 6px}
figcaption{color:var(--muted);font-size:12px;margin-top:6px}
.scroll{overflow-x:auto}
svg.chart{max-width:100%;height:auto;font-size:11px}
svg .tick{fill:var(--muted);font-size:10px}
svg .legend,svg .label,svg .value,svg .axis-label{fill:var(--ink);font-size:11px}
svg .funnel-text{fill:#fff;font-size:11px;font-weight:600}
svg .cell-text{font-size:9px}
table{border-collapse:collapse;width:100%;margin:4px 0 8px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.example{margin-bottom:4px}.example code{display:block}
.no-data{color:var(--muted);font-style:italic}
footer{padding:16px 32px;color:var(--muted);display:flex;gap:24px;flex-wrap:wrap;
border-top:1px solid var(--line)}
@media print{nav{display:none}section{break-inside:avoid}}
.level-critical{color:#b42318;font-weight:600}.level-warning{color:#b54708;font-weight:600}
.level-info{color:#175cd3}
table.sortable th{cursor:pointer}
"""

# --------------------------------------------------------------------------- management

_LEVEL_ORDER = {"critical": 0, "warning": 1, "info": 2}
#: alerts listed in the report (the rest are counted; `salesdw alerts` lists them all)
ALERTS_SHOWN = 40


def _alerts_section(ctx: _Context) -> str:
    """kpi.alerts of the latest as-of date, the most severe first."""
    rows = ctx.wh.rows(
        "select rule, level, subject_type, subject_id, message from kpi.alerts "
        "where as_of = (select max(as_of) from kpi.alerts)"
    )
    if not rows:
        return _no_data("no alerts in kpi.alerts")
    rows.sort(key=lambda r: (_LEVEL_ORDER.get(str(r["level"]), 3), str(r["rule"]),
                             str(r["subject_id"])))
    counts = " · ".join(
        f'<span class="level-{escape(level)}">{sum(1 for r in rows if r["level"] == level)} '
        f"{escape(level)}</span>"
        for level in _LEVEL_ORDER
    )
    table = _table(
        ["level", "rule", "subject", "message"],
        [
            [
                f'<span class="level-{escape(r["level"])}">{escape(r["level"])}</span>',
                escape(r["rule"]),
                f"{escape(r['subject_type'])} {escape(r['subject_id'])}",
                escape(r["message"]),
            ]
            for r in rows[:ALERTS_SHOWN]
        ],
    )
    more = (
        f'<p class="muted">{len(rows) - ALERTS_SHOWN} more: salesdw alerts</p>'
        if len(rows) > ALERTS_SHOWN
        else ""
    )
    return f"<p>{counts}</p>{table}{more}"


_SCORECARD_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("revenue", "Revenue", "currency"),
    ("revenue_target", "Target", "currency"),
    ("revenue_achievement", "Achievement", "ratio"),
    ("bookings", "Bookings", "currency"),
    ("deals_won", "Won", "count"),
    ("win_rate", "Win rate", "ratio"),
    ("new_customers", "New cust.", "count"),
    ("median_sales_cycle_days", "Cycle (days)", "days"),
    ("open_pipeline", "Open pipeline", "currency"),
)


def _scorecard_section(ctx: _Context) -> str:
    """kpi.rep_scorecard of the latest quarter: a table sorted by a clicked column."""
    frame = ctx.wh.query(
        "select * from kpi.rep_scorecard where grain = 'quarter' and period_start = "
        "(select max(period_start) from kpi.rep_scorecard where grain = 'quarter') "
        "order by rank_company_revenue nulls last, rep_id"
    )
    if frame is None or not frame.height:
        return _no_data("kpi.rep_scorecard is missing or empty")
    first = frame.row(0, named=True)
    start = _as_date(first["period_start"])
    label = _quarter_label(start) if start else ""
    if first.get("is_partial"):
        label += " (to date)"

    def cell(row: dict[str, Any], column: str, unit: str) -> str:
        value = _num(row[column])
        rank = row.get(f"rank_company_{column}")
        team_rank = row.get(f"rank_team_{column}")
        ranks = (
            f' <span class="muted">#{rank}/{team_rank}</span>' if rank is not None else ""
        )
        sort = "" if value is None else f"{value:.6g}"
        return f'<span data-sort="{sort}">{escape(ctx.fmt(value, unit))}</span>{ranks}'

    headers = ["Rep", "Team", *(name for _, name, _ in _SCORECARD_COLUMNS)]
    body = [
        [
            escape(row["rep_name"] or row["rep_id"]),
            escape(row["team"]),
            *(cell(row, column, unit) for column, _, unit in _SCORECARD_COLUMNS),
        ]
        for row in frame.iter_rows(named=True)
    ]
    table = _table(headers, body, numeric=range(2, len(headers)), css="sortable")
    return (
        f"<h3>{escape(label)}</h3>"
        '<p class="muted">#company rank/team rank (1 = best; ties share the lower rank). '
        "Click a column to sort.</p>"
        f'<div class="scroll">{table}</div>'
    )


def _kpi_by(ctx: _Context, kpis: Sequence[str], grain: str, dimension: str,
            start: dt.date | None) -> dict[str, dict[str, float | None]]:
    """value per kpi and dimension value, for one period (grain ``all``: its one)."""
    frame = ctx.wh.query(
        "select kpi, dimension_value, value from kpi.kpi_values "
        "where list_contains(?, kpi) and grain = ? and dimension = ? "
        "and (? is null or period_start = ?)",
        [list(kpis), grain, dimension, start, start],
    )
    out: dict[str, dict[str, float | None]] = {}
    for row in [] if frame is None else frame.iter_rows(named=True):
        out.setdefault(str(row["dimension_value"]), {})[str(row["kpi"])] = _num(row["value"])
    return out


def _management_section(ctx: _Context) -> str:
    """Margin by category, channel share and ROAS, stage durations (the KPI layer's
    values), and the quarter's forecast against its target (kpi.forecast)."""
    period = ctx.latest_period("quarter")
    start: dt.date | None = period["period_start"] if period else None
    label = _quarter_label(start) if start else "—"
    if period and ctx.is_partial(period["period_end"]):
        label += " (to date)"
    parts = []
    margin = _kpi_by(ctx, ["gross_margin", "cost_coverage", "revenue"], "quarter",
                     "product_category", start)
    parts.append(_figure(
        "table-margin", f"Margin by category, {label}",
        _table(
            ["Category", "Revenue", "Gross margin", "Cost coverage"],
            [[escape(name), escape(ctx.fmt(v.get("revenue"), "currency")),
              escape(ctx.fmt(v.get("gross_margin"), "ratio")),
              escape(ctx.fmt(v.get("cost_coverage"), "ratio"))]
             for name, v in sorted(margin.items(), key=lambda kv: -(kv[1].get("revenue") or 0))],
            numeric=(1, 2, 3),
        ) if margin else _no_data("no gross_margin by product_category"),
        "gross_margin over the lines with a known cost; cost_coverage = their share of revenue.",
    ))
    channels = _kpi_by(ctx, ["channel_revenue_share", "roas", "revenue"], "quarter", "channel",
                       start)
    parts.append(_figure(
        "table-channels", f"Channel share and ROAS, {label}",
        _table(
            ["Channel", "Revenue", "Share", "ROAS"],
            [[escape(name), escape(ctx.fmt(v.get("revenue"), "currency")),
              escape(ctx.fmt(v.get("channel_revenue_share"), "ratio")),
              escape("—" if v.get("roas") is None else f"{v['roas']:.2f}×")]
             for name, v in sorted(channels.items(),
                                   key=lambda kv: -(kv[1].get("revenue") or 0))],
            numeric=(1, 2, 3),
        ) if channels else _no_data("no channel_revenue_share"),
        "ROAS = revenue of the channel / its marketing spend in the quarter.",
    ))
    stages = _kpi_by(ctx, ["stage_duration_days", "stage_duration_days_p90"], "all", "stage",
                     None)
    order = ["lead", "qualification", "needs_analysis", "proposal", "negotiation"]
    parts.append(_figure(
        "table-stages", "Days in stage (every exit to date)",
        _table(
            ["Stage", "Median days", "p90 days"],
            [[escape(name), escape(ctx.fmt(stages[name].get("stage_duration_days"), "days")),
              escape(ctx.fmt(stages[name].get("stage_duration_days_p90"), "days"))]
             for name in order if name in stages],
            numeric=(1, 2),
        ) if stages else _no_data("no stage_duration_days"),
        "Deals longer in their stage than its p90 are in kpi.stuck_opportunities.",
    ))
    parts.append(_forecast_figure(ctx))
    return "".join(parts)


def _forecast_figure(ctx: _Context) -> str:
    """How the forecast of the open quarter moved night by night against its target."""
    frame = ctx.wh.query(
        "select as_of, value, target, period_start from kpi.forecast "
        "where kpi = 'revenue_forecast' and grain = 'quarter' and period_start = "
        "(select max(period_start) from kpi.forecast where kpi = 'revenue_forecast' "
        "and grain = 'quarter' and period_start <= as_of and as_of = "
        "(select max(as_of) from kpi.forecast)) order by as_of"
    )
    if frame is None or not frame.height:
        return _figure("chart-forecast", "Revenue forecast vs target",
                       _no_data("kpi.forecast is missing or empty"))
    rows = list(frame.iter_rows(named=True))
    start = _as_date(rows[0]["period_start"])
    labels = [str(_as_date(r["as_of"])) for r in rows]
    values = [_num(r["value"]) for r in rows]
    target = [_num(r["target"]) for r in rows]
    chart = charts.bar_chart(
        labels, values,
        fmt=lambda v: ctx.fmt(v, "currency"),
        title=f"Revenue forecast of {_quarter_label(start) if start else ''} by night",
        series_label="forecast",
        line=target if any(t is not None for t in target) else None,
        line_label="target",
    )
    latest = rows[-1]
    caption = (
        f"Latest ({escape(labels[-1])}): {escape(ctx.fmt(_num(latest['value']), 'currency'))}"
        f" against a target of {escape(ctx.fmt(_num(latest['target']), 'currency'))}."
    )
    return _figure("chart-forecast", "Revenue forecast vs target through the quarter", chart,
                   caption)


#: sorts a table.sortable by the clicked column (numbers by their data-sort value)
_SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, column) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var down = th.dataset.dir !== 'desc';
    th.dataset.dir = down ? 'desc' : 'asc';
    var key = function (row) {
      var cell = row.cells[column];
      var marked = cell.querySelector('[data-sort]');
      var text = marked ? marked.dataset.sort : cell.textContent;
      var number = parseFloat(text);
      return isNaN(number) ? text.toLowerCase() : number;
    };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === y) { return 0; }
      if (x === '') { return 1; }
      if (y === '') { return -1; }
      return (x < y ? -1 : 1) * (down ? -1 : 1);
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""


_SECTIONS = (
    ("alerts", "Alerts"),
    ("headline", "Headline KPIs"),
    ("scorecard", "Rep scorecard"),
    ("management", "Margin, channels, stages, forecast"),
    ("charts", "Charts"),
    ("movers", "Top movers"),
    ("segments", "Customer segments"),
    ("collections", "Collections"),
    ("activity", "Activity"),
    ("data-quality", "Data quality"),
)


def build_html(ctx: _Context, title: str, generated_at: dt.datetime) -> str:
    """The whole page as a string."""
    bodies = {
        "alerts": _alerts_section(ctx),
        "headline": _headline_section(ctx),
        "scorecard": _scorecard_section(ctx),
        "management": _management_section(ctx),
        "charts": _charts_section(ctx),
        "movers": _movers_section(ctx),
        "segments": _segments_section(ctx),
        "collections": _collections_section(ctx),
        "activity": _activity_section(ctx),
        "data-quality": _dq_section(ctx),
    }
    nav = "".join(f'<a href="#{key}">{escape(name)}</a>' for key, name in _SECTIONS)
    sections = "".join(
        f'<section id="{key}"><h2>{escape(name)}</h2>{bodies[key]}</section>'
        for key, name in _SECTIONS
    )
    run_id = (ctx.run or {}).get("run_id")
    subtitle = f"As of {ctx.as_of or '—'}" + (f" · run {run_id}" if run_id else "")
    subtitle += f" · amounts in {ctx.currency}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{sections}</main>{_footer(ctx, generated_at)}"
        f"<script>{_SORT_SCRIPT}</script></body></html>\n"
    )


def render_report(
    con: duckdb.DuckDBPyConnection,
    out_path: Path,
    *,
    title: str = "Sales KPI report",
    currency: str = "USD",
) -> Path:
    """Write the KPI report for the warehouse behind ``con`` to ``out_path``.

    Reads (never writes) ``kpi.kpi_values``, ``kpi.alerts``, ``kpi.rep_scorecard``,
    ``kpi.forecast``, ``kpi.cohort_retention``, ``kpi.customer_clv``,
    ``kpi.customer_segments``, ``kpi.receivables_ageing``, ``kpi.stale_opportunities``,
    ``marts.dim_customer``, ``marts.fct_targets``,
    ``marts.fct_opportunities``, ``meta.runs``, ``meta.load_manifest``,
    ``meta.quarantine``, ``meta.dq_results`` and ``meta.hygiene``; any of them may be
    missing or empty. ``currency`` is the reporting currency shown with amounts. The
    file is written next to its final place and renamed over it, so a reader never
    sees half a report. Returns ``out_path``.
    """
    out_path = Path(out_path)
    ctx = _context(con, currency)
    page = build_html(ctx, title, dt.datetime.now(dt.UTC))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


# --------------------------------------------------------------------------- collections

COLLECTION_CHART_MONTHS = 24
AGEING_REPS = 10
TOP_OVERDUE_CUSTOMERS = 10
# (kpi.receivables_ageing column, label), from not yet due to long overdue
AGEING_BUCKETS = (
    ("current", "not yet due"),
    ("1_30", "1–30 days"),
    ("31_60", "31–60 days"),
    ("61_90", "61–90 days"),
    ("over_90", "over 90 days"),
)
# (kpi id, label) of the latest-month tables of the Collections and Activity sections
COLLECTION_KPIS = (
    ("collection_rate", "Collection rate"),
    ("on_time_collection_rate", "On-time collection rate"),
    ("overdue_receivables", "Overdue receivables"),
    ("dso", "DSO"),
)
ACTIVITY_KPIS = (
    ("activities", "Activities"),
    ("visits_per_rep", "Visits per rep"),
    ("follow_up_rate", "Follow-up rate"),
    ("lead_response_hours", "Lead response (median)"),
    ("lead_untouched_rate", "Leads not touched"),
)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _latest_month_table(ctx: _Context, kpis: Sequence[tuple[str, str]]) -> str:
    """Per KPI: its latest month with a value (dimension all), the value, the month before."""
    rows = []
    for kpi, label in kpis:
        months = ctx.kpi_rows(kpi, "month").filter(pl.col("value").is_not_null())
        if not months.height:
            continue
        latest = months.sort("period_start").row(-1, named=True)
        before = ctx.point(kpi, "month", _add_months(latest["period_start"], -1))
        partial = " (to date)" if ctx.is_partial(latest["period_end"]) else ""
        rows.append(
            (
                escape(label),
                escape(_month_label(latest["period_start"]) + partial),
                escape(ctx.fmt(_num(latest["value"]), latest["unit"], kpi)),
                escape(ctx.fmt(_num(before["value"]) if before else None, latest["unit"], kpi)),
            )
        )
    if not rows:
        return _no_data(f"no monthly values of {', '.join(k for k, _ in kpis)}")
    return _table(["KPI", "month", "value", "month before"], rows, numeric=(2, 3), css="kpis")


def _collection_chart(ctx: _Context) -> str:
    title = "Collection rate by month"
    rows = (
        ctx.kpi_rows("collection_rate", "month")
        .sort("period_start")
        .tail(COLLECTION_CHART_MONTHS)
    )
    if not rows.height:
        return _figure("chart-collections", title, _no_data("no monthly collection_rate values"))
    starts = rows["period_start"].to_list()
    on_time = [
        _num(p["value"]) if (p := ctx.point("on_time_collection_rate", "month", s)) else None
        for s in starts
    ]
    svg = charts.bar_chart(
        [_month_label(s) for s in starts],
        [_num(v) for v in rows["value"].to_list()],
        fmt=_pct,
        title=title,
        series_label="Collected by the as-of date",
        line=on_time if any(v is not None for v in on_time) else None,
        line_label="Collected by the due date",
    )
    return _figure(
        "chart-collections",
        title,
        svg,
        f"Of the invoices due in each month (last {len(starts)} months): the share of the "
        "amount due paid by the as-of date (bars, kpi collection_rate) and by each "
        "invoice's due date (line, kpi on_time_collection_rate).",
    )


def _ageing_chart(ctx: _Context) -> str:
    title = "Receivables ageing by rep"
    buckets = ", ".join(f'sum("{c}") as "{c}"' for c, _ in AGEING_BUCKETS)
    frame = ctx.wh.query(
        f"select coalesce(rep_id, '(no rep)') as rep, {buckets}, "
        "sum(overdue_amount) as overdue, sum(open_amount) as open, max(as_of) as as_of "
        "from kpi.receivables_ageing group by all "
        "order by overdue desc, open desc, rep"
    )
    if frame is None or not frame.height:
        return _figure("chart-ageing", title, _no_data("kpi.receivables_ageing is missing or empty"))
    shown = frame.head(AGEING_REPS)
    segments = [
        (label, colour, [float(v or 0.0) for v in shown[column].to_list()])
        for (column, label), colour in zip(AGEING_BUCKETS, charts.AGEING_COLOURS, strict=True)
    ]
    svg = charts.stacked_hbar_chart(
        [str(r) for r in shown["rep"].to_list()], segments, fmt=fmt_compact, title=title
    )
    as_of = _as_date(frame["as_of"].max())
    total = ctx.fmt(_num(frame["open"].sum()), "currency")
    overdue = ctx.fmt(_num(frame["overdue"].sum()), "currency")
    return _figure(
        "chart-ageing",
        title,
        svg,
        escape(
            f"Open receivables as of {as_of} by days past due (kpi.receivables_ageing): "
            f"{len(shown)} of {frame.height} reps, most overdue first. All reps: "
            f"{total} open, {overdue} overdue."
        ),
    )


def _overdue_customers(ctx: _Context) -> str:
    buckets = ", ".join(f'ageing."{c}"' for c, _ in AGEING_BUCKETS[1:])
    query = (
        "select ageing.customer_id, {name} as name, ageing.rep_id, "
        f"{buckets}, ageing.overdue_amount, ageing.unapplied_credit "
        "from kpi.receivables_ageing as ageing {join} "
        "where ageing.overdue_amount > 0 "
        "order by ageing.overdue_amount desc, ageing.customer_id, ageing.rep_id limit ?"
    )
    join = (
        "left join marts.dim_customer as customers "
        "on customers.customer_id = ageing.customer_id and customers.is_current"
    )
    rows = ctx.wh.rows(
        query.format(name="customers.name", join=join), [TOP_OVERDUE_CUSTOMERS]
    ) or ctx.wh.rows(query.format(name="null", join=""), [TOP_OVERDUE_CUSTOMERS])
    if not rows:
        return _no_data("no overdue receivables in kpi.receivables_ageing")
    body = [
        (
            escape(r["name"] or r["customer_id"]),
            escape(r["rep_id"] or "—"),
            *(_amount_cell(ctx, r[c]) for c, _ in AGEING_BUCKETS[1:]),
            f"<b>{escape(ctx.fmt(_num(r['overdue_amount']), 'currency'))}</b>",
            _amount_cell(ctx, r["unapplied_credit"]),
        )
        for r in rows
    ]
    headers = ["customer", "rep", *(label for _, label in AGEING_BUCKETS[1:]), "overdue",
               "credit"]
    return (
        f"<h3>Top {len(rows)} overdue customers</h3>"
        + _table(headers, body, numeric=tuple(range(2, len(headers))), css="overdue")
    )


def _amount_cell(ctx: _Context, value: Any) -> str:
    """An amount of a table cell; an exact zero as ``0`` to keep the rows readable."""
    number = _num(value)
    return "0" if number == 0 else escape(ctx.fmt(number, "currency"))


def _collections_section(ctx: _Context) -> str:
    return (
        _latest_month_table(ctx, COLLECTION_KPIS)
        + '<div class="figures">'
        + _collection_chart(ctx)
        + _ageing_chart(ctx)
        + "</div>"
        + _overdue_customers(ctx)
    )


# --------------------------------------------------------------------------- activity

FOLLOW_UP_CHART_MONTHS = 24
ACTIVITY_REPS = 15
STALE_DEALS_SHOWN = 15


def _activity_rows(ctx: _Context, dimension: str) -> tuple[pl.DataFrame, dt.date | None]:
    """kpi ``activities`` by ``dimension`` for the latest month with such rows."""
    frame = ctx.wh.query(
        "select dimension_value, value, period_start, period_end from kpi.kpi_values "
        "where kpi = 'activities' and grain = 'month' and dimension = ? "
        "and value is not null and period_start = ("
        "  select max(period_start) from kpi.kpi_values "
        "  where kpi = 'activities' and grain = 'month' and dimension = ?) "
        "order by value desc, dimension_value",
        [dimension, dimension],
    )
    if frame is None or not frame.height:
        return pl.DataFrame(), None
    return frame, _as_date(frame["period_start"][0])


def _activity_chart(ctx: _Context, dimension: str, title: str, limit: int | None) -> str:
    fig_id = f"chart-activities-{dimension}"
    frame, month = _activity_rows(ctx, dimension)
    if month is None:
        return _figure(fig_id, title, _no_data(f"no monthly activities by {dimension}"))
    shown = frame.head(limit) if limit else frame
    svg = charts.hbar_chart(
        [str(v) for v in shown["dimension_value"].to_list()],
        [float(v) for v in shown["value"].to_list()],
        fmt=lambda v: f"{v:,.0f}",
        title=title,
    )
    partial = " (to date)" if ctx.is_partial(_as_date(frame["period_end"][0])) else ""
    more = f"; the {len(shown)} most active of {frame.height}" if shown.height < frame.height else ""
    return _figure(
        fig_id,
        title,
        svg,
        escape(f"Month {_month_label(month)}{partial} (kpi activities by {dimension}){more}."),
    )


def _follow_up_chart(ctx: _Context) -> str:
    title = "Follow-up rate by month"
    rows = ctx.kpi_rows("follow_up_rate", "month").sort("period_start").tail(
        FOLLOW_UP_CHART_MONTHS
    )
    if not rows.height:
        return _figure("chart-follow-up", title, _no_data("no monthly follow_up_rate values"))
    starts = rows["period_start"].to_list()
    svg = charts.bar_chart(
        [_month_label(s) for s in starts],
        [_num(v) for v in rows["value"].to_list()],
        fmt=_pct,
        title=title,
        series_label="Buyers followed up",
    )
    return _figure(
        "chart-follow-up",
        title,
        svg,
        f"Customers with a purchase in the month who had an activity within the follow-up "
        f"window after it, of all buyers of the month (kpi follow_up_rate, last "
        f"{len(starts)} months). The latest month's late purchases may still be followed up.",
    )


def _stale_deals(ctx: _Context) -> str:
    frame = ctx.wh.query(
        "select opportunity_id, owner_rep_id, team, stage, amount, last_activity_date, "
        "days_without_activity, as_of from kpi.stale_opportunities "
        "order by amount desc nulls last, opportunity_id"
    )
    if frame is None or not frame.height:
        return "<h3>Stale deals</h3>" + _no_data("kpi.stale_opportunities is missing or empty")
    shown = frame.head(STALE_DEALS_SHOWN)
    body = [
        (
            escape(r["opportunity_id"]),
            escape(r["owner_rep_id"] or "—"),
            escape(r["team"] or "—"),
            escape(str(r["stage"]).replace("_", " ")),
            escape(ctx.fmt(_num(r["amount"]), "currency")),
            escape(r["last_activity_date"] or "never"),
            escape("—" if r["days_without_activity"] is None else f"{r['days_without_activity']:,}"),
        )
        for r in shown.iter_rows(named=True)
    ]
    as_of = _as_date(frame["as_of"].max())
    return (
        f"<h3>Stale deals</h3><p>{frame.height:,} open deals without an activity in the "
        f"stale window as of {escape(as_of)} (kpi.stale_opportunities); the "
        f"{len(body)} largest:</p>"
        + _table(
            ["deal", "owner", "team", "stage", "amount", "last activity", "days"],
            body,
            numeric=(4, 6),
            css="stale",
        )
    )


def _activity_section(ctx: _Context) -> str:
    return (
        _latest_month_table(ctx, ACTIVITY_KPIS)
        + '<div class="figures">'
        + _activity_chart(ctx, "type", "Activities by type", None)
        + _activity_chart(ctx, "rep", "Activities by rep", ACTIVITY_REPS)
        + _follow_up_chart(ctx)
        + "</div>"
        + _stale_deals(ctx)
    )
