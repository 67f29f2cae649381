"""Invoices and payments (回款): ``erp/invoices_YYYY-MM.csv``, ``erp/receipts_YYYY-MM.csv``
and Fxiaoke ``crm/fxiaoke/回款.csv``.

Every completed order is invoiced by the ERP a few days after it is placed, with payment
terms by segment; some cancelled orders leave a void invoice. Each customer has its own
habit of paying late; a few invoices are never paid, some are paid in two instalments,
some payments name no invoice, a few are paid twice (an overpayment: the customer's
credit) and some of those are refunded. The ERP receives the money of North America,
EMEA and APAC; China's 回款 are recorded in Fxiaoke (GBK, Chinese headers) against the
ERP's invoice numbers. All draws are vectorised over the whole order log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from salesdw.demo import calendar as cal
from salesdw.demo import files
from salesdw.demo.orders import CURRENCIES, OrderTotals
from salesdw.demo.world import NEVER, REGIONS, Customers, Reps

#: Payment terms in days, by segment (SMB, Mid-Market, Enterprise).
TERMS_DAYS = np.array([30, 45, 60])
#: Mean share of a customer's invoices paid late, by segment (each customer draws its own).
LATE_SHARE = np.array([0.20, 0.24, 0.30])
LATE_DAYS_MEDIAN = 9.0  # days after the due date, log-normal
NEVER_PAID = np.array([0.020, 0.010, 0.004])  # share of invoices never paid, by segment
INSTALMENTS = np.array([0.0, 0.10, 0.15])  # share paid in two instalments, by segment
VOID_SHARE = 0.30  # cancelled orders whose invoice was issued, then voided
UNREFERENCED = 0.12  # payments that name no invoice (applied to the oldest open one)
PAID_TWICE = 0.0015  # invoices paid twice: the second payment is the customer's credit
REFUNDED = 0.5  # share of the double payments refunded (a negative payment)

ERP_METHODS = ["Wire Transfer", "ACH", "Credit Card", "Check"]
ERP_METHOD_MIX = np.array([0.55, 0.25, 0.12, 0.08])
FX_METHODS = ["银行转账", "承兑汇票", "支付宝", "现金"]
FX_METHOD_MIX = np.array([0.78, 0.14, 0.06, 0.02])
INVOICE_HEADER_STATUS = ["Open", "Paid", "Void"]
CHINA = REGIONS.index("China")


@dataclass
class Invoices:
    """The invoices issued (sorted by invoice day); ``paid_day``: when the last payment
    meant for it arrives (NEVER: never paid), for the ERP's status column."""

    order_no: np.ndarray
    day: np.ndarray
    due: np.ndarray
    cust: np.ndarray
    rep: np.ndarray  # rep index; len(reps.name) = none (Marketplace)
    cur: np.ndarray
    amount: np.ndarray
    void: np.ndarray
    paid_day: np.ndarray

    def __len__(self) -> int:
        return len(self.day)


def _concat_log(totals: OrderTotals) -> dict[str, np.ndarray]:
    return {k: np.concatenate([m[k] for m in totals.order_log]) for k in totals.order_log[0]}


def make_invoices(rng: np.random.Generator, cust: Customers, totals: OrderTotals) -> Invoices:
    """One invoice per completed order (a void one for some cancelled orders)."""
    log = _concat_log(totals)
    end = cal.day(cal.END)
    orders = log["kind"] == 0
    completed = orders & (log["status"] == 0)
    voided = orders & (log["status"] == 1) & (rng.random(len(orders)) < VOID_SHARE)
    keep = np.flatnonzero(completed | voided)
    day = np.minimum(
        log["day"][keep].astype(np.int64) + rng.choice([0, 0, 1, 2, 3], len(keep)), end
    )
    c = log["cust"][keep].astype(np.int64)
    order = np.lexsort((log["no"][keep], day))
    keep, day, c = keep[order], day[order], c[order]
    return Invoices(
        order_no=log["no"][keep].astype(np.int64),
        day=day,
        due=day + TERMS_DAYS[cust.segment[c]],
        cust=c,
        rep=log["rep"][keep].astype(np.int64),
        cur=log["cur"][keep].astype(np.int64),
        amount=log["amount"][keep],
        void=voided[keep],
        paid_day=np.full(len(keep), NEVER),
    )


