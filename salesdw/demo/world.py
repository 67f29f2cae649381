"""The demo company as numpy arrays: reps, products, customers, leads, opportunities.

This module decides *what happened* (who bought, which deal closed when); the export
modules decide *how each system writes it down* (headers, ids, date and amount formats).
All randomness comes from one ``numpy.random.Generator`` so that a seed fixes the world.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from salesdw.demo import calendar as cal
from salesdw.demo import names

REGIONS = ["North America", "EMEA", "APAC", "China"]
REGION_SHARE = np.array([0.38, 0.27, 0.15, 0.20])
#: CRM and currency of each region.
REGION_CRM = ["salesforce", "hubspot", "salesforce", "fxiaoke"]
REGION_CURRENCY = ["USD", "EUR", "USD", "CNY"]
TEAMS = {
    "North America": ["NA East", "NA West"],
    "EMEA": ["EMEA North", "EMEA South"],
    "APAC": ["APAC"],
    "China": ["China East", "China South"],
}
SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]
SEGMENT_SHARE = np.array([0.62, 0.28, 0.10])

#: Lead sources per region: (label as the CRM writes it, share of leads,
#: lead-to-customer conversion rate, cost per lead in the region's currency).
CHANNELS: dict[str, list[tuple[str, float, float, float]]] = {
    "North America": [
        ("Web", 0.22, 0.12, 625),
        ("Paid Search", 0.20, 0.08, 2250),
        ("Referral", 0.08, 0.30, 1000),
        ("Trade Show", 0.10, 0.15, 6250),
        ("Partner", 0.08, 0.22, 1500),
        ("Outbound", 0.14, 0.10, 1750),
        ("Email", 0.10, 0.09, 300),
        ("Social", 0.08, 0.05, 1125),
    ],
    "EMEA": [
        ("Organic Search", 0.22, 0.12, 550),
        ("Paid Search", 0.18, 0.08, 2000),
        ("Referrals", 0.09, 0.28, 875),
        ("Offline Sources", 0.12, 0.15, 5500),
        ("Direct Traffic", 0.12, 0.10, 375),
        ("Email Marketing", 0.12, 0.09, 250),
        ("Social Media", 0.08, 0.05, 1000),
        ("Paid Social", 0.07, 0.05, 1500),
    ],
    "APAC": [
        ("Web", 0.22, 0.12, 625),
        ("Google Ads", 0.20, 0.08, 2125),
        ("Referral", 0.08, 0.30, 1000),
        ("Trade Show", 0.10, 0.15, 5750),
        ("Partner", 0.10, 0.22, 1375),
        ("Outbound", 0.12, 0.10, 1500),
        ("Email", 0.10, 0.09, 300),
        ("Social", 0.08, 0.05, 1000),
    ],
    "China": [
        ("官网", 0.22, 0.11, 3750),
        ("百度推广", 0.20, 0.07, 13000),
        ("转介绍", 0.10, 0.32, 5000),
        ("展会", 0.14, 0.16, 40000),
        ("合作伙伴", 0.08, 0.22, 8750),
        ("电话营销", 0.12, 0.09, 10000),
        ("微信", 0.14, 0.06, 6500),
    ],
}
#: Flat channel table: index -> (region index, label, share, conversion, cost per lead).
CHANNEL_TABLE = [
    (r, label, share, conv, cpl)
    for r, region in enumerate(REGIONS)
    for label, share, conv, cpl in CHANNELS[region]
]
CHANNEL_LABELS = [c[1] for c in CHANNEL_TABLE]
CHANNEL_CONVERSION = np.array([c[3] for c in CHANNEL_TABLE])

#: (category, [(name, list price USD)]) — ~30 products in 5 categories.
PRODUCTS = [
    (
        "Sensors",
        [
            ("TempSense T1", 129),
            ("TempSense T2 Pro", 219),
            ("Vibration Probe V3", 389),
            ("Air Quality AQ5", 299),
            ("Flow Meter FM2", 649),
            ("Pressure Sensor P7", 179),
        ],
    ),
    (
        "Gateways",
        [
            ("EdgeHub 100", 1490),
            ("EdgeHub 300", 2890),
            ("EdgeHub 500 Rugged", 4950),
            ("LoRa Gateway LG8", 1190),
            ("5G Gateway G5", 3690),
        ],
    ),
    (
        "Software",
        [
            ("Fleet Monitor Starter", 1800),
            ("Fleet Monitor Business", 6000),
            ("Fleet Monitor Enterprise", 24000),
            ("Analytics Add-on", 4200),
            ("API Access Pack", 2500),
            ("Predictive Maintenance Module", 9800),
            ("Compliance Reporting", 3600),
        ],
    ),
    (
        "Services",
        [
            ("Installation Day", 1400),
            ("Onboarding Package", 4500),
            ("Premium Support (yearly)", 7800),
            ("Custom Integration", 14500),
            ("Training Workshop", 2200),
            ("Site Survey", 950),
        ],
    ),
    (
        "Accessories",
        [
            ("Mounting Kit", 39),
            ("Battery Pack", 59),
            ("Outdoor Enclosure", 149),
            ("Cable Set 10m", 29),
            ("Solar Panel 20W", 189),
            ("Antenna Extender", 79),
        ],
    ),
]
CATEGORIES = [c for c, _ in PRODUCTS]
#: Category mix of order lines per segment (rows) over CATEGORIES (columns).
CATEGORY_MIX = np.array(
    [
        [0.36, 0.12, 0.14, 0.08, 0.30],
        [0.30, 0.16, 0.20, 0.14, 0.20],
        [0.24, 0.18, 0.26, 0.20, 0.12],
    ]
)
#: Local price lists: price in currency = USD list price × factor, rounded.
PRICE_LIST_FACTOR = {"USD": 1.0, "EUR": 0.95, "CNY": 6.8}


@dataclass
class Reps:
    """Sales reps; index = position. ``end`` is the leaving day (huge for active reps)."""

    name: list[str]
    region: np.ndarray  # int, index into REGIONS
    team: list[str]
    manager: list[str]
    hire: np.ndarray  # day numbers
    end: np.ndarray  # day numbers; ACTIVE_FOREVER when still employed
    successor: np.ndarray  # rep index taking over the accounts (self when active)

    @property
    def active(self) -> np.ndarray:
        return self.end >= ACTIVE_FOREVER

    def owner_at(self, rep: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The rep owning an account on a day: the original owner, or the successor."""
        return np.where(days < self.end[rep], rep, self.successor[rep])


