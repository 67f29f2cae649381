"""CRM and master-data exports: how Salesforce, HubSpot and Fxiaoke write the world down.

North America and APAC live in Salesforce, EMEA in HubSpot (EUR), China in Fxiaoke
(纷享销客, GBK-encoded, CNY). Reps and products come from the master-data files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from salesdw.demo import calendar as cal
from salesdw.demo import files, names
from salesdw.demo.world import (
    CATEGORIES,
    CHANNEL_LABELS,
    REGIONS,
    SEGMENTS,
    STAGE_LOST,
    STAGE_WON,
    Customers,
    Leads,
    Opportunities,
    Products,
    Reps,
)

SF_DATE = "%-m/%-d/%Y"
HS_DATETIME = "%Y-%m-%d %H:%M"
FX_DATE = "%Y年%-m月%-d日"

SF_STAGES = [
    "",
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]
HS_STAGES = [
    "",
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
]
FX_STAGES = ["", "初步接洽", "需求确定", "需求确定", "方案报价", "谈判审核", "赢单", "输单"]
SF_PROBABILITY = np.array([0, 10, 20, 40, 60, 80, 100, 0])
HS_PROBABILITY = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 0.0])
FX_PROBABILITY = ["", "10%", "35%", "35%", "60%", "80%", "100%", "0%"]
SF_TYPES = ["New Customer", "Existing Customer - Renewal", "Existing Customer - Upgrade"]
HS_TYPES = ["New Business", "Renewal", "Upsell"]
ZH_KIND = ["新购", "续约", "增购"]

#: The deliberate defects (docs/demo_data.md lists them with their counts).
STALLED_LABEL = "Stalled"
UNKNOWN_OWNER = "Jordan Blake"  # left before the rep master was cleaned up: not in reps.csv
N_STALLED, N_NO_OWNER, N_UNKNOWN_OWNER, N_DUPLICATE_ACCOUNTS = 3, 2, 2, 4
BAD_LEAD_DATES = ["31/02/2025", "31/02/2025", "n/a"]

SALESFORCE = [REGIONS.index("North America"), REGIONS.index("APAC")]
HUBSPOT = [REGIONS.index("EMEA")]
FXIAOKE = [REGIONS.index("China")]


def _gather(values: list[str], idx: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(idx)


def _minutes(rng: np.random.Generator, n: int) -> np.ndarray:
    """A time of day in office hours, in minutes."""
    return rng.integers(8 * 60, 18 * 60, n)


# ---------------------------------------------------------------------- master data


def write_master(landing: Path, reps: Reps, products: Products) -> dict[str, int]:
    reps_df = pl.DataFrame(
        {
            "Full Name": reps.name,
            "Team": reps.team,
            "Manager": reps.manager,
            "Region": [REGIONS[r] for r in reps.region.tolist()],
            "Hire Date": files.dates(reps.hire, "%Y-%m-%d"),
            "Active": ["true" if a else "false" for a in reps.active.tolist()],
        }
    )
    products_df = pl.DataFrame(
        {
            "SKU": products.product_id,
            "Product Name": products.name,
            "Product Line": [CATEGORIES[c] for c in products.category.tolist()],
            "List Price": products.list_price,
            "Unit Cost": products.unit_cost,
        }
    )
    return {
        "reps": files.write_csv(reps_df, landing / "master" / "reps.csv"),
        "products": files.write_csv(products_df, landing / "master" / "products.csv"),
    }


# ------------------------------------------------------------------------ customers


def assign_customer_ids(rng: np.random.Generator, cust: Customers) -> None:
    """Salesforce Account IDs, HubSpot Record IDs, and the company name in Fxiaoke."""
    ids = np.array(cust.name, dtype=object)
    sf = np.flatnonzero(np.isin(cust.region, SALESFORCE))
    ids[sf] = files.salesforce_ids(rng, "001", len(sf))
    hs = np.flatnonzero(np.isin(cust.region, HUBSPOT))
    ids[hs] = files.numeric_ids(rng, 8_100_000_000, len(hs))
    cust.customer_id = ids.tolist()


def _customer_base(cust: Customers, reps: Reps, sel: np.ndarray) -> dict[str, pl.Series]:
    end = cal.day(cal.END)
    owner = reps.owner_at(cust.owner[sel], np.full(len(sel), end))
    return {
        "id": _gather(cust.customer_id, sel),
        "name": _gather(cust.name, sel),
        "owner": _gather(reps.name, owner),
        "segment": _gather(SEGMENTS, cust.segment[sel]),
        "country": _gather(cust.country, sel),
        "state": _gather(cust.state, sel),
        "city": _gather(cust.city, sel),
        "channel": _gather(CHANNEL_LABELS, cust.channel[sel]),
        "is_customer": pl.Series(cust.start[sel] <= end),
    }


def write_customers(rng: np.random.Generator, landing: Path, cust: Customers, reps: Reps) -> int:
    rows = 0
    # Salesforce accounts (+ a few accounts created twice under a new id, same name)
    sel = np.flatnonzero(np.isin(cust.region, SALESFORCE))
    b = _customer_base(cust, reps, sel)
    sf = pl.DataFrame(
        {
            "Account ID": b["id"],
            "Account Name": b["name"],
            "Account Owner": b["owner"],
            "Type": pl.select(
                pl.when(b["is_customer"]).then(pl.lit("Customer")).otherwise(pl.lit("Prospect"))
            ).to_series(),
            "Customer Segment": b["segment"],
            "Industry": _gather(names.INDUSTRIES_EN, cust.industry[sel]),
            "Billing City": b["city"],
            "Billing State/Province": b["state"],
            "Billing Country": b["country"],
            "Account Source": b["channel"],
            "Created Date": files.dates(cust.created[sel], SF_DATE),
        }
    )
    dup_rows = np.sort(rng.choice(sf.height, N_DUPLICATE_ACCOUNTS, replace=False))
    dups = sf[dup_rows.tolist()].with_columns(
        pl.Series("Account ID", files.salesforce_ids(rng, "001", N_DUPLICATE_ACCOUNTS)).str.replace(
            "5g00000", "5g00001"
        ),
        pl.lit("Prospect").alias("Type"),
        pl.Series(
            "Created Date",
            files.dates(
                np.full(N_DUPLICATE_ACCOUNTS, cal.day(cal.END) - 40)
                - np.arange(N_DUPLICATE_ACCOUNTS) * 9,
                SF_DATE,
            ),
        ),
    )
    rows += files.write_csv(pl.concat([sf, dups]), landing / "crm" / "salesforce" / "accounts.csv")

    # HubSpot companies
    sel = np.flatnonzero(np.isin(cust.region, HUBSPOT))
    b = _customer_base(cust, reps, sel)
    hs = pl.DataFrame(
        {
            "Record ID": b["id"],
            "Company name": b["name"],
            "Company owner": b["owner"],
            "Lifecycle Stage": pl.select(
                pl.when(b["is_customer"]).then(pl.lit("customer")).otherwise(pl.lit("opportunity"))
            ).to_series(),
            "Company Tier": b["segment"],
            "Industry": _gather(names.INDUSTRIES_HUBSPOT, cust.industry[sel]),
            "City": b["city"],
            "State/Region": b["state"],
            "Country/Region": b["country"],
            "Original Traffic Source": b["channel"],
            "Create Date": files.timestamps(
                cust.created[sel], _minutes(rng, len(sel)), HS_DATETIME
            ),
        }
    )
    rows += files.write_csv(hs, landing / "crm" / "hubspot" / "companies.csv", bom=True)

    # Fxiaoke 客户 (GBK): the customer name is the key
    sel = np.flatnonzero(np.isin(cust.region, FXIAOKE))
    b = _customer_base(cust, reps, sel)
    fx = pl.DataFrame(
        {
            "客户名称": b["name"],
            "客户级别": b["segment"],
            "客户状态": pl.select(
                pl.when(b["is_customer"]).then(pl.lit("成交客户")).otherwise(pl.lit("未成交客户"))
            ).to_series(),
            "行业": _gather(names.INDUSTRIES_ZH, cust.industry[sel]),
            "国家": b["country"],
            "省份": b["state"],
            "城市": b["city"],
            "来源": b["channel"],
            "负责人": b["owner"],
            "创建时间": files.dates(cust.created[sel], FX_DATE),
        }
    )
    rows += files.write_csv(fx, landing / "crm" / "fxiaoke" / "客户.csv", encoding="gbk")
    return rows


# ---------------------------------------------------------------------------- leads


def write_leads(
    rng: np.random.Generator,
    landing: Path,
    leads: Leads,
    cust: Customers,
    reps: Reps,
    opp_ids: list[str],
) -> int:
    end = cal.day(cal.END)
    recent = leads.created > end - 30
    status_code = np.where(
        leads.converted, 0, np.where(recent, 1 + (rng.random(len(leads)) < 0.5), 3)
    )
    cust_ids = [*cust.customer_id, ""]  # index -1 -> ""
    opp_pad = [*opp_ids, ""]
    rows = 0

    sel = np.flatnonzero(np.isin(leads.region, SALESFORCE))
    created = files.dates(leads.created[sel], SF_DATE)
    bad = np.sort(rng.choice(len(sel), len(BAD_LEAD_DATES), replace=False))
    created = created.scatter(bad, BAD_LEAD_DATES)
    sf = pl.DataFrame(
        {
            "Lead ID": files.salesforce_ids(rng, "00Q", len(sel)),
            "Lead Owner": _gather(reps.name, leads.owner[sel]),
            "Lead Source": _gather(CHANNEL_LABELS, leads.channel[sel]),
            "Lead Status": _gather(
                [
                    "Closed - Converted",
                    "Open - Not Contacted",
                    "Working - Contacted",
                    "Closed - Not Converted",
                ],
                status_code[sel],
            ),
            "Created Date": created,
            "Converted Date": files.dates(leads.converted_at[sel], SF_DATE),
            "Converted Account ID": _gather(cust_ids, leads.customer[sel]),
            "Converted Opportunity ID": _gather(opp_pad, leads.opportunity[sel]),
        }
    ).with_columns(pl.col("Converted Account ID", "Converted Opportunity ID").replace("", None))
    rows += files.write_csv(sf, landing / "crm" / "salesforce" / "leads.csv")
    lead_ids = np.empty(len(leads), dtype=object)
    lead_ids[sel] = sf["Lead ID"].to_list()

    sel = np.flatnonzero(np.isin(leads.region, HUBSPOT))
    hs = pl.DataFrame(
        {
            "Record ID": files.numeric_ids(rng, 51_000, len(sel), 9),
            "Create Date": files.timestamps(
                leads.created[sel], _minutes(rng, len(sel)), HS_DATETIME
            ),
            "Original Traffic Source": _gather(CHANNEL_LABELS, leads.channel[sel]),
            "Lead Status": _gather(
                ["OPEN_DEAL", "NEW", "IN_PROGRESS", "UNQUALIFIED"], status_code[sel]
            ),
            "Contact owner": _gather(reps.name, leads.owner[sel]),
            "Became a Customer Date": files.dates(leads.converted_at[sel], "%Y-%m-%d"),
            "Associated Company ID": _gather(cust_ids, leads.customer[sel]),
        }
    ).with_columns(pl.col("Associated Company ID").replace("", None))
    rows += files.write_csv(hs, landing / "crm" / "hubspot" / "contacts.csv", bom=True)
    lead_ids[sel] = hs["Record ID"].to_list()

    sel = np.flatnonzero(np.isin(leads.region, FXIAOKE))
    fx = pl.DataFrame(
        {
            "线索编号": _daily_ids("XS", leads.created[sel], 4),
            "创建时间": files.dates(leads.created[sel], FX_DATE),
            "线索来源": _gather(CHANNEL_LABELS, leads.channel[sel]),
            "处理状态": _gather(["已转换", "未处理", "跟进中", "无效"], status_code[sel]),
            "负责人": _gather(reps.name, leads.owner[sel]),
            "转换时间": files.dates(leads.converted_at[sel], FX_DATE),
            "转换客户": _gather(cust_ids, leads.customer[sel]),
        }
    ).with_columns(pl.col("转换客户").replace("", None))
    rows += files.write_csv(fx, landing / "crm" / "fxiaoke" / "线索.csv", encoding="gbk")
    lead_ids[sel] = fx["线索编号"].to_list()
    leads.lead_id = lead_ids.tolist()
    return rows


# -------------------------------------------------------------------- opportunities


def assign_opportunity_ids(
    rng: np.random.Generator, opp: Opportunities, cust: Customers
) -> list[str]:
    region = cust.region[opp.customer]
    ids = np.empty(len(opp), dtype=object)
    sf = np.flatnonzero(np.isin(region, SALESFORCE))
    ids[sf] = files.salesforce_ids(rng, "006", len(sf))
    hs = np.flatnonzero(np.isin(region, HUBSPOT))
    ids[hs] = files.numeric_ids(rng, 19_800_000_000, len(hs), 60)
    fx = np.flatnonzero(np.isin(region, FXIAOKE))
    ids[fx] = _daily_ids("SJ", opp.created[fx], 4).to_list()
    return ids.tolist()


def _daily_ids(prefix: str, days: np.ndarray, width: int) -> pl.Series:
    """Fxiaoke-style numbers: prefix + yyyymmdd + sequence within the day (days sorted)."""
    _, first, counts = np.unique(days, return_index=True, return_counts=True)
    seq = np.arange(len(days)) - np.repeat(first, counts) + 1
    day_str = files.dates(days, "%Y%m%d")
    return pl.select(
        pl.lit(prefix) + day_str + pl.Series(seq).cast(pl.String).str.zfill(width)
    ).to_series()


def _deal_names(
    opp: Opportunities, sel: np.ndarray, cust: Customers, products: Products, kinds: list[str]
) -> pl.Series:
    account = _gather(cust.name, opp.customer[sel])
    product = _gather(products.name, opp.product[sel])
    year = pl.Series(
        opp.created[sel].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    ).cast(pl.String)
    kind = _gather(kinds, opp.kind[sel])
    return pl.select(
        pl.when(pl.Series(opp.kind[sel] == 0))
        .then(account + " - " + product)
        .otherwise(account + " - " + kind + " " + year)
    ).to_series()


def _opp_channel(opp: Opportunities, sel: np.ndarray, leads: Leads) -> pl.Series:
    labels = [*CHANNEL_LABELS, ""]
    lead = opp.lead[sel]
    idx = np.where(lead >= 0, leads.channel[np.maximum(lead, 0)], len(CHANNEL_LABELS))
    return _gather(labels, idx).replace("", None)


def write_opportunities(
    rng: np.random.Generator,
    landing: Path,
    opp: Opportunities,
    opp_ids: list[str],
    cust: Customers,
    leads: Leads,
    reps: Reps,
    products: Products,
) -> tuple[int, int]:
    """Salesforce (two exports), HubSpot and Fxiaoke deals; returns (deals, history rows)."""
    region = cust.region[opp.customer]
    early, late = cal.day(cal.EXPORT_EARLY), cal.day(cal.EXPORT_LATE)
    stage_early, stage_late = opp.stage_at(early), opp.stage_at(late)
    owner_names = [*reps.name, "", UNKNOWN_OWNER]
    owner = opp.owner.copy()

    # Salesforce: pick the defect rows among its deals open on the first export
    sf = np.flatnonzero(np.isin(region, SALESFORCE))
    open_both = sf[(stage_early[sf] >= 1) & (stage_early[sf] <= 5) & (stage_late[sf] <= 5)]
    picks = rng.choice(open_both, N_STALLED + N_NO_OWNER + N_UNKNOWN_OWNER, replace=False)
    stalled = picks[:N_STALLED]
    owner[picks[N_STALLED : N_STALLED + N_NO_OWNER]] = len(reps.name)
    owner[picks[N_STALLED + N_NO_OWNER :]] = len(reps.name) + 1
    sf_names = _deal_names(opp, sf, cust, products, ["", "Renewal", "Upgrade"])
    sf_channel = _opp_channel(opp, sf, leads)
    sf_amount = files.money_us(opp.amount[sf])

    for stage, fname in (
        (stage_early, "opportunities_2026-09-30.csv"),
        (stage_late, "opportunities_2026-10-31.csv"),
    ):
        st = stage[sf]
        labels = _gather(SF_STAGES, st)
        labels = labels.scatter(np.flatnonzero(np.isin(sf, stalled)), STALLED_LABEL)
        df = pl.DataFrame(
            {
                "Opportunity ID": _gather(opp_ids, sf),
                "Opportunity Name": sf_names,
                "Account ID": _gather(cust.customer_id, opp.customer[sf]),
                "Account Name": _gather(cust.name, opp.customer[sf]),
                "Opportunity Owner": _gather(owner_names, owner[sf]).replace("", None),
                "Stage": labels,
                "Amount": sf_amount,
                "Opportunity Currency": pl.Series(["USD"] * len(sf), dtype=pl.String),
                "Probability (%)": pl.Series(SF_PROBABILITY[st]),
                "Created Date": files.dates(opp.created[sf], SF_DATE),
                "Close Date": files.dates(opp.close[sf], SF_DATE),
                "Lead Source": sf_channel,
                "Type": _gather(SF_TYPES, opp.kind[sf]),
            }
        ).filter(pl.Series(st > 0))
        files.write_csv(df, landing / "crm" / "salesforce" / fname)
    n_deals = int((stage_late[sf] > 0).sum())
    history = _write_sf_history(rng, landing, opp, opp_ids, sf, late, owner_names, owner)

    # HubSpot deals (EUR)
    hs = np.flatnonzero(np.isin(region, HUBSPOT) & (stage_late > 0))
    st = stage_late[hs]
    hs_df = pl.DataFrame(
        {
            "Record ID": _gather(opp_ids, hs),
            "Deal Name": _deal_names(opp, hs, cust, products, HS_TYPES),
            "Pipeline": pl.Series(["Sales Pipeline"] * len(hs), dtype=pl.String),
            "Deal Stage": _gather(HS_STAGES, st),
            "Amount": opp.amount[hs],
            "Currency": pl.Series(["EUR"] * len(hs), dtype=pl.String),
            "Deal probability": HS_PROBABILITY[st],
            "Create Date": files.timestamps(opp.created[hs], _minutes(rng, len(hs)), HS_DATETIME),
            "Close Date": files.timestamps(opp.close[hs], _minutes(rng, len(hs)), HS_DATETIME),
            "Deal owner": _gather(reps.name, opp.owner[hs]),
            "Associated Company ID": _gather(cust.customer_id, opp.customer[hs]),
            "Original Traffic Source": _opp_channel(opp, hs, leads),
            "Deal Type": _gather(HS_TYPES, opp.kind[hs]),
        }
    )
    files.write_csv(hs_df, landing / "crm" / "hubspot" / "deals.csv", bom=True)
    n_deals += len(hs)

    # Fxiaoke 商机 (GBK, CNY)
    fx = np.flatnonzero(np.isin(region, FXIAOKE) & (stage_late > 0))
    st = stage_late[fx]
    fx_df = pl.DataFrame(
        {
            "商机编号": _gather(opp_ids, fx),
            "商机名称": _deal_names(opp, fx, cust, products, ZH_KIND),
            "客户名称": _gather(cust.customer_id, opp.customer[fx]),
            "负责人": _gather(reps.name, opp.owner[fx]),
            "销售阶段": _gather(FX_STAGES, st),
            "商机金额": opp.amount[fx],
            "币种": pl.Series(["CNY"] * len(fx), dtype=pl.String),
            "赢率": _gather(FX_PROBABILITY, st),
            "创建时间": files.dates(opp.created[fx], FX_DATE),
            "预计成交日期": files.dates(opp.close[fx], FX_DATE),
            "商机来源": _opp_channel(opp, fx, leads),
        }
    )
    files.write_csv(fx_df, landing / "crm" / "fxiaoke" / "商机.csv", encoding="gbk")
    n_deals += len(fx)
    return n_deals, history


def _write_sf_history(
    rng: np.random.Generator,
    landing: Path,
    opp: Opportunities,
    opp_ids: list[str],
    sf: np.ndarray,
    as_of: int,
    owner_names: list[str],
    owner: np.ndarray,
) -> int:
    """One row per stage a Salesforce deal entered, up to the export day."""
    from salesdw.demo.world import STAGE_ENTRY

    cycle = opp.close[sf] - opp.created[sf]
    entered = np.stack(
        [opp.created[sf] + (STAGE_ENTRY[k] * cycle).astype(np.int64) for k in range(5)]
        + [opp.close[sf]],
        axis=1,
    )  # (n, 6): stages 1..5, then the closing stage
    reached = np.concatenate(
        [np.arange(1, 6)[None, :] <= opp.max_stage[sf][:, None], np.ones((len(sf), 1), bool)],
        axis=1,
    )
    keep = reached & (entered <= as_of)
    row, col = np.nonzero(keep)
    stage = np.where(col < 5, col + 1, np.where(opp.won[sf][row], STAGE_WON, STAGE_LOST))
    day = entered[row, col]
    # office hours; stages entered on the same day keep their order
    minutes = 8 * 60 + col * 85 + rng.integers(0, 80, len(row))
    df = pl.DataFrame(
        {
            "Opportunity ID": _gather(opp_ids, sf[row]),
            "To Stage": _gather(SF_STAGES, stage),
            "Edit Date": files.timestamps(day, minutes, "%-m/%-d/%Y %H:%M"),
            "Edited By": _gather(owner_names, owner[sf[row]]).replace("", None),
        }
    )
    return files.write_csv(df, landing / "crm" / "salesforce" / "opportunity_history.csv")