@dataclass
class Payments:
    """Payments (sorted by day): the invoice each is meant for, whether it names it."""

    day: np.ndarray
    invoice: np.ndarray  # index into Invoices
    amount: np.ndarray
    referenced: np.ndarray  # bool
    method: np.ndarray  # index into the method list of the system

    def __len__(self) -> int:
        return len(self.day)


def make_payments(rng: np.random.Generator, cust: Customers, inv: Invoices) -> Payments:
    """The payments of the invoices up to the last data day; sets ``inv.paid_day``."""
    n = len(inv)
    seg = cust.segment[inv.cust]
    # each customer's habit: the share of its invoices it pays late (beta, mean by segment)
    a = 1.5
    late_share = rng.beta(a, a / LATE_SHARE[cust.segment] - a)
    late = rng.random(n) < late_share[inv.cust]
    never = (rng.random(n) < NEVER_PAID[seg]) | inv.void
    terms = inv.due - inv.day
    on_time_day = inv.day + (terms * rng.uniform(0.35, 1.0, n)).astype(np.int64)
    days_late = np.ceil(rng.lognormal(np.log(LATE_DAYS_MEDIAN), 1.0, n)).astype(np.int64)
    pay_day = np.where(late, inv.due + np.minimum(days_late, 400), on_time_day)
    inv.paid_day = np.where(never, NEVER, pay_day)

    paid = np.flatnonzero(~never)
    # instalments: a first part halfway to the pay day, the rest on the pay day
    split = ~never & (rng.random(n) < INSTALMENTS[seg])
    parts = np.flatnonzero(split)
    first_part = np.round(inv.amount * rng.uniform(0.3, 0.7, n), 2)
    # paid twice: the same amount again a few days later, sometimes refunded weeks after
    twice = np.flatnonzero(~never & (rng.random(n) < PAID_TWICE))
    twice_day = pay_day[twice] + rng.integers(1, 10, len(twice))
    refunded = rng.random(len(twice)) < REFUNDED
    refund = twice[refunded]
    day = np.concatenate(
        [
            pay_day[paid],
            inv.day[parts] + (pay_day[parts] - inv.day[parts]) // 2,
            twice_day,
            twice_day[refunded] + rng.integers(14, 45, len(refund)),
        ]
    )
    invoice = np.concatenate([paid, parts, twice, refund])
    amount = np.concatenate(
        [
            np.where(
                split[paid], np.round(inv.amount[paid] - first_part[paid], 2), inv.amount[paid]
            ),
            first_part[parts],
            inv.amount[twice],
            -inv.amount[refund],
        ]
    )
    kept = np.flatnonzero(day <= cal.day(cal.END))
    kept = kept[np.lexsort((invoice[kept], day[kept]))]
    m = len(kept)
    china = cust.region[inv.cust[invoice[kept]]] == CHINA
    method = np.where(
        china,
        rng.choice(len(FX_METHODS), size=m, p=FX_METHOD_MIX),
        rng.choice(len(ERP_METHODS), size=m, p=ERP_METHOD_MIX),
    )
    return Payments(
        day=day[kept],
        invoice=invoice[kept],
        amount=amount[kept],
        # refunds name the invoice they refund; other payments now and then name none
        referenced=(amount[kept] < 0) | (rng.random(m) >= UNREFERENCED),
        method=method,
    )


def _order_ids(no: np.ndarray) -> pl.Series:
    return pl.select(pl.lit("SO-") + pl.Series(no).cast(pl.String).str.zfill(8)).to_series()