ACTIVE_FOREVER = np.int64(10**6)
NEVER = np.int64(10**6)


@dataclass
class Products:
    product_id: list[str]
    name: list[str]
    category: np.ndarray  # index into CATEGORIES
    list_price: np.ndarray  # USD
    unit_cost: np.ndarray  # USD


@dataclass
class Customers:
    """Accounts. Ids are assigned later per CRM (see ``exports``)."""

    region: np.ndarray
    segment: np.ndarray
    country: list[str]  # per customer
    state: list[str]
    city: list[str]
    industry: np.ndarray  # index into the industry lists of names.py
    channel: np.ndarray  # index into CHANNEL_TABLE
    created: np.ndarray
    owner: np.ndarray  # original owner (rep index)
    lead: np.ndarray  # lead index or -1 (pre-2024 customers)
    start: np.ndarray  # first purchase day, NEVER for prospects
    churn: np.ndarray  # day the customer stops buying, NEVER if it does not
    back: np.ndarray  # day a churned customer comes back, NEVER if it does not
    rate: np.ndarray  # relative purchase rate (orders per month before calibration)
    name: list[str]
    customer_id: list[str]

    def __len__(self) -> int:
        return len(self.region)


@dataclass
class Leads:
    created: np.ndarray
    region: np.ndarray
    channel: np.ndarray
    owner: np.ndarray
    converted: np.ndarray  # bool
    converted_at: np.ndarray  # NEVER when not converted
    customer: np.ndarray  # customer index or -1
    opportunity: np.ndarray  # opportunity index or -1
    #: the CRM's lead ids, set when the lead exports are written (crm.write_leads)
    lead_id: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.created)


#: Share of the deal cycle at which open stages 1..5 are entered.
STAGE_ENTRY = np.array([0.0, 0.10, 0.25, 0.50, 0.75])
STAGE_WON, STAGE_LOST = 6, 7


