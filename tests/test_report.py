"""The HTML KPI report (salesdw.report): content, escaping, self-containment, no-data.

The warehouse is built by hand in a temporary DuckDB file: four months of KPI values
(January to April 2024, as of 2024-04-30) and a few rows in every other table the
report reads. Expected strings are worked out from those rows in the comments.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import duckdb
import pytest

from salesdw.report import render_report
from salesdw.report.html import fmt_delta, fmt_value

EVIL_REP = "<script>alert('x')</script>"
MONTHS = [dt.date(2024, m, 1) for m in (1, 2, 3, 4)]
REVENUE = [1_000_000.0, 1_100_000.0, 1_050_000.0, 1_234_567.4]
TARGETS = [1_000_000.0, 1_000_000.0, 1_100_000.0, 1_200_000.0]
# Cohort (month, months_since) rows: Jan 0..3, Feb 0..2, Mar 0..1, Apr 0 = 10 rows.
COHORT_ROWS = [(c, k) for i, c in enumerate(MONTHS) for k in range(4 - i)]
AS_OF = dt.date(2024, 4, 30)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _kpi_rows() -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []

    def add(kpi: str, grain: str, start: dt.date, end: dt.date, value: float | None,
            unit: str, dimension: str = "all", dim_value: str = "all",
            numerator: float | None = None, denominator: float | None = None) -> None:
        rows.append((kpi, grain, start, end, dimension, dim_value, value, numerator,
                     denominator, unit, AS_OF))

    for i, month in enumerate(MONTHS):
        end = _next_month(month)
        add("revenue", "month", month, end, REVENUE[i], "currency")
        add("target_achievement_rate", "month", month, end, REVENUE[i] / TARGETS[i], "ratio",
            numerator=REVENUE[i], denominator=TARGETS[i])
        add("win_rate", "month", month, end, [0.2, 0.25, 0.3, 0.25][i], "ratio")
        add("lead_conversion_rate", "month", month, end, 0.1, "ratio")
        add("sales_cycle_days", "month", month, end, [40.0, 38.0, 36.0, 42.25][i], "days")
        add("new_customers", "month", month, end, [10, 12, 9, 15][i], "count")
        add("active_customers", "month", month, end, [100, 108, 112, 120][i], "count")
        add("logo_churn_rate", "month", month, end, [0.02, 0.02, 0.01, 0.03][i], "ratio")
        add("cac", "month", month, end, [500.0, 480.0, 510.0, 450.0][i], "currency")
        add("ltv", "month", month, end, [2000.0, 2100.0, 2050.0, 2200.0][i], "currency")
        add("ltv_cac_ratio", "month", month, end, [4.0, 4.375, 4.02, 4.89][i], "ratio")
        add("net_revenue_retention", "month", month, end, [1.01, 0.98, 1.02, 1.05][i], "ratio")
        # By channel: April has values for web and partner, referral is null.
        for channel, ratio in (("web", 5.5), ("partner", 2.5), ("referral", None)):
            add("ltv_cac_ratio", "month", month, end, ratio if i == 3 else 3.0, "ratio",
                "channel", channel)
    # Revenue by rep: March -> April, changes +300k (evil rep), -100k (张三), 0 (Bob).
    for rep, march, april in ((EVIL_REP, 100_000.0, 400_000.0), ("张三", 500_000.0, 400_000.0),
                              ("Bob", 200_000.0, 200_000.0)):
        add("revenue", "month", MONTHS[2], MONTHS[3], march, "currency", "rep", rep)
        add("revenue", "month", MONTHS[3], _next_month(MONTHS[3]), april, "currency", "rep", rep)
    add("revenue", "month", MONTHS[3], _next_month(MONTHS[3]), 50_000.0, "currency",
        "region", "华东")
    # Quarters: Q1 = sum of Jan..Mar, Q2 = April so far.
    add("revenue", "quarter", dt.date(2024, 1, 1), dt.date(2024, 4, 1), sum(REVENUE[:3]),
        "currency")
    add("revenue", "quarter", dt.date(2024, 4, 1), dt.date(2024, 7, 1), REVENUE[3], "currency")
    add("win_rate", "quarter", dt.date(2024, 1, 1), dt.date(2024, 4, 1), 0.25, "ratio")
    add("win_rate", "quarter", dt.date(2024, 4, 1), dt.date(2024, 7, 1), 0.25, "ratio")
    # April's new-customer target (fct_targets n4): 15 of 20
    add("target_achievement_rate.new_customers", "month", MONTHS[3], _next_month(MONTHS[3]),
        0.75, "ratio", numerator=15.0, denominator=20.0)
    # Sales cycle over the deals won up to the as-of date (fct_opportunities o1..o4: 10,
    # 20, 20, 35 days): median 20, mean 21.25, p90 20 + 0.7 × 15 = 30.5 (linear)
    for kpi, days in (("sales_cycle_days", 20.0), ("sales_cycle_days_mean", 21.25),
                      ("sales_cycle_days_p90", 30.5)):
        add(kpi, "all", dt.date(2024, 1, 1), _next_month(MONTHS[3]), days, "days")
    # Funnel, grain all: 100 -> 60 -> 45 -> 30 -> 20 -> 12 won.
    reached = [100.0, 60.0, 45.0, 30.0, 20.0, 12.0]
    stages = ["lead", "qualification", "needs_analysis", "proposal", "negotiation"]
    for k, stage in enumerate(stages):
        add("stage_conversion_rate", "all", MONTHS[0], _next_month(MONTHS[3]),
            reached[k + 1] / reached[k], "ratio", "stage", stage, reached[k + 1], reached[k])
    return rows


def _build_warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    for schema in ("kpi", "marts", "meta"):
        con.execute(f"create schema {schema}")
    con.execute(
        "create table kpi.kpi_values (kpi varchar, grain varchar, period_start date, "
        "period_end date, dimension varchar, dimension_value varchar, value double, "
        "numerator double, denominator double, unit varchar, as_of date)"
    )
    con.executemany("insert into kpi.kpi_values values (?,?,?,?,?,?,?,?,?,?,?)", _kpi_rows())
    con.execute(
        "create table kpi.cohort_retention (cohort_month date, months_since integer, "
        "customers bigint, cohort_size bigint, retention_rate double, revenue double, "
        "as_of date)"
    )
    con.executemany(
        "insert into kpi.cohort_retention values (?,?,?,?,?,?,?)",
        [(c, k, 10 - 2 * k, 10, (10 - 2 * k) / 10, 1000.0, AS_OF) for c, k in COHORT_ROWS],
    )
    con.execute(
        "create table kpi.customer_clv as select 'c' || i as customer_id, 2.0 as frequency, "
        "10.0 as recency, 30.0 as t, 50.0 as monetary_value, 0.8 as p_alive, "
        "1.5 as expected_purchases, 55.0 as expected_avg_value, i * 10.0 as clv "
        "from range(1, 41) r(i)"
    )
    con.execute(
        "create table kpi.customer_segments (customer_id varchar, lifecycle_status varchar, "
        "value_tier varchar, window_revenue double, purchases bigint, "
        "last_purchase_date date, as_of date)"
    )
    segments = ([("active", "vip")] * 3 + [("active", "general")] * 4 + [("new", "key")] * 2
                + [("churned", "none")] * 5 + [("prospect", "potential")])
    con.executemany(
        "insert into kpi.customer_segments values (?,?,?,?,?,?,?)",
        [(f"c{i}", s, t, 100.0, 1, AS_OF, AS_OF) for i, (s, t) in enumerate(segments)],
    )
    con.execute(
        "create table marts.fct_targets (target_key varchar, period_start date, "
        "period_end date, grain varchar, metric varchar, level varchar, level_value varchar, "
        "target_value double)"
    )
    con.executemany(
        "insert into marts.fct_targets values (?,?,?,?,?,?,?,?)",
        [(f"t{i}", m, _next_month(m), "month", "revenue", "company", "all", t)
         for i, (m, t) in enumerate(zip(MONTHS, TARGETS, strict=True))]
        + [("n4", MONTHS[3], _next_month(MONTHS[3]), "month", "new_customers", "company",
            "all", 20.0)],
    )
    # Won opportunities: cycles of 10, 20, 20, 35 days; one lost and one open.
    con.execute(
        "create table marts.fct_opportunities (opportunity_id varchar, stage varchar, "
        "max_stage_order_reached integer, is_won boolean, is_lost boolean, "
        "created_at timestamp, close_date date, amount double)"
    )
    con.executemany(
        "insert into marts.fct_opportunities values (?,?,?,?,?,?,?,?)",
        [
            ("o1", "won", 5, True, False, dt.datetime(2024, 1, 1, 9), dt.date(2024, 1, 11), 1e4),
            ("o2", "won", 5, True, False, dt.datetime(2024, 1, 1), dt.date(2024, 1, 21), 2e4),
            ("o3", "won", 5, True, False, dt.datetime(2024, 2, 1), dt.date(2024, 2, 21), 3e4),
            ("o4", "won", 5, True, False, dt.datetime(2024, 2, 1), dt.date(2024, 3, 7), 4e4),
            ("o5", "lost", 3, False, True, dt.datetime(2024, 2, 1), dt.date(2024, 3, 1), 5e4),
            ("o6", "proposal", 4, False, False, dt.datetime(2024, 3, 1), None, 6e4),
            # won after the as-of date (2024-04-30): not in the chart
            ("o7", "won", 5, True, False, dt.datetime(2024, 4, 1), dt.date(2024, 5, 10), 7e4),
        ],
    )
    con.execute(
        "create table meta.runs (run_id varchar, started_at timestamp, finished_at timestamp, "
        "status varchar, as_of date)"
    )
    con.execute(
        "insert into meta.runs values "
        "('run-0001', '2024-04-30 02:00', '2024-04-30 02:10', 'success', '2024-04-29'), "
        "('run-0002', '2024-05-01 02:00', '2024-05-01 02:12', 'success', '2024-04-30')"
    )
    con.execute(
        "create table meta.load_manifest (run_id varchar, source varchar, entity varchar, "
        "file varchar, sha256 varchar, rows_in bigint, rows_loaded bigint, "
        "rows_quarantined bigint, loaded_at timestamp)"
    )
    con.execute(
        "insert into meta.load_manifest values "
        "('run-0001', 'old', 'orders', 'landing/old.csv', 'aa', 5, 5, 0, '2024-04-30 02:01'), "
        "('run-0002', 'shop_orders', 'orders', 'landing/shop/orders_2024.csv', 'bb', "
        "12345, 12300, 45, '2024-05-01 02:01'), "
        "('run-0002', 'crm_deals', 'opportunities', 'landing/crm/deals.csv', 'cc', 6, 6, 0, "
        "'2024-05-01 02:02')"
    )
    con.execute(
        "create table meta.quarantine (run_id varchar, source varchar, file varchar, "
        "row_number bigint, field varchar, reason varchar, raw varchar)"
    )
    quarantine = [
        ("run-0002", "shop_orders", "landing/shop/orders_2024.csv", 10 + i, "order_date",
         "unparseable date",
         (f'{{"date": "2024-13-{i:02d}", "cust": "=HYPERLINK(\\"http://'
          f'evil.example\\",\\"点我\\")"}}'))
        for i in range(30)
    ] + [
        ("run-0002", "shop_orders", "landing/shop/orders_2024.csv", 100 + i, "amount",
         "amount is not a number", '{"sales": "abc"}')
        for i in range(15)
    ] + [("run-0001", "old", "landing/old.csv", 1, "x", "old reason from run 1", "{}")]
    con.executemany("insert into meta.quarantine values (?,?,?,?,?,?,?)", quarantine)
    con.execute(
        "create table meta.dq_results (run_id varchar, source varchar, expectation varchar, "
        "success boolean, unexpected_count bigint)"
    )
    con.execute(
        "insert into meta.dq_results values "
        "('run-0002', 'shop_orders', 'expect_column_values_to_not_be_null(order_id)', true, 0), "
        "('run-0002', 'shop_orders', 'expect_column_values_to_be_between(amount)', false, 7), "
        "('run-0002', 'crm_deals', 'expect_column_values_to_be_unique(opportunity_id)', true, 0)"
    )
    con.execute(
        'create table meta.hygiene (run_id varchar, "check" varchar, "count" bigint, '
        "examples varchar)"
    )
    con.execute(
        "insert into meta.hygiene values "
        "('run-0002', 'orders_without_customer', 3, '[\"o17\", \"o18\", \"o19\"]'), "
        "('run-0002', 'duplicate_customer_names', 0, null)"
    )
    con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wh") / "sales.duckdb"
    _build_warehouse(path)
    return path


@pytest.fixture(scope="module")
def report(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "reports" / "kpi_report.html"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert render_report(con, out, title="Sales KPI report — 测试") == out
    finally:
        con.close()
    return out


@pytest.fixture(scope="module")
def page(report: Path) -> str:
    return report.read_text(encoding="utf-8")


def _element(page: str, element_id: str, tag: str) -> str:
    """The HTML of the element with ``id`` up to its closing tag (no nesting of ``tag``)."""
    start = page.index(f'id="{element_id}"')
    return page[start:page.index(f"</{tag}>", start)]


def _card(section: str, kpi: str) -> str:
    start = section.index(f'data-kpi="{kpi}"')
    end = section.find('<div class="card"', start)
    return section[start:end if end != -1 else len(section)]


def test_formats_numbers_for_humans() -> None:
    assert fmt_value(1_234_567.4, "currency", currency="EUR") == "EUR 1,234,567"
    assert fmt_value(450.0, "currency", currency="USD") == "USD 450.00"
    assert fmt_value(0.1234, "ratio", currency="USD") == "12.3%"
    assert fmt_value(42.25, "days", currency="USD") == "42.2 days"
    assert fmt_value(12345.0, "count", currency="USD") == "12,345"
    assert fmt_value(4.891, "ratio", currency="USD", kpi="ltv_cac_ratio") == "4.89×"
    assert fmt_value(None, "ratio", currency="USD") == "—"
    # Ratios move in percentage points, amounts in %; churn going up is bad news.
    assert fmt_delta(0.30, 0.25, "ratio", "win_rate") == ("▲", "+5.0 pp", "good")
    assert fmt_delta(0.03, 0.01, "ratio", "logo_churn_rate") == ("▲", "+2.0 pp", "bad")
    assert fmt_delta(450.0, 500.0, "currency", "cac") == ("▼", "-10.0%", "good")


def test_headline_month_against_target_and_previous(page: str) -> None:
    headline = _element(page, "headline", "section")
    assert "<h3>2024-04</h3>" in headline  # April is complete as of 2024-04-30
    revenue = _card(headline, "revenue")
    assert "USD 1,234,567" in revenue
    # 1,234,567.4 / 1,050,000 - 1 = +17.6 % vs March; target 1.2M -> 102.9 %.
    assert 'class="delta good"' in revenue and "▲" in revenue and "+17.6%" in revenue
    assert "vs 2024-03: USD 1,050,000" in revenue
    assert "target USD 1,200,000 · 102.9%" in revenue
    # Churn 1 % -> 3 %: arrow up, coloured bad; win rate 30 % -> 25 %: down, bad.
    churn = _card(headline, "logo_churn_rate")
    assert "3.0%" in churn and "▲" in churn and "+2.0 pp" in churn and "bad" in churn
    win = _card(headline, "win_rate")
    assert "25.0%" in win and "▼" in win and "-5.0 pp" in win
    assert "42.2 days" in _card(headline, "sales_cycle_days")
    new = _card(headline, "new_customers")
    assert "15" in new and "target 20 · 75.0%" in new
    assert "4.89×" in _card(headline, "ltv_cac_ratio")
    assert "105.0%" in _card(headline, "net_revenue_retention")
    # Every headline KPI has a card in the month block.
    month_block = headline[:headline.index("2024 Q2")]
    assert month_block.count('class="card"') == 12
    # Quarter block: Q2 (April only, the quarter is still open) vs Q1.
    quarter = headline[headline.index("2024 Q2 (to date)"):]
    assert "USD 1,234,567" in _card(quarter, "revenue")
    assert "vs 2024 Q1 (full): USD 3,150,000" in _card(quarter, "revenue")


def test_revenue_chart_has_one_bar_per_month_and_a_target_line(page: str) -> None:
    chart = _element(page, "chart-revenue", "figure")
    assert chart.count('class="bar"') == len(MONTHS)
    assert chart.count('class="target-point"') == len(MONTHS)
    assert "<title>2024-04: 1.2M</title>" in chart


def test_heatmap_has_one_cell_per_cohort_row(page: str) -> None:
    chart = _element(page, "chart-cohorts", "figure")
    assert chart.count('class="cell"') == len(COHORT_ROWS)
    assert "cohort 2024-01, month 3: 40.0% (4 of 10)" in chart


def test_other_charts(page: str) -> None:
    funnel = _element(page, "chart-funnel", "figure")
    assert funnel.count('class="funnel-step"') == 6  # five stages + won
    assert "→ 60.0% to next" in funnel and ">12</text>" in funnel
    cycle = _element(page, "chart-cycle", "figure")
    assert (
        "4 won opportunities up to 2024-04-30; median 20.0 days, mean 21.2 days, "
        "p90 30.5 days." in cycle
    )
    assert sum(int(n) for n in re.findall(r": (\d+)</title></rect>", cycle)) == 4
    ltv_cac = _element(page, "chart-ltv-cac", "figure")
    assert ltv_cac.count('class="bar"') == 2  # web and partner; referral has no value
    assert ltv_cac.index("web") < ltv_cac.index("partner")  # sorted, best first
    clv = _element(page, "chart-clv", "figure")
    assert "40 customers" in clv and "hist-bar" in clv


def test_movers_segments_and_data_quality(page: str) -> None:
    movers = _element(page, "movers", "section")
    assert "USD 300,000" in movers and "+300.0%" in movers  # the evil rep: 100k -> 400k
    assert "张三" in movers and "-20.0%" in movers
    assert "Bob" not in movers  # no change
    assert movers.index("华东") < movers.index("张三")  # region rows before rep rows
    segments = _element(page, "segments", "section")
    assert "<b>15</b>" in segments  # all customers
    assert "at risk" not in segments and "churned" in segments
    dq = _element(page, "data-quality", "section")
    assert "orders_2024.csv" in dq and "12,345" in dq and "12,300" in dq and "0.4%" in dq
    assert "old.csv" not in dq  # an earlier run
    assert dq.index("unparseable date") < dq.index("amount is not a number")
    assert ">30<" in dq and ">15<" in dq  # rows per reason
    assert "old reason from run 1" not in dq
    assert "2 of 3 expectations passed" in dq
    assert "expect_column_values_to_be_between(amount)" in dq
    assert "orders_without_customer" in dq and "o17" in dq
    footer = page[page.index("<footer>"):]
    assert "2024-04-30" in footer and "run-0002" in footer and "Generated by salesdw" in footer


def test_text_from_the_data_is_escaped(page: str) -> None:
    # the one script is the scorecard's sorter, at the end of the page; none from the data
    assert page.lower().count("<script") == 1
    assert page.index("<script>") > page.index("<footer>")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    # Formula-like strings are shown as text, Chinese as is.
    assert "=HYPERLINK(" in page and "点我" in page and "华东" in page
    assert "测试" in page


def test_page_is_self_contained(page: str) -> None:
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "src=" not in lowered and "url(" not in lowered and "@import" not in lowered
    assert "<link" not in lowered


def test_empty_database_renders_no_data(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = render_report(con, tmp_path / "empty.html")
    finally:
        con.close()
    page = out.read_text(encoding="utf-8")
    for section in ("headline", "movers", "segments", "data-quality"):
        assert "no data" in _element(page, section, "section"), section
    for figure in ("chart-revenue", "chart-funnel", "chart-cycle", "chart-cohorts",
                   "chart-ltv-cac", "chart-clv"):
        assert "no data" in _element(page, figure, "figure"), figure
    assert "<svg" not in page
    assert "http://" not in page and "https://" not in page


def test_empty_tables_render_no_data(warehouse: Path, tmp_path: Path) -> None:
    """Tables that exist with no rows: same as missing."""
    path = tmp_path / "empty_tables.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"attach '{warehouse}' as src (read_only)")
    for schema, table in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'src'"
    ).fetchall():
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create table {schema}.{table} as select * from src.{schema}.{table} "
                    "limit 0")
    con.execute("detach src")
    out = render_report(con, tmp_path / "r.html")
    con.close()
    page = out.read_text(encoding="utf-8")
    assert "no data" in _element(page, "headline", "section")
    assert "no data" in _element(page, "chart-cohorts", "figure")
    assert "no data" in _element(page, "segments", "section")


def test_the_report_computes_nothing_of_its_own(warehouse: Path, tmp_path: Path) -> None:
    """Without the KPI layer's target_achievement_rate and stage_conversion_rate rows the
    report shows no target and no funnel: it does not compute them from the marts."""
    path = tmp_path / "without.duckdb"
    shutil.copy(warehouse, path)
    con = duckdb.connect(str(path))
    con.execute("delete from kpi.kpi_values where kpi like 'target_achievement_rate%' "
                "or kpi = 'stage_conversion_rate'")
    out = render_report(con, tmp_path / "r.html")
    con.close()
    page = out.read_text(encoding="utf-8")
    assert 'class="target-point"' not in _element(page, "chart-revenue", "figure")
    assert "target" not in _card(_element(page, "headline", "section"), "revenue")
    assert "no data — no stage_conversion_rate values" in _element(
        page, "chart-funnel", "figure")


def _png_rows(png: bytes, max_rows: int) -> tuple[int, list[bytes]]:
    """Width and the first ``max_rows`` unfiltered RGB(A) rows of an 8-bit PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = {2: 3, 6: 4}
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and colour in channels
            bpp = channels[colour]
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(min(max_rows, len(raw) // (stride + 1))):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return bpp, rows


@pytest.mark.browser
def test_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("chromium is not installed")
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", f"--screenshot={shot}", "--window-size=1400,3000", report.as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert shot.exists(), result.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a blank 1400×3000 page compresses to a few kB
    console = [line for line in result.stderr.splitlines()
               if "Uncaught" in line or "CONSOLE" in line]
    assert not console, console
    bpp, rows = _png_rows(shot.read_bytes(), max_rows=700)
    colours = {row[i:i + 3] for row in rows[::5] for i in range(0, len(row), bpp * 5)}
    assert len(colours) > 20  # header, cards, arrows, bars: not a blank page
    dark = sum(1 for row in rows[:60] for i in range(0, len(row), bpp) if row[i] < 60)
    assert dark > 1400 * 10  # the dark header band at the top


# --------------------------------------------------------------------------- collections
# and activity: the hand-built warehouse plus receivables and activity KPI rows (as of
# 2024-04-30), kpi.receivables_ageing, kpi.stale_opportunities and two customers' names.

COLLECTION = [0.98, 0.95, 0.90, 0.80]  # collection_rate, January..April
ON_TIME = [0.80, 0.75, 0.70, 0.60]
FOLLOW_UP = [0.70, 0.75, 0.80, 0.50]


def _money_rows() -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []

    def add(kpi: str, month: dt.date, value: float | None, unit: str,
            dimension: str = "all", dim_value: str = "all") -> None:
        rows.append((kpi, "month", month, _next_month(month), dimension, dim_value, value,
                     None, None, unit, AS_OF))

    for i, month in enumerate(MONTHS):
        add("collection_rate", month, COLLECTION[i], "ratio")
        add("on_time_collection_rate", month, ON_TIME[i], "ratio")
        add("follow_up_rate", month, FOLLOW_UP[i], "ratio")
    march, april = MONTHS[2], MONTHS[3]
    add("overdue_receivables", march, 10_000.0, "currency")
    add("overdue_receivables", april, 12_345.6, "currency")
    add("dso", march, 40.0, "days")
    add("dso", april, 45.25, "days")
    add("activities", march, 100.0, "count")
    add("activities", april, 120.0, "count")
    add("visits_per_rep", april, 15.0, "count")
    add("lead_response_hours", april, 5.5, "hours")
    add("lead_untouched_rate", april, 0.125, "ratio")
    add("activities", march, 50.0, "count", "type", "call")  # an older month: not shown
    for kind, n in (("call", 60.0), ("visit", 30.0), ("email", 20.0), ("meeting", 10.0)):
        add("activities", april, n, "count", "type", kind)
    add("activities", april, 70.0, "count", "rep", "张三")
    add("activities", april, 50.0, "count", "rep", EVIL_REP)
    return rows


@pytest.fixture(scope="module")
def money_page(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("money")
    path = folder / "sales.duckdb"
    shutil.copy(warehouse, path)
    con = duckdb.connect(str(path))
    con.executemany("insert into kpi.kpi_values values (?,?,?,?,?,?,?,?,?,?,?)", _money_rows())
    con.execute(
        'create table kpi.receivables_ageing (as_of date, customer_id varchar, rep_id varchar, '
        '"current" double, "1_30" double, "31_60" double, "61_90" double, over_90 double, '
        "open_amount double, overdue_amount double, unapplied_credit double)"
    )
    # Bob: c1 100 current + 200 (1-30) + 700 (>90) = 1,000 open, 900 overdue; c3 500 not
    # yet due and a credit of 25. The evil rep: c2 50 (1-30). All: 1,550 open, 950 overdue.
    con.executemany(
        "insert into kpi.receivables_ageing values (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (AS_OF, "c1", "Bob", 100.0, 200.0, 0.0, 0.0, 700.0, 1000.0, 900.0, 0.0),
            (AS_OF, "c2", EVIL_REP, 0.0, 50.0, 0.0, 0.0, 0.0, 50.0, 50.0, 0.0),
            (AS_OF, "c3", "Bob", 500.0, 0.0, 0.0, 0.0, 0.0, 500.0, 0.0, 25.0),
        ],
    )
    con.execute(
        "create table marts.dim_customer (customer_id varchar, name varchar, is_current boolean)"
    )
    con.execute(
        "insert into marts.dim_customer values ('c1', '华东机械有限公司', true), "
        "('c1', 'Old name', false), ('c3', 'Gamma GmbH', true)"
    )
    con.execute(
        "create table kpi.stale_opportunities (as_of date, opportunity_id varchar, "
        "owner_rep_id varchar, team varchar, region varchar, customer_id varchar, "
        "stage varchar, amount double, created_at date, last_activity_date date, "
        "days_without_activity bigint)"
    )
    con.execute(
        "insert into kpi.stale_opportunities values "
        "('2024-04-30', 'o8', '张三', 'China East', 'China', 'c3', 'lead', null, "
        "'2024-04-01', null, null), "
        "('2024-04-30', 'o6', 'Bob', 'NA East', 'North America', 'c1', 'needs_analysis', "
        "60000, '2024-03-01', '2024-03-01', 60)"
    )
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = render_report(con, folder / "kpi_report.html")
    finally:
        con.close()
    return out.read_text(encoding="utf-8")


def _text(html: str) -> str:
    """The visible text of an HTML fragment (tags and SVG titles dropped), spaces collapsed."""
    html = re.sub(r"<title>.*?</title>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_collections_section(money_page: str) -> None:
    section = _element(money_page, "collections", "section")
    text = _text(section[section.index("<h2>") : section.index("<figure")])
    assert text == (
        "Collections KPI month value month before "
        "Collection rate 2024-04 80.0% 90.0% "
        "On-time collection rate 2024-04 60.0% 70.0% "
        "Overdue receivables 2024-04 USD 12,346 USD 10,000 "
        "DSO 2024-04 45.2 days 40.0 days"
    )
    trend = _element(money_page, "chart-collections", "figure")
    assert trend.count('class="bar"') == 4 and trend.count('class="target-point"') == 4
    assert "<title>2024-04: 80%</title>" in trend
    assert "<title>2024-01: Collected by the due date 80%</title>" in trend
    ageing = _element(money_page, "chart-ageing", "figure")
    # Bob: not yet due 600, 1-30 200, >90 700; the evil rep: 1-30 50
    assert ageing.count('class="stack"') == 4
    assert "<title>Bob, not yet due: 600</title>" in ageing
    assert "<title>Bob, over 90 days: 700</title>" in ageing
    assert ageing.index(">Bob<") < ageing.index("&lt;script&gt;")
    assert (
        "Open receivables as of 2024-04-30 by days past due (kpi.receivables_ageing): "
        "2 of 2 reps, most overdue first. All reps: USD 1,550 open, USD 950.00 overdue."
        in ageing
    )
    table = _text(section[section.index("<h3>Top"):])
    assert table == (
        "Top 2 overdue customers customer rep 1–30 days 31–60 days 61–90 days "
        "over 90 days overdue credit "
        "华东机械有限公司 Bob USD 200.00 0 0 USD 700.00 USD 900.00 0 "
        "c2 &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; USD 50.00 0 0 0 USD 50.00 0"
    )


def test_activity_section(money_page: str) -> None:
    section = _element(money_page, "activity", "section")
    text = _text(section[section.index("<h2>") : section.index("<figure")])
    assert text == (
        "Activity KPI month value month before "
        "Activities 2024-04 120 100 "
        "Visits per rep 2024-04 15 — "
        "Follow-up rate 2024-04 50.0% 80.0% "
        "Lead response (median) 2024-04 5.5 h — "
        "Leads not touched 2024-04 12.5% —"
    )
    by_type = _element(money_page, "chart-activities-type", "figure")
    assert by_type.count('class="bar"') == 4  # April's four types, not March's call row
    assert by_type.index(">call<") < by_type.index(">visit<") < by_type.index(">meeting<")
    assert "Month 2024-04 (kpi activities by type)." in by_type
    by_rep = _element(money_page, "chart-activities-rep", "figure")
    assert by_rep.count('class="bar"') == 2 and "<title>张三: 70</title>" in by_rep
    follow_up = _element(money_page, "chart-follow-up", "figure")
    assert follow_up.count('class="bar"') == 4 and "<title>2024-03: 80%</title>" in follow_up
    stale = _text(section[section.index("<h3>Stale deals"):])
    assert stale == (
        "Stale deals 2 open deals without an activity in the stale window as of 2024-04-30 "
        "(kpi.stale_opportunities); the 2 largest: "
        "deal owner team stage amount last activity days "
        "o6 Bob NA East needs analysis USD 60,000 2024-03-01 60 "
        "o8 张三 China East lead — never —"
    )


def test_collections_and_activity_without_their_tables_say_no_data(page: str) -> None:
    """The base warehouse has none of the receivables or activity KPIs or tables."""
    for figure, note in (
        ("chart-collections", "no monthly collection_rate values"),
        ("chart-ageing", "kpi.receivables_ageing is missing or empty"),
        ("chart-activities-type", "no monthly activities by type"),
        ("chart-activities-rep", "no monthly activities by rep"),
        ("chart-follow-up", "no monthly follow_up_rate values"),
    ):
        assert f"no data — {note}" in _element(page, figure, "figure"), figure
    collections = _element(page, "collections", "section")
    assert "no data — no monthly values of collection_rate, on_time_collection_rate" in (
        collections
    )
    assert "no data — no overdue receivables in kpi.receivables_ageing" in collections
    assert "no data — kpi.stale_opportunities is missing or empty" in _element(
        page, "activity", "section"
    )


@pytest.mark.browser
def test_demo_report_renders_in_headless_chromium(demo_baseline: Path, tmp_path: Path) -> None:
    """The report of the demo run, Collections and Activity filled, renders without
    console errors."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("chromium is not installed")
    report = demo_baseline / "data/reports/kpi_report.html"
    page = report.read_text(encoding="utf-8")
    for figure in ("chart-collections", "chart-ageing", "chart-activities-type",
                   "chart-activities-rep", "chart-follow-up"):
        assert "no data" not in _element(page, figure, "figure"), figure
    assert "<h3>Top 10 overdue customers</h3>" in page and "<h3>Stale deals</h3>" in page
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", f"--screenshot={shot}", "--window-size=1400,6000", report.as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert shot.exists(), result.stderr[-2000:]
    assert shot.stat().st_size > 50_000
    console = [line for line in result.stderr.splitlines()
               if "Uncaught" in line or "CONSOLE" in line]
    assert not console, console
