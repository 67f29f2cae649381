"""The report's management sections on a warehouse computed by the KPI layer: it opens
with the alerts, shows the rep scorecard as a sortable table, the margin, channel, stage
and forecast figures — the values of kpi.* — and renders in headless Chromium without
console errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from test_alerts import _warehouse

from salesdw.report.html import render_report


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("management")
    _warehouse(folder, 1550.0, 3100.0, only_company_and_east=False)
    con = duckdb.connect(str(folder / "sales.duckdb"), read_only=True)
    try:
        return render_report(con, folder / "report.html")
    finally:
        con.close()


def _section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}">')
    return page[start:page.index("</section>", start)]


def test_the_report_opens_with_the_alerts(page_path: Path) -> None:
    page = page_path.read_text(encoding="utf-8")
    assert page.index('<section id="alerts">') < page.index('<section id="headline">')
    alerts = _section(page, "alerts")
    # 5 critical (east 0.4; r2, r3, r4, west 0), the most severe first
    assert "5 critical" in alerts
    assert alerts.index("critical") < alerts.index("deal_past_close_date")
    assert "team east revenue target of the month from 2024-03-01: pacing 40.0%" in alerts


def test_scorecard_and_management_figures(page_path: Path) -> None:
    page = page_path.read_text(encoding="utf-8")
    scorecard = _section(page, "scorecard")
    assert '<table class="sortable">' in scorecard
    # r1 (east) sold 600 in Q1 to date: rank 1 in the company and its team
    assert 'data-sort="600"' in scorecard and "#1/1" in scorecard
    management = _section(page, "management")
    for figure in ("table-margin", "table-channels", "table-stages", "chart-forecast"):
        assert f'id="{figure}"' in management
    # the forecast of Q1 2024 as of March 15, against the company's quarter target (none)
    assert "Revenue forecast of 2024 Q1 by night" in management


@pytest.mark.browser
def test_management_page_renders_in_chromium_without_console_errors(
    page_path: Path, tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("chromium is not installed")
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={shot}", "--window-size=1400,2000", page_path.as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert shot.exists(), result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines()
               if "Uncaught" in line or "CONSOLE" in line]
    assert not console, console