@dataclass
class Opportunities:
    customer: np.ndarray
    lead: np.ndarray  # -1 when not from a lead
    owner: np.ndarray
    created: np.ndarray
    close: np.ndarray  # actual or expected close day
    won: np.ndarray  # bool: the outcome (in the future for open deals)
    max_stage: np.ndarray  # highest open stage reached (1..5)
    amount: np.ndarray  # local currency
    kind: np.ndarray  # 0 new, 1 renewal, 2 upsell
    product: np.ndarray  # main product index

    def __len__(self) -> int:
        return len(self.created)

    def stage_at(self, day: int) -> np.ndarray:
        """Stage on ``day``: 0 not yet created, 1..5 open, 6 won, 7 lost."""
        cycle = self.close - self.created
        reached = np.zeros(len(self), dtype=np.int64)
        for k in range(5):
            entered = self.created + (STAGE_ENTRY[k] * cycle).astype(np.int64)
            reached = np.where((entered <= day) & (k + 1 <= self.max_stage), k + 1, reached)
        closed = np.where(self.won, STAGE_WON, STAGE_LOST)
        return np.where(self.close <= day, closed, np.where(self.created <= day, reached, 0))


# --------------------------------------------------------------------------- reps


def make_reps(rng: np.random.Generator, n_reps: int) -> Reps:
    """``n_reps`` reps in teams under managers, by region; ~12% have left."""
    counts = np.maximum(np.round(REGION_SHARE * n_reps).astype(int), 2)
    counts[0] += n_reps - counts.sum()
    en_pairs = list(itertools.product(names.FIRST_NAMES_EN, names.LAST_NAMES_EN))
    en_order = rng.permutation(len(en_pairs))
    zh_pairs = list(itertools.product(names.SURNAMES_ZH, names.GIVEN_ZH))
    zh_order = rng.permutation(len(zh_pairs))
    en_i = zh_i = 0

    def person(region: str) -> str:
        nonlocal en_i, zh_i
        if region == "China":
            s, g = zh_pairs[zh_order[zh_i]]
            zh_i += 1
            full: str = s + g
            return full
        f, la = en_pairs[en_order[en_i]]
        en_i += 1
        return f"{f} {la}"

    start, end = int(cal.day(cal.START)), int(cal.day(cal.END))
    name: list[str] = []
    region: list[int] = []
    team: list[str] = []
    manager: list[str] = []
    hire: list[int] = []
    leave: list[int] = []
    for r, reg in enumerate(REGIONS):
        teams = TEAMS[reg]
        managers = {t: person(reg) for t in teams}
        for i in range(counts[r]):
            t = teams[i % len(teams)]
            name.append(person(reg))
            region.append(r)
            team.append(t)
            manager.append(managers[t])
            senior = i < 2 * len(teams)  # the first two per team stay and were hired early
            if senior or rng.random() < 0.78:
                h = start - int(rng.integers(200, 3300))
            else:
                h = start + int(rng.integers(0, 700))
            hire.append(h)
            if not senior and rng.random() < 0.13:
                leave.append(max(h + 240, start + int(rng.integers(150, end - start - 60))))
            else:
                leave.append(int(ACTIVE_FOREVER))
    region_a = np.array(region)
    hire_a = np.array(hire, dtype=np.int64)
    end_a = np.array(leave, dtype=np.int64)
    successor = np.arange(len(name))
    for i in np.flatnonzero(end_a < ACTIVE_FOREVER).tolist():
        same_team = [
            j
            for j in range(len(name))
            if team[j] == team[i] and end_a[j] >= ACTIVE_FOREVER and hire_a[j] < end_a[i]
        ]
        successor[i] = same_team[int(rng.integers(len(same_team)))]
    return Reps(name, region_a, team, manager, hire_a, end_a, successor)


def pick_reps(
    rng: np.random.Generator, reps: Reps, region: np.ndarray, days: np.ndarray
) -> np.ndarray:
    """For each (region, day) a rep of the region employed that month (loops over months)."""
    out = np.zeros(len(days), dtype=np.int64)
    month = days.astype("datetime64[D]").astype("datetime64[M]")
    for m in np.unique(month):
        ms = int(m.astype("datetime64[D]").astype(np.int64))
        in_month = month == m
        for r in range(len(REGIONS)):
            sel = np.flatnonzero(in_month & (region == r))
            if len(sel) == 0:
                continue
            pool = np.flatnonzero((reps.region == r) & (reps.hire <= ms) & (reps.end > ms + 20))
            out[sel] = pool[rng.integers(0, len(pool), len(sel))]
    return out


# ----------------------------------------------------------------------- products