def write_receivables(
    rng: np.random.Generator,
    landing: Path,
    cust: Customers,
    reps: Reps,
    totals: OrderTotals,
) -> tuple[int, int]:
    """Write the ERP invoices and receipts and Fxiaoke's 回款; returns (invoices, payments)."""
    inv = make_invoices(rng, cust, totals)
    pay = make_payments(rng, cust, inv)
    end = cal.day(cal.END)
    cust_ids = pl.Series(cust.customer_id, dtype=pl.String)
    rep_names = pl.Series([*reps.name, None], dtype=pl.String)
    currencies = pl.Series(CURRENCIES, dtype=pl.String)
    status = np.where(inv.void, 2, np.where(inv.paid_day <= end, 1, 0))

    def invoice_rows(rows: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "Invoice No": _invoice_ids(rows),
                "Invoice Date": files.dates(inv.day[rows], "%Y-%m-%d"),
                "Due Date": files.dates(inv.due[rows], "%Y-%m-%d"),
                "Invoice Amount": inv.amount[rows],
                "Customer No": cust_ids.gather(inv.cust[rows]),
                "Order No": _order_ids(inv.order_no[rows]),
                "Sales Rep": rep_names.gather(inv.rep[rows]),
                "Status": pl.Series(INVOICE_HEADER_STATUS, dtype=pl.String).gather(status[rows]),
                "Currency": currencies.gather(inv.cur[rows]),
            }
        )

    _write_monthly(invoice_rows, inv.day, landing / "erp", "invoices")

    def named_invoice(rows: np.ndarray) -> pl.Series:
        ids = _invoice_ids(pay.invoice[rows])
        return ids.scatter(np.flatnonzero(~pay.referenced[rows]), None)

    china = cust.region[inv.cust[pay.invoice]] == CHINA
    erp = np.flatnonzero(~china)

    def receipt_rows(rows: np.ndarray) -> pl.DataFrame:
        at = erp[rows]
        return pl.DataFrame(
            {
                "Receipt No": pl.select(
                    pl.lit("RC-") + pl.Series(rows + 1).cast(pl.String).str.zfill(8)
                ).to_series(),
                "Receipt Date": files.dates(pay.day[at], "%Y-%m-%d"),
                "Receipt Amount": pay.amount[at],
                "Invoice No": named_invoice(at),
                "Customer No": cust_ids.gather(inv.cust[pay.invoice[at]]),
                "Order No": _order_ids(inv.order_no[pay.invoice[at]]),
                "Currency": currencies.gather(inv.cur[pay.invoice[at]]),
                "Payment Method": pl.Series(ERP_METHODS, dtype=pl.String).gather(pay.method[at]),
            }
        )

    _write_monthly(receipt_rows, pay.day[erp], landing / "erp", "receipts")

    cn = np.flatnonzero(china)
    _, first, counts = np.unique(pay.day[cn], return_index=True, return_counts=True)
    seq = np.arange(len(cn)) - np.repeat(first, counts) + 1

    def huikuan_rows(rows: np.ndarray) -> pl.DataFrame:
        at = cn[rows]
        return pl.DataFrame(
            {
                "回款编号": pl.select(
                    pl.lit("HK")
                    + files.dates(pay.day[at], "%Y%m%d")
                    + pl.Series(seq[rows]).cast(pl.String).str.zfill(4)
                ).to_series(),
                "回款日期": files.dates(pay.day[at], "%Y-%m-%d"),
                "回款金额": pay.amount[at],
                "客户名称": cust_ids.gather(inv.cust[pay.invoice[at]]),
                "销售订单编号": _order_ids(inv.order_no[pay.invoice[at]]),
                "开票编号": named_invoice(at),
                "回款方式": pl.Series(FX_METHODS, dtype=pl.String).gather(pay.method[at]),
            }
        )

    files.write_csv_chunks(
        (huikuan_rows(rows) for rows in files.chunks(len(cn))),
        landing / "crm" / "fxiaoke" / "回款.csv",
        encoding="gbk",
    )
    return len(inv), len(pay)


def _invoice_ids(index: np.ndarray) -> pl.Series:
    """``INV-`` + the invoice's position (1-based, in invoice-date order), 8 digits."""
    return pl.select(
        pl.lit("INV-") + pl.Series(index + 1).cast(pl.String).str.zfill(8)
    ).to_series()


def _write_monthly(
    frame: Callable[[np.ndarray], pl.DataFrame], days: np.ndarray, folder: Path, stem: str
) -> None:
    """One CSV per month of ``days`` (sorted), ``<stem>_YYYY-MM.csv``, each built by
    ``frame`` from its row numbers: no frame of every row exists at once."""
    month = days.astype("datetime64[D]").astype("datetime64[M]")
    bounds = np.flatnonzero(np.r_[True, month[1:] != month[:-1], True])
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        files.write_csv(frame(np.arange(lo, hi)), folder / f"{stem}_{month[lo]!s}.csv")
