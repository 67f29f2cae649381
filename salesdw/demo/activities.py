"""Sales activities (跟进记录, 拜访): Salesforce ``tasks.csv``, HubSpot ``activities.csv``
and Fxiaoke ``跟进记录.csv``.

Three kinds of work are logged, each by the rep who owns the record that day:

- **lead touches**: most new leads get a first call, e-mail or WeChat message within
  hours to a few days (log-normal delay), some a second one; a share is never touched;
- **deal work**: calls, visits, meetings and demos over an opportunity's life, more for
  bigger segments; some open deals are left alone for weeks (``kpi.stale_opportunities``);
- **after-sales follow-ups**: after a purchase, most customers hear from their rep within
  three weeks (once per customer and month), a few only later.

Each region logs in its CRM (North America and APAC Salesforce, EMEA HubSpot, China
Fxiaoke). Everything is drawn with vectorised numpy over the whole data set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from salesdw.demo import calendar as cal
from salesdw.demo import files
from salesdw.demo.crm import FXIAOKE, HUBSPOT, SALESFORCE
from salesdw.demo.orders import OrderTotals
from salesdw.demo.world import REGIONS, Customers, Leads, Opportunities, Reps

#: Canonical activity types, in the order of the label lists below.
TYPES = ["call", "visit", "email", "meeting", "demo", "wechat"]
SF_TYPES = ["Call", "Visit", "Email", "Meeting", "Demo", "Other"]
HS_TYPES = ["Call", "Site Visit", "Email", "Meeting", "Demo", "Call"]
FX_TYPES = ["电话", "上门拜访", "邮件", "会议", "产品演示", "微信"]
#: Type mix per purpose (rows: lead touch, deal work SMB / Mid-Market / Enterprise,
#: follow-up); China replaces part of the calls and e-mails with WeChat.
LEAD_MIX = np.array([0.55, 0.0, 0.45, 0.0, 0.0, 0.0])
DEAL_MIX = np.array(
    [
        [0.40, 0.10, 0.30, 0.12, 0.08, 0.0],
        [0.30, 0.20, 0.22, 0.18, 0.10, 0.0],
        [0.20, 0.30, 0.15, 0.25, 0.10, 0.0],
    ]
)
FOLLOW_MIX = np.array(
    [
        [0.55, 0.05, 0.40, 0.0, 0.0, 0.0],
        [0.45, 0.20, 0.30, 0.05, 0.0, 0.0],
        [0.30, 0.40, 0.20, 0.10, 0.0, 0.0],
    ]
)
WECHAT_SHARE = 0.35  # of China's calls and e-mails
LEAD_TOUCHED = 0.90  # share of leads that get a first touch
LEAD_RESPONSE_HOURS = 18.0  # median hours from the start of the working day, log-normal
LEAD_SECOND_TOUCH = 0.45
DEAL_DAYS_PER_ACTIVITY = 18.0  # one activity per this many days of a deal's life (Poisson)
NEGLECTED = 0.15  # open deals whose activity stopped early in their life
FOLLOW_UP = np.array([0.60, 0.78, 0.92])  # customer-months with a purchase followed up
FOLLOW_UP_LATE = 0.12  # of those, followed up only 31-60 days after the purchase

#: Duration in minutes per type (low, high); e-mails have none.
DURATION = np.array([[3, 25], [45, 120], [0, 0], [30, 60], [45, 90], [2, 10]])
SUBJECTS_EN = ["First contact", "Deal follow-up", "After-sales follow-up"]
SUBJECTS_ZH = ["首次联系", "商机跟进", "售后回访"]
SF_DATETIME = "%Y-%m-%dT%H:%M:%S.000Z"
HS_DATETIME = "%Y-%m-%d %H:%M"
FX_DATETIME = "%Y-%m-%d %H:%M"


@dataclass
class Activities:
    """One entry per activity: minute of occurrence, type, rep, and what it concerns
    (indices, -1 for none), purpose (0 lead touch, 1 deal work, 2 follow-up), region."""

    minute: np.ndarray  # minutes since 1970-01-01
    type: np.ndarray
    rep: np.ndarray
    cust: np.ndarray
    lead: np.ndarray
    opp: np.ndarray
    purpose: np.ndarray
    region: np.ndarray


def _types(rng: np.random.Generator, mix: np.ndarray, region: np.ndarray) -> np.ndarray:
    """One type per row of ``mix`` (rows sum to 1); China turns some calls and e-mails
    into WeChat messages."""
    drawn: np.ndarray = (rng.random(len(mix))[:, None] > mix.cumsum(axis=1)).sum(axis=1)
    drawn = np.minimum(drawn, len(TYPES) - 1)
    wechat = (region == REGIONS.index("China")) & np.isin(drawn, [0, 2])
    return np.where(wechat & (rng.random(len(drawn)) < WECHAT_SHARE), 5, drawn)


def _office_minute(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    return days * 1440 + rng.integers(8 * 60 + 30, 18 * 60, len(days))


def _lead_touches(rng: np.random.Generator, leads: Leads, reps: Reps) -> Activities:
    n = len(leads)
    touched = np.flatnonzero(rng.random(n) < LEAD_TOUCHED)
    hours = rng.lognormal(np.log(LEAD_RESPONSE_HOURS), 1.1, len(touched))
    first = leads.created[touched] * 1440 + 8 * 60 + (hours * 60).astype(np.int64)
    again = touched[rng.random(len(touched)) < LEAD_SECOND_TOUCH]
    second = (
        first[np.isin(touched, again)]
        + rng.integers(2, 10, len(again)) * 1440
        + rng.integers(-120, 240, len(again))
    )
    lead = np.concatenate([touched, again])
    minute = np.concatenate([first, second])
    region = leads.region[lead]
    return Activities(
        minute=minute,
        type=_types(rng, np.tile(LEAD_MIX, (len(lead), 1)), region),
        rep=reps.owner_at(leads.owner[lead], minute // 1440),
        cust=np.full(len(lead), -1),
        lead=lead,
        opp=np.full(len(lead), -1),
        purpose=np.zeros(len(lead), dtype=np.int64),
        region=region,
    )


def _deal_work(
    rng: np.random.Generator, opp: Opportunities, cust: Customers, reps: Reps
) -> Activities:
    end = cal.day(cal.END)
    live = np.flatnonzero(opp.created <= end)
    created = opp.created[live]
    stop = np.minimum(opp.close[live], end)
    still_open = opp.close[live] > end
    neglected = still_open & (rng.random(len(live)) < NEGLECTED)
    stop = np.where(neglected, created + (stop - created) // 3, stop)
    span = np.maximum(stop - created, 0)
    k = 1 + rng.poisson(span / DEAL_DAYS_PER_ACTIVITY)
    o = np.repeat(live, k)
    day = np.repeat(created, k) + (rng.random(len(o)) * (np.repeat(span, k) + 1)).astype(np.int64)
    c = opp.customer[o]
    region = cust.region[c]
    return Activities(
        minute=_office_minute(rng, day),
        type=_types(rng, DEAL_MIX[cust.segment[c]], region),
        rep=reps.owner_at(opp.owner[o], day),
        cust=c,
        lead=np.full(len(o), -1),
        opp=o,
        purpose=np.ones(len(o), dtype=np.int64),
        region=region,
    )


def _follow_ups(
    rng: np.random.Generator, totals: OrderTotals, cust: Customers, reps: Reps
) -> Activities:
    log = {
        k: np.concatenate([m[k] for m in totals.order_log])
        for k in ("kind", "status", "day", "cust", "rep")
    }
    sold = np.flatnonzero((log["kind"] == 0) & (log["status"] == 0))
    day = log["day"][sold].astype(np.int64)
    c = log["cust"][sold].astype(np.int64)
    month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    # the first purchase of each customer and month (the log is in date order per month)
    _, first = np.unique(c * 10_000 + month, return_index=True)
    sold, day, c = sold[first], day[first], c[first]
    seg = cust.segment[c]
    keep = rng.random(len(c)) < FOLLOW_UP[seg]
    sold, day, c, seg = sold[keep], day[keep], c[keep], seg[keep]
    late = rng.random(len(c)) < FOLLOW_UP_LATE
    after = np.where(late, rng.integers(31, 61, len(c)), rng.integers(1, 22, len(c)))
    day = day + after
    inside = day <= cal.day(cal.END)
    sold, day, c, seg = sold[inside], day[inside], c[inside], seg[inside]
    rep = log["rep"][sold].astype(np.int64)
    no_rep = rep >= len(reps.name)  # Marketplace orders: the account owner follows up
    rep = np.where(no_rep, reps.owner_at(cust.owner[c], day), rep)
    region = cust.region[c]
    return Activities(
        minute=_office_minute(rng, day),
        type=_types(rng, FOLLOW_MIX[seg], region),
        rep=rep,
        cust=c,
        lead=np.full(len(c), -1),
        opp=np.full(len(c), -1),
        purpose=np.full(len(c), 2, dtype=np.int64),
        region=region,
    )


def make_activities(
    rng: np.random.Generator,
    leads: Leads,
    cust: Customers,
    opp: Opportunities,
    reps: Reps,
    totals: OrderTotals,
) -> Activities:
    """All activities up to the last data day, in time order."""
    parts = [
        _lead_touches(rng, leads, reps),
        _deal_work(rng, opp, cust, reps),
        _follow_ups(rng, totals, cust, reps),
    ]
    fields = list(Activities.__dataclass_fields__)
    joined = {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}
    keep = np.flatnonzero(joined["minute"] < (cal.day(cal.END) + 1) * 1440)
    keep = keep[np.argsort(joined["minute"][keep], kind="stable")]
    return Activities(**{f: v[keep] for f, v in joined.items()})


def write_activities(
    rng: np.random.Generator,
    landing: Path,
    leads: Leads,
    cust: Customers,
    opp: Opportunities,
    opp_ids: list[str],
    reps: Reps,
    totals: OrderTotals,
) -> int:
    """Write the three CRMs' activity exports; returns the rows written."""
    act = make_activities(rng, leads, cust, opp, reps, totals)
    day = act.minute // 1440
    minute_of_day = act.minute % 1440
    rep_names = pl.Series(reps.name, dtype=pl.String)
    pad = [""]  # index -1 -> "" -> null
    cust_ids = pl.Series([*cust.customer_id, *pad], dtype=pl.String)
    lead_ids = pl.Series([*leads.lead_id, *pad], dtype=pl.String)
    deal_ids = pl.Series([*opp_ids, *pad], dtype=pl.String)

    def ids(series: pl.Series, idx: np.ndarray) -> pl.Series:
        return series.gather(np.where(idx >= 0, idx, len(series) - 1)).replace("", None)

    rows = 0
    sf = np.flatnonzero(np.isin(act.region, SALESFORCE))
    owner_ids = pl.Series(files.salesforce_ids(rng, "005", len(reps.name)), dtype=pl.String)
    low, high = DURATION[act.type[sf], 0], DURATION[act.type[sf], 1]
    duration = np.where(high > 0, low + (rng.random(len(sf)) * (high - low + 1)), np.nan)
    # the draws of files.salesforce_ids, kept as numbers until a chunk is written
    task_no = 62**7 * 17 + int(rng.integers(0, 62**7)) + np.cumsum(rng.integers(1, 900, len(sf)))

    def sf_rows(chunk: np.ndarray) -> pl.DataFrame:
        at = sf[chunk]
        return pl.DataFrame(
            {
                "Id": np.char.add("00T5g00000", files.base62(task_no[chunk], 8)).tolist(),
                "Subject": pl.Series(SUBJECTS_EN, dtype=pl.String).gather(act.purpose[at]),
                "ActivityDate": files.dates(day[at], "%Y-%m-%d"),
                "CompletedDateTime": files.timestamps(day[at], minute_of_day[at], SF_DATETIME),
                "Type": pl.Series(SF_TYPES, dtype=pl.String).gather(act.type[at]),
                "DurationInMinutes": pl.Series(np.floor(duration[chunk]))
                .fill_nan(None)
                .cast(pl.Int64),
                "Status": pl.Series(["Completed"] * len(at), dtype=pl.String),
                "OwnerId": owner_ids.gather(act.rep[at]),
                "Owner.Name": rep_names.gather(act.rep[at]),
                "AccountId": ids(cust_ids, act.cust[at]),
                "WhoId": ids(lead_ids, act.lead[at]),
                "WhatId": ids(deal_ids, act.opp[at]),
            },
            schema_overrides={"Id": pl.String},
        )

    rows += files.write_csv_chunks(
        (sf_rows(c) for c in files.chunks(len(sf))), landing / "crm" / "salesforce" / "tasks.csv"
    )

    hs = np.flatnonzero(np.isin(act.region, HUBSPOT))
    # the draws of files.numeric_ids
    hs_no = 71_000_000_000 + np.cumsum(rng.integers(1, 30, len(hs)))

    def hs_rows(chunk: np.ndarray) -> pl.DataFrame:
        at = hs[chunk]
        return pl.DataFrame(
            {
                "Activity ID": hs_no[chunk].astype(str).tolist(),
                "Activity date": files.timestamps(day[at], minute_of_day[at], HS_DATETIME),
                "Activity type": pl.Series(HS_TYPES, dtype=pl.String).gather(act.type[at]),
                "Activity assigned to": rep_names.gather(act.rep[at]),
                "Subject": pl.Series(SUBJECTS_EN, dtype=pl.String).gather(act.purpose[at]),
                "Associated Company ID": ids(cust_ids, act.cust[at]),
                "Associated Contact ID": ids(lead_ids, act.lead[at]),
                "Associated Deal ID": ids(deal_ids, act.opp[at]),
            },
            schema_overrides={"Activity ID": pl.String},
        )

    rows += files.write_csv_chunks(
        (hs_rows(c) for c in files.chunks(len(hs))),
        landing / "crm" / "hubspot" / "activities.csv",
        bom=True,
    )

    fx = np.flatnonzero(np.isin(act.region, FXIAOKE))
    _, first, counts = np.unique(day[fx], return_index=True, return_counts=True)
    seq = np.arange(len(fx)) - np.repeat(first, counts) + 1

    def fx_rows(chunk: np.ndarray) -> pl.DataFrame:
        at = fx[chunk]
        return pl.DataFrame(
            {
                "跟进记录编号": pl.select(
                    pl.lit("GJ")
                    + files.dates(day[at], "%Y%m%d")
                    + pl.Series(seq[chunk]).cast(pl.String).str.zfill(5)
                ).to_series(),
                "跟进时间": files.timestamps(day[at], minute_of_day[at], FX_DATETIME),
                "跟进方式": pl.Series(FX_TYPES, dtype=pl.String).gather(act.type[at]),
                "跟进人": rep_names.gather(act.rep[at]),
                "客户名称": ids(cust_ids, act.cust[at]),
                "商机编号": ids(deal_ids, act.opp[at]),
                "线索编号": ids(lead_ids, act.lead[at]),
                "跟进内容": pl.Series(SUBJECTS_ZH, dtype=pl.String).gather(act.purpose[at]),
            }
        )

    rows += files.write_csv_chunks(
        (fx_rows(c) for c in files.chunks(len(fx))),
        landing / "crm" / "fxiaoke" / "跟进记录.csv",
        encoding="gbk",
    )
    return rows