def make_products(rng: np.random.Generator) -> Products:
    pid: list[str] = []
    pname: list[str] = []
    cat: list[int] = []
    price: list[float] = []
    for c, (_, items) in enumerate(PRODUCTS):
        for i, (n, p) in enumerate(items):
            pid.append(f"SKU-{c + 1}{i + 1:02d}{(c * 7 + i * 3) % 10}")
            pname.append(n)
            cat.append(c)
            price.append(float(p))
    price_a = np.array(price)
    cost_ratio = rng.uniform(0.40, 0.75, len(price_a))
    cost_ratio[np.array(cat) == CATEGORIES.index("Software")] *= 0.6  # software is cheap to make
    cost = np.round(price_a * np.clip(cost_ratio, 0.40, 0.75), 2)
    return Products(pid, pname, np.array(cat), price_a, cost)


# -------------------------------------------------------------------------- leads


def make_leads(rng: np.random.Generator, reps: Reps, n: int) -> Leads:
    """Leads 2024-01..2026-10 (season × growth); conversion rate by lead source."""
    starts = cal.month_starts()
    created = cal.random_days_in_months(rng, starts, cal.month_weights(starts), n)
    region = rng.choice(len(REGIONS), size=n, p=REGION_SHARE)
    channel = np.zeros(n, dtype=np.int64)
    for r in range(len(REGIONS)):
        idx = np.array([i for i, c in enumerate(CHANNEL_TABLE) if c[0] == r])
        share = np.array([CHANNEL_TABLE[i][2] for i in idx])
        sel = np.flatnonzero(region == r)
        channel[sel] = idx[rng.choice(len(idx), size=len(sel), p=share / share.sum())]
    owner = pick_reps(rng, reps, region, created)
    converted_at = created + rng.integers(2, 45, n)
    converted = (rng.random(n) < CHANNEL_CONVERSION[channel]) & (converted_at <= cal.day(cal.END))
    converted_at = np.where(converted, converted_at, NEVER)
    return Leads(
        created,
        region,
        channel,
        owner,
        converted,
        converted_at,
        customer=np.full(n, -1),
        opportunity=np.full(n, -1),
    )


# ---------------------------------------------------------------------- customers


def _geo(rng: np.random.Generator, region: np.ndarray) -> tuple[list[str], list[str], list[str]]:
    n = len(region)
    country = [""] * n
    state = [""] * n
    city = [""] * n
    for r, reg in enumerate(REGIONS):
        sel = np.flatnonzero(region == r)
        weights = names.COUNTRY_WEIGHTS[reg]
        countries = list(weights)
        pick = rng.choice(len(countries), size=len(sel), p=np.array(list(weights.values())))
        for c, ctry in enumerate(countries):
            rows = sel[pick == c]
            places = names.GEOGRAPHY[reg][ctry]
            where = rng.integers(0, len(places), len(rows))
            for i, w in zip(rows.tolist(), where.tolist(), strict=True):
                country[i] = ctry
                state[i], city[i] = places[w]
    return country, state, city


def _company_names(
    rng: np.random.Generator, region: np.ndarray, country: list[str], cust_city: list[str]
) -> list[str]:
    """Unique company names: English style outside China, Chinese style in China."""
    out = [""] * len(region)
    china = np.flatnonzero(region == REGIONS.index("China"))
    other = np.flatnonzero(region != REGIONS.index("China"))
    brands = [a + b for a, b in itertools.permutations(names.ZH_BRAND_CHARS, 2)]
    zh_space = len(brands) * len(names.ZH_TRADE)
    cities = [c for _, c in names.GEOGRAPHY["China"]["中国"]]
    for city in sorted(set(cities)):
        in_city = [i for i in china.tolist() if cust_city[i] == city]
        zh_pick = rng.permutation(zh_space)
        for k, i in enumerate(in_city):
            code = int(zh_pick[k % zh_space])
            b, t = divmod(code, len(names.ZH_TRADE))
            legal = names.ZH_LEGAL[code % 5 == 0]
            extra = f"第{k // zh_space + 1}" if k >= zh_space else ""
            out[i] = f"{city.removesuffix('市')}{brands[b]}{names.ZH_TRADE[t]}{extra}{legal}"
    pre, core, desc = names.COMPANY_PREFIX, names.COMPANY_CORE, names.COMPANY_DESCRIPTOR
    en_space = len(pre) * len(core) * len(desc)
    en_pick = rng.permutation(en_space)
    for k, i in enumerate(other.tolist()):
        code = int(en_pick[k % en_space])
        p, rest = divmod(code, len(core) * len(desc))
        c, d = divmod(rest, len(desc))
        suffixes = names.LEGAL_SUFFIX[country[i]]
        extra = f" {k // en_space + 1}" if k >= en_space else ""
        out[i] = f"{pre[p]} {core[c]}{desc[d]}{extra} {suffixes[code % len(suffixes)]}"
    return out


