"""ERP order lines, streamed month by month: ``erp/order_lines_YYYY-MM.csv``.

Each month is drawn with vectorised numpy (Poisson order counts per customer, then
lines, products, prices, discounts, costs, cancellations and returns) and written
before the next month is drawn, so memory stays bounded at any scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from salesdw.demo import calendar as cal
from salesdw.demo import names
from salesdw.demo.world import (
    CATEGORY_MIX,
    NEVER,
    PRICE_LIST_FACTOR,
    REGION_CURRENCY,
    REGIONS,
    Customers,
    Products,
    Reps,
)

ERP_CHANNELS = ["Online", "Direct Sales", "Partner", "Marketplace"]
#: Order channel mix per segment (SMB, Mid-Market, Enterprise).
CHANNEL_MIX = np.array([[0.50, 0.20, 0.15, 0.15], [0.20, 0.55, 0.25, 0.0], [0.05, 0.75, 0.20, 0.0]])
LINES_EXTRA = np.array([0.7, 1.4, 2.4])  # Poisson mean of the lines after the first
QTY_BASE = np.array([1.5, 4.0, 10.0])  # median units of a $300 item, by segment
DISCOUNT_RATES = np.array([0.0, 0.05, 0.10, 0.15, 0.20])
DISCOUNT_MIX = np.array(
    [
        [0.70, 0.15, 0.10, 0.05, 0.00],
        [0.55, 0.20, 0.15, 0.07, 0.03],
        [0.35, 0.20, 0.25, 0.12, 0.08],
    ]
)
CURRENCIES = ["USD", "EUR", "CNY"]
#: Rough cost-price conversion of the ERP for local costs (USD unit cost × factor).
COST_FX = np.array([1.0, 0.92, 7.1])
CANCEL_RATE = 0.03
RETURN_RATE = 0.02
MISSING_COST_RATE = 0.08  # share of USD lines without a line cost
#: List-price increases: from this month on, prices × factor (cumulative).
PRICE_LEVEL = {np.datetime64("2025-01"): 1.03, np.datetime64("2026-01"): 1.03 * 1.04}

#: The deliberate defects: (file month, kind, value).
DUPLICATE_MONTH, N_DUPLICATE_LINES = np.datetime64("2025-03"), 5
BAD_DATES = {np.datetime64("2025-02"): "31/02/2025", np.datetime64("2025-06"): "n/a"}

HEADER = [
    "Order No",
    "Line No",
    "Order Date",
    "Customer No",
    "Status",
    "Channel",
    "Sales Rep",
    "Region",
    "Country",
    "Item No",
    "Quantity",
    "Unit Price",
    "Discount",
    "Line Amount",
    "Line Cost",
    "Currency",
]
STATUS = ["Completed", "Cancelled", "Returned"]


@dataclass
class OrderTotals:
    """What the targets need to know about the orders written (amounts in USD)."""

    revenue_rep: np.ndarray  # (months, reps + 1): the last column has no rep
    revenue_region: np.ndarray  # (months, regions)
    orders: int = 0
    lines: int = 0
    cancelled_orders: int = 0
    return_orders: int = 0
    files: list[str] = field(default_factory=list)
    #: per month, the orders and returns written (``_order_log``): what the invoices,
    #: payments and follow-up activities (receivables.py, activities.py) are drawn from
    order_log: list[dict[str, np.ndarray]] = field(default_factory=list)


def _cum_choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    u = rng.random(len(probs))
    drawn: np.ndarray = (u[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    return drawn


def _alive_fraction(cust: Customers, ms: int, me: int) -> np.ndarray:
    """Share of the month [ms, me) in which each customer buys."""

    def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        days: np.ndarray = np.clip(np.minimum(b, me) - np.maximum(a, ms), 0, None)
        return days

    alive: np.ndarray = (
        overlap(cust.start, cust.churn) + overlap(cust.back, np.full_like(cust.back, NEVER))
    ) / (me - ms)
    return alive


def _calibration(cust: Customers, starts: np.ndarray, total_lines: int) -> np.ndarray:
    """Per-month factor on the purchase rates so that lines follow season × growth."""
    weights = cal.month_weights(starts)
    target = total_lines / (1 + RETURN_RATE / 2) * weights / weights.sum()
    lines_per_order = 1 + LINES_EXTRA[cust.segment] * 0.98  # the cap at 8 lines barely bites
    scale = np.zeros(len(weights))
    for m in range(len(weights)):
        expected = (
            cust.rate * _alive_fraction(cust, starts[m], starts[m + 1]) * lines_per_order
        ).sum()
        scale[m] = target[m] / max(expected, 1e-9)
    return scale


def write_order_lines(
    rng: np.random.Generator,
    landing: Path,
    cust: Customers,
    reps: Reps,
    products: Products,
    fx_month: np.ndarray,
    total_lines: int,
    progress: Callable[[str], None] | None = None,
) -> OrderTotals:
    """Write one ERP file per month; return the totals the targets are set from."""
    starts = cal.month_starts()
    n_months = len(starts) - 1
    scale = _calibration(cust, starts, total_lines)
    totals = OrderTotals(
        np.zeros((n_months, len(reps.name) + 1)), np.zeros((n_months, len(REGIONS)))
    )
    cur_of_region = np.array([CURRENCIES.index(c) for c in REGION_CURRENCY])
    cust_no = pl.Series(cust.customer_id, dtype=pl.String)
    country = pl.Series([names.ERP_COUNTRY.get(c, c) for c in cust.country], dtype=pl.String)
    rep_names = pl.Series([*reps.name, None], dtype=pl.String)
    cat_first = np.array([np.flatnonzero(products.category == c)[0] for c in range(5)])
    cat_size = np.bincount(products.category, minlength=5)
    pending: dict[str, np.ndarray] | None = None  # returns dated in a later month
    next_order, next_return = 1, 1
    end_excl = cal.day(cal.END) + 1
    out_dir = landing / "erp"
    out_dir.mkdir(parents=True, exist_ok=True)

    for m in range(n_months):
        ms, me = int(starts[m]), int(starts[m + 1])
        month = starts[m].astype("datetime64[D]").astype("datetime64[M]")
        level = 1.0
        for since, f in PRICE_LEVEL.items():
            level = f if month >= since else level

        # ---- orders: Poisson counts per customer, a first order in the start month
        cnt = rng.poisson(cust.rate * _alive_fraction(cust, ms, me) * scale[m])
        first = (cust.start >= ms) & (cust.start < me) & (cust.lead >= 0)
        cnt = np.where(first & (cnt == 0), 1, cnt)
        c = np.repeat(np.arange(len(cust)), cnt)
        n_o = len(c)
        lo = np.maximum(ms, cust.start[c])
        churned = cust.churn[c] <= lo
        lo = np.where(churned, np.maximum(lo, cust.back[c]), lo)
        hi = np.where(~churned & (cust.churn[c] < me), cust.churn[c], me)
        hi = np.minimum(np.maximum(hi, lo + 1), min(me, end_excl))
        lo = np.minimum(lo, hi - 1)
        d = lo + (rng.random(n_o) * (hi - lo)).astype(np.int64)
        weekday = (d + 3) % 7  # Monday = 0
        shift = np.where(weekday == 5, -1, np.where(weekday == 6, 1, 0)) * (rng.random(n_o) < 0.8)
        d = np.where((d + shift >= ms) & (d + shift < min(me, end_excl)), d + shift, d)
        order = np.lexsort((c, d))
        c, d = c[order], d[order]
        seg = cust.segment[c]
        region = cust.region[c]
        status = np.where(rng.random(n_o) < CANCEL_RATE, 1, 0)
        channel = _cum_choice(rng, CHANNEL_MIX[seg])
        rep = np.where(channel == 3, len(reps.name), reps.owner_at(cust.owner[c], d))
        order_no = next_order + np.arange(n_o)
        next_order += n_o

        # ---- lines
        n_lines = 1 + np.minimum(rng.poisson(LINES_EXTRA[seg]), 7)
        o = np.repeat(np.arange(n_o), n_lines)
        n_l = len(o)
        line_no = np.arange(n_l) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
        seg_l = seg[o]
        cat = _cum_choice(rng, CATEGORY_MIX[seg_l])
        prod = cat_first[cat] + (rng.random(n_l) * cat_size[cat]).astype(np.int64)
        median_qty = QTY_BASE[seg_l] * (300.0 / products.list_price[prod]) ** 0.6
        qty = np.clip(np.ceil(rng.lognormal(np.log(median_qty), 0.6)), 1, 2000)
        cur = cur_of_region[region[o]]
        price = (
            products.list_price[prod]
            * np.array([PRICE_LIST_FACTOR[x] for x in CURRENCIES])[cur]
            * level
        )
        price = np.where(cur == 2, np.round(price), np.round(price, 2))
        rate = DISCOUNT_RATES[_cum_choice(rng, DISCOUNT_MIX[seg_l])]
        discount = np.round(qty * price * rate, 2)
        amount = np.round(qty * price - discount, 2)
        cost = np.round(
            qty * products.unit_cost[prod] * COST_FX[cur] * rng.uniform(0.97, 1.03, n_l), 2
        )
        cost = np.where((cur == 0) & (rng.random(n_l) < MISSING_COST_RATE), np.nan, cost)
        lines = {
            "no": order_no[o],
            "kind": np.zeros(n_l, dtype=np.int64),
            "line": line_no,
            "day": d[o],
            "cust": c[o],
            "status": status[o],
            "channel": channel[o],
            "rep": rep[o],
            "region": region[o],
            "prod": prod,
            "qty": qty,
            "price": price,
            "discount": discount,
            "amount": amount,
            "cost": cost,
            "cur": cur,
        }

        # ---- returns: a later order with negative quantity of the first line's product
        ret = np.flatnonzero((line_no == 1) & (status[o] == 0) & (rng.random(n_l) < RETURN_RATE))
        back_qty = -(1 + (rng.random(len(ret)) * qty[ret]).astype(np.int64)).astype(np.float64)
        share = -back_qty / qty[ret]
        returns = {k: v[ret] for k, v in lines.items()}
        returns.update(
            {
                "kind": np.ones(len(ret), dtype=np.int64),
                "line": np.ones(len(ret), dtype=np.int64),
                "day": returns["day"] + rng.integers(3, 26, len(ret)),
                "status": np.full(len(ret), 2),
                "qty": back_qty,
                "discount": -np.round(returns["discount"] * share, 2),
                "cost": np.round(returns["cost"] * -share, 2),
            }
        )
        returns["amount"] = np.round(back_qty * returns["price"] - returns["discount"], 2)
        returns["no"] = next_return + np.arange(len(ret))
        next_return += len(ret)
        if pending is not None:
            returns = {k: np.concatenate([pending[k], returns[k]]) for k in returns}
        now = returns["day"] < me
        pending = {k: v[~now & (returns["day"] < end_excl)] for k, v in returns.items()}
        batch = {k: np.concatenate([lines[k], returns[k][now]]) for k in lines}

        # ---- totals for the targets (USD, not cancelled)
        usd = np.where(batch["status"] == 1, 0.0, batch["amount"] * fx_month[m][batch["cur"]])
        totals.revenue_rep[m] = np.bincount(batch["rep"], weights=usd, minlength=len(reps.name) + 1)
        totals.revenue_region[m] = np.bincount(batch["region"], weights=usd, minlength=len(REGIONS))
        totals.orders += n_o + int(now.sum())
        totals.cancelled_orders += int((status == 1).sum())
        totals.return_orders += int(now.sum())
        totals.order_log.append(_order_log(lines, o, n_o, returns, now))

        df = _frame(batch, cust_no, country, rep_names, products, month)
        fname = f"order_lines_{month!s}.csv"
        df.write_csv(out_dir / fname, float_precision=2)
        totals.lines += df.height
        totals.files.append(fname)
        if progress is not None:
            progress(f"erp/{fname}: {df.height:,} order lines")
    return totals


def _order_log(
    lines: dict[str, np.ndarray],
    o: np.ndarray,
    n_o: int,
    returns: dict[str, np.ndarray],
    now: np.ndarray,
) -> dict[str, np.ndarray]:
    """One row per order (kind 0) and return (kind 1) of the month, in compact dtypes:
    number, kind, day, customer, rep, status, currency and amount (local currency)."""
    per_order = np.bincount(o, minlength=n_o)
    first = np.cumsum(per_order) - per_order  # each order's first line
    dtypes: dict[str, type[np.signedinteger[Any]]] = {
        "no": np.int32,
        "day": np.int32,
        "cust": np.int32,
        "rep": np.int32,
        "status": np.int8,
        "cur": np.int8,
    }
    log = {
        k: np.concatenate([lines[k][first], returns[k][now]]).astype(t) for k, t in dtypes.items()
    }
    log["kind"] = np.concatenate([np.zeros(n_o), np.ones(int(now.sum()))]).astype(np.int8)
    log["amount"] = np.round(
        np.concatenate(
            [np.bincount(o, weights=lines["amount"], minlength=n_o), returns["amount"][now]]
        ),
        2,
    )
    return log


def _frame(
    batch: dict[str, np.ndarray],
    cust_no: pl.Series,
    country: pl.Series,
    rep_names: pl.Series,
    products: Products,
    month: np.datetime64,
) -> pl.DataFrame:
    """The month's lines as the ERP exports them, sorted by date, order and line."""
    order = np.lexsort((batch["line"], batch["no"], batch["kind"], batch["day"]))
    b = {k: v[order] for k, v in batch.items()}
    if month == DUPLICATE_MONTH:  # the same lines exported twice, next to each other
        n = len(b["no"])
        dup = np.linspace(n // 7, n - n // 7, N_DUPLICATE_LINES).astype(np.int64)
        take = np.sort(np.concatenate([np.arange(n), dup]), kind="stable")
        b = {k: v[take] for k, v in b.items()}
    prefix = np.where(b["kind"] == 0, "SO-", "RT-")
    order_no = pl.select(
        pl.Series(prefix) + pl.Series(b["no"]).cast(pl.String).str.zfill(8)
    ).to_series()
    order_date = pl.Series(b["day"].astype("datetime64[D]")).dt.strftime("%Y-%m-%d")
    if month in BAD_DATES:  # one single-line completed order with an unreadable date
        single = np.flatnonzero(
            (b["kind"] == 0) & (b["status"] == 0) & (b["line"] == 1) & (np.roll(b["line"], -1) == 1)
        )
        order_date = order_date.scatter(single[len(single) // 2], BAD_DATES[month])
    return pl.DataFrame(
        {
            "Order No": order_no,
            "Line No": b["line"],
            "Order Date": order_date,
            "Customer No": cust_no.gather(b["cust"]),
            "Status": pl.Series(STATUS, dtype=pl.String).gather(b["status"]),
            "Channel": pl.Series(ERP_CHANNELS, dtype=pl.String).gather(b["channel"]),
            "Sales Rep": rep_names.gather(b["rep"]),
            "Region": pl.Series(REGIONS, dtype=pl.String).gather(b["region"]),
            "Country": country.gather(b["cust"]),
            "Item No": pl.Series(products.product_id, dtype=pl.String).gather(b["prod"]),
            "Quantity": b["qty"].astype(np.int64),
            "Unit Price": b["price"],
            "Discount": b["discount"],
            "Line Amount": b["amount"],
            "Line Cost": pl.Series(b["cost"]).fill_nan(None),
            "Currency": pl.Series(CURRENCIES, dtype=pl.String).gather(b["cur"]),
        }
    )
