"""Finance-side files: FX rates, sales targets (xlsx) and marketing spend."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import openpyxl
import polars as pl

from salesdw.demo import calendar as cal
from salesdw.demo import files
from salesdw.demo.orders import CURRENCIES, OrderTotals
from salesdw.demo.world import (
    CHANNEL_TABLE,
    REGION_CURRENCY,
    REGIONS,
    Customers,
    Leads,
    Opportunities,
    Reps,
)

#: the stream of the quarterly and weekly targets (apart from the monthly ones')
TARGETS_EXTRA_SEED = 7

_FX_START = {"EUR": 1.09, "CNY": 0.1395}
_FX_VOL = {"EUR": 0.0040, "CNY": 0.0018}
REGION_CODE = {"North America": "NA", "EMEA": "EMEA", "APAC": "APAC", "China": "CN"}


# ------------------------------------------------------------------------------- fx


def write_fx(rng: np.random.Generator, landing: Path) -> tuple[int, np.ndarray]:
    """Weekday rates of EUR and CNY to USD; returns (rows, monthly means (months, 3))."""
    days = np.arange(cal.day(cal.START), cal.day(cal.END) + 1)
    days = days[(days + 3) % 7 < 5]  # Monday..Friday
    starts = cal.month_starts()
    month = np.searchsorted(starts, days, side="right") - 1
    monthly = np.ones((len(starts) - 1, len(CURRENCIES)))
    frames = []
    for cur in ("EUR", "CNY"):
        steps = rng.normal(0, _FX_VOL[cur], len(days))
        level = np.zeros(len(days))
        for i in range(1, len(days)):  # mean-reverting walk over ~700 days
            level[i] = 0.995 * level[i - 1] + steps[i]
        rate = np.round(_FX_START[cur] * np.exp(level), 6)
        monthly[:, CURRENCIES.index(cur)] = np.bincount(month, rate) / np.bincount(month)
        frames.append(
            pl.DataFrame(
                {
                    "Date": files.dates(days, "%Y-%m-%d"),
                    "Currency": [cur] * len(days),
                    "Rate to USD": rate,
                }
            )
        )
    df = pl.concat(frames).sort("Date", "Currency")
    path = landing / "fx" / "fx_rates.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_csv(path, float_precision=6)
    return df.height, monthly


# -------------------------------------------------------------------------- targets


def write_targets(
    rng: np.random.Generator,
    landing: Path,
    totals: OrderTotals,
    reps: Reps,
    opp: Opportunities,
    cust: Customers,
    fx_month: np.ndarray,
) -> int:
    """Monthly revenue targets (company, region, team, rep) and quarterly bookings
    (company), 95–110% of what the data delivers; Nov/Dec 2026 from last year + 20%."""
    n_months = totals.revenue_rep.shape[0]  # 2024-01 .. 2026-10
    horizon = 36  # through 2026-12

    def extend(a: np.ndarray) -> np.ndarray:
        out = np.zeros((horizon, a.shape[1]))
        out[:n_months] = a
        for m in range(n_months, horizon):
            out[m] = out[m - 12] * cal.GROWTH
        return out

    rep_rev = extend(totals.revenue_rep[:, :-1])
    rep_rev[n_months:, ~reps.active] = 0.0
    region_rev = extend(totals.revenue_region)
    teams = sorted(set(reps.team), key=lambda t: (reps.team.index(t), t))
    team_rev = np.stack(
        [
            rep_rev[:, [i for i, t in enumerate(reps.team) if t == team]].sum(axis=1)
            for team in teams
        ],
        axis=1,
    )
    company_rev = region_rev.sum(axis=1)

    # bookings: won amount (USD) by close quarter
    won = opp.won & (opp.close <= cal.day(cal.END)) & (opp.close >= cal.day(cal.START))
    starts = cal.month_starts()
    m_close = np.searchsorted(starts, opp.close[won], side="right") - 1
    cur = np.array([CURRENCIES.index(REGION_CURRENCY[r]) for r in cust.region[opp.customer[won]]])
    usd = opp.amount[won] * fx_month[m_close, cur]
    bookings = np.bincount(m_close // 3, weights=usd, minlength=12)
    bookings[11] = bookings[7] * cal.GROWTH  # 2026 Q4 is only one month in: last year + 20%

    rows: list[tuple[dt.date, str, str, str, str | None, float]] = []

    def add(
        period: dt.date,
        grain: str,
        metric: str,
        level: str,
        value: str | None,
        actual: float,
        step: float,
    ) -> None:
        if actual > 0:
            target = round(actual * rng.uniform(0.95, 1.10) / step) * step
            rows.append((period, grain, metric, level, value, float(target)))

    for m in range(horizon):
        period = dt.date(2024 + m // 12, m % 12 + 1, 1)
        add(period, "month", "revenue", "company", None, company_rev[m], 1000)
        for r, region in enumerate(REGIONS):
            add(period, "month", "revenue", "region", region, region_rev[m, r], 1000)
        for t, team in enumerate(teams):
            add(period, "month", "revenue", "team", team, team_rev[m, t], 1000)
        for i, rep in enumerate(reps.name):
            add(period, "month", "revenue", "rep", rep, rep_rev[m, i], 100)
        if m % 3 == 0:
            add(period, "quarter", "bookings", "company", None, bookings[m // 3], 1000)
    rows += _quarter_and_week_targets(company_rev, team_rev[:, 0], teams[0])

    for year in (2024, 2025, 2026):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "Targets"
        ws.append(["Period", "Grain", "Metric", "Level", "Level Value", "Target"])
        for row in rows:
            if row[0].year == year:
                ws.append(list(row))
        for cell in ws["A"][1:]:
            cell.number_format = "yyyy-mm-dd"
        for cell in ws["F"][1:]:
            cell.number_format = "#,##0"
        notes = wb.create_sheet("Notes")
        notes.append([f"Sales targets {year}, approved by Sales Operations. Amounts in USD."])
        notes.append(["Level Value is empty for company-level targets."])
        wb.properties.creator = "Sales Operations"
        wb.properties.created = dt.datetime(year - 1, 12, 15)
        files.write_xlsx_deterministic(wb, landing / "targets" / f"targets_{year}.xlsx")
    return len(rows)


def _quarter_and_week_targets(
    company_rev: np.ndarray, team_rev: np.ndarray, team: str
) -> list[tuple[dt.date, str, str, str, str | None, float]]:
    """Company revenue targets per quarter (the quarter's revenue), and weekly revenue
    targets of one team (ISO weeks, Monday start: the team's monthly revenue spread over
    the days of each week), 95–110 % of what the data delivers. Drawn from a stream of
    their own, so that the monthly targets stay as they are."""
    rng = np.random.default_rng(TARGETS_EXTRA_SEED)
    rows: list[tuple[dt.date, str, str, str, str | None, float]] = []
    horizon = len(company_rev)
    for q in range(0, horizon, 3):
        actual = float(company_rev[q : q + 3].sum())
        target = round(actual * rng.uniform(0.95, 1.10) / 1000) * 1000
        rows.append(
            (
                dt.date(2024 + q // 12, q % 12 + 1, 1),
                "quarter",
                "revenue",
                "company",
                None,
                float(target),
            )
        )
    starts = cal.month_starts(cal.START, dt.date(2024 + (horizon - 1) // 12, 12, 1))
    days = np.arange(starts[0], starts[horizon])
    month = np.searchsorted(starts, days, side="right") - 1
    per_day = team_rev[month] / (starts[month + 1] - starts[month])
    full_weeks = len(days) // 7  # weeks that end within the horizon
    weekly = per_day[: full_weeks * 7].reshape(-1, 7).sum(axis=1)
    monday = cal.START  # 2024-01-01 is a Monday
    for w, actual in enumerate(weekly.tolist()):
        if actual > 0:
            target = round(actual * rng.uniform(0.95, 1.10) / 100) * 100
            rows.append(
                (monday + dt.timedelta(weeks=w), "week", "revenue", "team", team, float(target))
            )
    return rows


# ---------------------------------------------------------------------------- spend


def write_spend(rng: np.random.Generator, landing: Path, leads: Leads) -> int:
    """Monthly spend per region and lead source: leads × cost per lead × noise."""
    starts = cal.month_starts()
    n_months = len(starts) - 1
    month = np.searchsorted(starts, leads.created, side="right") - 1
    counts = np.zeros((n_months, len(CHANNEL_TABLE)))
    np.add.at(counts, (month, leads.channel), 1)
    amount = np.round(
        counts * np.array([c[4] for c in CHANNEL_TABLE]) * rng.uniform(0.85, 1.2, counts.shape), 2
    )
    m_idx, ch_idx = np.nonzero(amount > 0)
    region = [REGIONS[CHANNEL_TABLE[c][0]] for c in ch_idx.tolist()]
    label = [CHANNEL_TABLE[c][1] for c in ch_idx.tolist()]
    df = pl.DataFrame(
        {
            "Month": files.dates(starts[m_idx], "%Y-%m-%d"),
            "Channel": label,
            "Campaign": [f"{REGION_CODE[r]} - {lb}" for r, lb in zip(region, label, strict=True)],
            "Amount": files.money_grouped(amount[m_idx, ch_idx]),
            "Currency": [REGION_CURRENCY[REGIONS.index(r)] for r in region],
        }
    )
    return files.write_csv(df, landing / "marketing" / "spend.csv")