def make_customers(rng: np.random.Generator, reps: Reps, leads: Leads, n_base: int) -> Customers:
    """Pre-2024 accounts plus one account per converted lead (in conversion order)."""
    start, end = cal.day(cal.START), cal.day(cal.END)
    conv = np.flatnonzero(leads.converted)
    conv = conv[np.argsort(leads.converted_at[conv], kind="stable")]
    n_new = len(conv)
    n = n_base + n_new
    base_region = rng.choice(len(REGIONS), size=n_base, p=REGION_SHARE)
    region = np.concatenate([base_region, leads.region[conv]])
    base_created = np.sort(start - rng.integers(30, 6 * 365, n_base))
    created = np.concatenate([base_created, leads.converted_at[conv]])
    base_channel = np.zeros(n_base, dtype=np.int64)
    for r in range(len(REGIONS)):
        idx = np.array([i for i, c in enumerate(CHANNEL_TABLE) if c[0] == r])
        share = np.array([CHANNEL_TABLE[i][2] for i in idx])
        sel = np.flatnonzero(base_region == r)
        base_channel[sel] = idx[rng.choice(len(idx), size=len(sel), p=share / share.sum())]
    channel = np.concatenate([base_channel, leads.channel[conv]])
    base_owner = pick_reps(rng, reps, base_region, np.full(n_base, start))
    owner = np.concatenate([base_owner, leads.owner[conv]])
    segment = rng.choice(3, size=n, p=SEGMENT_SHARE)
    lead = np.concatenate([np.full(n_base, -1), conv])
    leads.customer[conv] = np.arange(n_base, n)
    # purchase process: start set by the won new deal (make_opportunities) for new ones
    start_day = np.concatenate([np.full(n_base, start), np.full(n_new, NEVER)])
    mean_life_years = np.array([2.2, 3.5, 6.0])[segment]
    churn = start_day + (rng.exponential(mean_life_years) * 365).astype(np.int64)
    churn = np.where(start_day >= NEVER, NEVER, churn)
    comes_back = (rng.random(n) < 0.25) & (churn < end)
    back = np.where(comes_back, churn + rng.integers(150, 420, n), NEVER)
    rate = rng.gamma(2.0, 0.5, n) * np.array([0.45, 0.9, 1.6])[segment]
    country, state, city = _geo(rng, region)
    industry = rng.integers(0, len(names.INDUSTRIES_EN), n)
    cname = _company_names(rng, region, country, city)
    return Customers(
        region,
        segment,
        country,
        state,
        city,
        industry,
        channel,
        created,
        owner,
        lead,
        start_day,
        churn,
        back,
        rate,
        cname,
        customer_id=[""] * n,
    )


# -------------------------------------------------------------------- opportunities

_CYCLE_MEDIAN = np.array([45.0, 70.0, 110.0])  # days, by segment
_DEAL_USD = np.array([8_000.0, 36_000.0, 150_000.0])  # median new-deal size, by segment
_FX_LOCAL = {"USD": 1.0, "EUR": 0.92, "CNY": 7.1}


def _local_amount(usd: np.ndarray, region: np.ndarray) -> np.ndarray:
    factor = np.array([_FX_LOCAL[REGION_CURRENCY[r]] for r in range(len(REGIONS))])[region]
    local = usd * factor
    step = np.where(local > 50_000, 1000.0, 100.0)
    rounded: np.ndarray = np.maximum(np.round(local / step) * step, 500.0)
    return rounded


def make_opportunities(
    rng: np.random.Generator, reps: Reps, leads: Leads, cust: Customers, products: Products
) -> Opportunities:
    """A new-business deal per converted lead; renewals and upsells for buying customers.

    A won new-business deal starts the customer's purchases; lost ones leave a prospect.
    """
    end = cal.day(cal.END)
    # new business: one per converted lead
    c_new = np.flatnonzero(cust.lead >= 0)
    seg = cust.segment[c_new]
    n_new = len(c_new)
    cycle = np.maximum(rng.lognormal(np.log(_CYCLE_MEDIAN[seg]), 0.45), 7).astype(np.int64)
    created = cust.created[c_new]
    close = created + cycle
    won_p = np.array([0.52, 0.44, 0.36])[seg] + 0.6 * (
        CHANNEL_CONVERSION[cust.channel[c_new]] - 0.12
    )
    won = rng.random(n_new) < won_p
    usd = rng.lognormal(np.log(_DEAL_USD[seg]), 0.5)
    # purchases start shortly after a won deal
    cust.start[c_new] = np.where(won, close + rng.integers(0, 14, n_new), NEVER)
    mean_life_years = np.array([2.2, 3.5, 6.0])[seg]
    life = cust.start[c_new] + (rng.exponential(mean_life_years) * 365).astype(np.int64)
    cust.churn[c_new] = np.where(won, life, NEVER)
    comes_back = (rng.random(n_new) < 0.25) & won & (cust.churn[c_new] < end)
    cust.back[c_new] = np.where(
        comes_back, cust.churn[c_new] + rng.integers(150, 420, n_new), NEVER
    )
    lead_of = cust.lead[c_new]
    owner_new = leads.owner[lead_of]

    # renewals / upsells over each buying customer's first active span
    buying = np.flatnonzero(cust.start < NEVER)
    span_end = np.minimum(cust.churn[buying], end + 90)
    span_start = np.maximum(cust.start[buying] + 30, cal.day(cal.START))
    span = np.maximum(span_end - span_start, 0)
    per_year = np.array([0.25, 0.6, 1.1])[cust.segment[buying]]
    k = rng.poisson(per_year * span / 365.0)
    c_ex = np.repeat(buying, k)
    ex_created = np.repeat(span_start, k) + (rng.random(len(c_ex)) * np.repeat(span, k)).astype(
        np.int64
    )
    keep = ex_created <= end
    c_ex, ex_created = c_ex[keep], ex_created[keep]
    n_ex = len(c_ex)
    seg_ex = cust.segment[c_ex]
    ex_cycle = np.maximum(rng.lognormal(np.log(_CYCLE_MEDIAN[seg_ex] * 0.7), 0.4), 5).astype(
        np.int64
    )
    ex_kind = np.where(rng.random(n_ex) < np.array([0.55, 0.5, 0.6])[seg_ex], 1, 2)
    ex_won = rng.random(n_ex) < np.where(ex_kind == 1, 0.78, 0.55)
    ex_usd = rng.lognormal(np.log(_DEAL_USD[seg_ex] * np.where(ex_kind == 1, 0.8, 0.45)), 0.45)
    owner_ex = reps.owner_at(cust.owner[c_ex], ex_created)

    customer = np.concatenate([c_new, c_ex])
    lost_stage = rng.choice([1, 2, 3, 4, 5], size=n_new + n_ex, p=[0.25, 0.25, 0.2, 0.18, 0.12])
    won_all = np.concatenate([won, ex_won])
    product_cat = rng.choice(len(CATEGORIES), size=n_new + n_ex, p=[0.15, 0.25, 0.35, 0.2, 0.05])
    product = np.array([np.flatnonzero(products.category == c)[0] for c in range(len(CATEGORIES))])[
        product_cat
    ] + rng.integers(0, 5, n_new + n_ex)
    opp = Opportunities(
        customer=customer,
        lead=np.concatenate([lead_of, np.full(n_ex, -1)]),
        owner=np.concatenate([owner_new, owner_ex]),
        created=np.concatenate([created, ex_created]),
        close=np.concatenate([close, ex_created + ex_cycle]),
        won=won_all,
        max_stage=np.where(won_all, 5, lost_stage),
        amount=_local_amount(np.concatenate([usd, ex_usd]), cust.region[customer]),
        kind=np.concatenate([np.zeros(n_new, dtype=np.int64), ex_kind]),
        product=np.minimum(product, len(products.product_id) - 1),
    )
    order = np.lexsort((opp.customer, opp.created))
    for f in (
        "customer",
        "lead",
        "owner",
        "created",
        "close",
        "won",
        "max_stage",
        "amount",
        "kind",
        "product",
    ):
        setattr(opp, f, getattr(opp, f)[order])
    has_lead = opp.lead >= 0
    leads.opportunity[opp.lead[has_lead]] = np.flatnonzero(has_lead)
    return opp
