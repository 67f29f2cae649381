"""Predictive customer lifetime value: BG/NBD for purchases, Gamma-Gamma for spend.

Definitions (SPEC.md section 6, "Predictive CLV"; full write-up in docs/clv.md):

- A transaction is one customer-day: purchases of one customer on one day are merged
  into one transaction whose value is the sum of their amounts.
- Only transactions dated up to and including ``calibration_end`` are used; customers
  whose first purchase is after ``calibration_end`` are left out.
- Per customer: ``frequency`` x = number of repeat transactions (distinct days after the
  first), ``recency`` t_x = time from the first to the last transaction, ``t`` T = time
  from the first transaction to ``calibration_end``, ``monetary_value`` = mean value of
  the repeat transactions (the first one excluded; null when x = 0). Times are in the
  time unit: day = 1 day, week = 7 days, month = 365.25 / 12 days.
- BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way") for the
  number of transactions and P(alive); Gamma-Gamma (Fader & Hardie 2013, "The
  Gamma-Gamma Model of Monetary Value") for the value per transaction. Both are fitted
  by maximum likelihood with log-parameters (``scipy.optimize.minimize``).
- CLV is the discounted expected revenue over the horizon, computed in monthly steps:
  CLV = sum_k (E[Y(tau_k)] - E[Y(tau_{k-1})]) * E[M] / (1 + monthly_rate) ** m_k, with
  tau_k the end of month k of the horizon (the last step ends at the horizon, possibly
  part of a month), m_k = tau_k in months, and monthly_rate = (1 + annual) ** (1/12) - 1.

All functions are pure: they take polars frames or numpy arrays and return new ones.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.optimize import minimize
from scipy.special import (
    betaln,
    expit,
    gammaln,
    hyp2f1,
)

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike
_Objective = Callable[[FloatArray], float]

DAYS_PER_TIME_UNIT: Final[dict[str, float]] = {
    "day": 1.0,
    "week": 7.0,
    "month": 365.25 / 12.0,
}
DAYS_PER_MONTH: Final[float] = 365.25 / 12.0
MIN_CUSTOMERS: Final[int] = 10
# Search box of the fits. Beyond it the models are in a degenerate limit (r -> inf: all
# customers buy at the same rate; a -> 0: nobody drops out) where the BG/NBD forecast
# formulas lose precision; a fit that stops on the box edge is such a limit case.
BGNBD_BOUNDS: Final[tuple[tuple[float, float], ...]] = (
    (1e-6, 1e3),  # r
    (1e-6, 1e7),  # alpha
    (1e-6, 1e3),  # a
    (1e-6, 1e6),  # b
)
GAMMA_GAMMA_BOUNDS: Final[tuple[tuple[float, float], ...]] = (
    (1e-6, 1e6),  # p
    (1e-6, 1e6),  # q
    (1e-6, 1e9),  # v
)
MIN_REPEAT_BUYERS: Final[int] = 1

SUMMARY_COLUMNS: Final[tuple[str, ...]] = (
    "customer_id",
    "frequency",
    "recency",
    "t",
    "monetary_value",
)
CUSTOMER_CLV_COLUMNS: Final[tuple[str, ...]] = (
    *SUMMARY_COLUMNS,
    "p_alive",
    "expected_purchases",
    "expected_avg_value",
    "clv",
)
CLV_MODEL_SCHEMA: Final[dict[str, pl.DataType]] = {
    "model": pl.String(),
    "parameter": pl.String(),
    "value": pl.Float64(),
    "log_likelihood": pl.Float64(),
    "n_customers": pl.Int64(),
    "calibration_end": pl.Date(),
    "time_unit": pl.String(),
}


class ClvFitError(ValueError):
    """The CLV models cannot be fitted on these purchases (too few customers, ...)."""


@dataclass(frozen=True)
class BgNbdFit:
    """Fitted BG/NBD parameters.

    Purchase rate while alive ~ Gamma(shape r, rate alpha); drop-out probability after
    each transaction ~ Beta(a, b). alpha is in the time unit of the summary it was fitted
    on.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int


@dataclass(frozen=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma parameters.

    Value of one transaction ~ Gamma(shape p, rate nu) with nu ~ Gamma(shape q, rate v)
    across customers; the population mean value per transaction is p * v / (q - 1).
    """

    p: float
    q: float
    v: float
    log_likelihood: float
    n_customers: int

    @property
    def population_mean(self) -> float:
        """Mean value per transaction of a customer we know nothing about: p*v/(q-1)."""
        return self.p * self.v / (self.q - 1.0)


# --------------------------------------------------------------------------------------
# Customer summary
# --------------------------------------------------------------------------------------


def days_per_time_unit(time_unit: str) -> float:
    """Length of one time unit in days (day 1, week 7, month 365.25/12)."""
    try:
        return DAYS_PER_TIME_UNIT[time_unit]
    except KeyError:
        allowed = ", ".join(DAYS_PER_TIME_UNIT)
        raise ValueError(
            f"CLV time unit {time_unit!r} is not supported; use one of: {allowed}"
        ) from None


def clv_summary(
    transactions: pl.DataFrame,
    calibration_end: datetime.date,
    time_unit: str = "week",
) -> pl.DataFrame:
    """Per-customer frequency / recency / T / monetary value at ``calibration_end``.

    ``transactions`` holds purchases only (not cancelled, positive net amount) with
    columns ``customer_id`` (str), ``order_date`` (date) and ``amount`` (float); rows
    without a customer_id are ignored. Purchases of one customer on one day are one
    transaction (amounts summed). With the customer's transaction days d_0 < ... < d_x
    up to and including ``calibration_end`` (c) and u the length of the time unit in
    days:

        frequency      = x                       (repeat transactions)
        recency        = (d_x - d_0) / u
        t              = (c - d_0) / u
        monetary_value = mean value of the transactions on d_1 .. d_x (null if x = 0)

    Customers without a transaction up to ``calibration_end`` are left out. The result
    is sorted by customer_id.
    """
    unit_days = days_per_time_unit(time_unit)
    missing = {"customer_id", "order_date", "amount"} - set(transactions.columns)
    if missing:
        raise ValueError(
            "CLV input is missing the column(s) " + ", ".join(sorted(missing))
        )

    daily = (
        transactions.lazy()
        .select(
            pl.col("customer_id").cast(pl.String),
            pl.col("order_date").cast(pl.Date),
            pl.col("amount").cast(pl.Float64),
        )
        .filter(
            pl.col("customer_id").is_not_null()
            & (pl.col("order_date") <= calibration_end)
        )
        .group_by("customer_id", "order_date")
        .agg(pl.col("amount").sum())
    )
    per_customer = daily.group_by("customer_id").agg(
        first_date=pl.col("order_date").min(),
        last_date=pl.col("order_date").max(),
        n_days=pl.len(),
        repeat_mean=pl.col("amount").sort_by("order_date").slice(1).mean(),
    )
    frequency = pl.col("n_days").cast(pl.Int64) - 1
    return (
        per_customer.select(
            "customer_id",
            frequency.alias("frequency"),
            ((pl.col("last_date") - pl.col("first_date")).dt.total_days() / unit_days)
            .cast(pl.Float64)
            .alias("recency"),
            (
                (pl.lit(calibration_end) - pl.col("first_date")).dt.total_days()
                / unit_days
            )
            .cast(pl.Float64)
            .alias("t"),
            pl.col("repeat_mean").cast(pl.Float64).alias("monetary_value"),
        )
        .sort("customer_id")
        .collect()
    )


# --------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------


def _as_float_array(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _summary_arrays(summary: pl.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
    missing = {"frequency", "recency", "t"} - set(summary.columns)
    if missing:
        raise ValueError(
            "CLV summary is missing the column(s) " + ", ".join(sorted(missing))
        )
    return (
        summary.get_column("frequency").cast(pl.Float64).to_numpy(),
        summary.get_column("recency").cast(pl.Float64).to_numpy(),
        summary.get_column("t").cast(pl.Float64).to_numpy(),
    )


def bgnbd_log_likelihood(
    r: float,
    alpha: float,
    a: float,
    b: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    t: ArrayLike,
) -> FloatArray:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6).

    L = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x))
    """
    x = _as_float_array(frequency)
    t_x = _as_float_array(recency)
    big_t = _as_float_array(t)
    common = gammaln(r + x) - gammaln(r) + r * math.log(alpha) - betaln(a, b)
    still_alive = betaln(a, b + x) - (r + x) * np.log(alpha + big_t)
    repeat = x > 0
    x_repeat = np.where(repeat, x, 1.0)
    dropped_out = betaln(a + 1.0, b + x_repeat - 1.0) - (r + x) * np.log(alpha + t_x)
    both = np.logaddexp(still_alive, np.where(repeat, dropped_out, -np.inf))
    result: FloatArray = common + both
    return result


def fit_bgnbd(summary: pl.DataFrame) -> BgNbdFit:
    """Fit BG/NBD (r, alpha, a, b) by maximum likelihood on a ``clv_summary`` frame.

    The optimiser works on log-parameters; customers with identical
    (frequency, recency, t) are grouped and weighted, which makes the fit fast on
    large customer bases. Raises ClvFitError with fewer than 10 customers, without any
    repeat buyer, or when the optimiser does not converge.
    """
    x, t_x, big_t = _summary_arrays(summary)
    n_customers = int(x.size)
    if n_customers < MIN_CUSTOMERS:
        raise ClvFitError(
            f"Predictive CLV needs at least {MIN_CUSTOMERS} customers with a purchase "
            f"in the calibration period; found {n_customers}."
        )
    if int(np.count_nonzero(x > 0)) < MIN_REPEAT_BUYERS:
        raise ClvFitError(
            "Predictive CLV needs customers who bought again; no customer made a "
            "repeat purchase in the calibration period."
        )
    rows = np.column_stack([x, t_x, big_t])
    unique_rows, weights = np.unique(rows, axis=0, return_counts=True)
    ux, utx, ut = unique_rows[:, 0], unique_rows[:, 1], unique_rows[:, 2]
    w = weights.astype(np.float64)

    def negative_log_likelihood(log_params: FloatArray) -> float:
        r, alpha, a, b = np.exp(log_params)
        ll = bgnbd_log_likelihood(r, alpha, a, b, ux, utx, ut)
        return -float(np.dot(w, ll)) / n_customers

    # Start near a typical fit with alpha on the scale of the observation windows.
    start = np.log([1.0, max(float(np.mean(big_t)), 1e-3), 1.0, 1.0])
    params = _minimise(negative_log_likelihood, start, BGNBD_BOUNDS, model="BG/NBD")
    r, alpha, a, b = (float(value) for value in np.exp(params))
    log_likelihood = float(np.dot(w, bgnbd_log_likelihood(r, alpha, a, b, ux, utx, ut)))
    return BgNbdFit(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=log_likelihood,
        n_customers=n_customers,
    )


def p_alive(
    fit: BgNbdFit, frequency: ArrayLike, recency: ArrayLike, t: ArrayLike
) -> FloatArray:
    """P(customer still alive at T | x, t_x, T) (Fader, Hardie & Lee 2005, eq. 11).

    P = 1 / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x));
    1 for a customer without repeat purchases (under BG/NBD one can only drop out right
    after a repeat purchase).
    """
    x = _as_float_array(frequency)
    t_x = _as_float_array(recency)
    big_t = _as_float_array(t)
    x_repeat = np.where(x > 0, x, 1.0)
    log_odds_dead = (
        math.log(fit.a)
        - np.log(fit.b + x_repeat - 1.0)
        + (fit.r + x) * (np.log(fit.alpha + big_t) - np.log(fit.alpha + t_x))
    )
    result: FloatArray = np.where(x > 0, expit(-log_odds_dead), 1.0)
    return result


def expected_purchases(
    fit: BgNbdFit,
    frequency: ArrayLike,
    recency: ArrayLike,
    t: ArrayLike,
    horizon: ArrayLike,
) -> FloatArray:
    """E[number of transactions in (T, T + horizon] | x, t_x, T] (FHL 2005, eq. 10).

    E = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+h))^(r+x)
            * 2F1(r+x, b+x; a+b+x-1; h/(alpha+T+h))] * P(alive).
    With z = h/(alpha+T+h), Euler's transformation gives
    (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
    which stays finite for customers with many purchases. ``horizon`` broadcasts
    against the customer arrays (e.g. shape (n, 1) against (n_steps,)).
    """
    x = _as_float_array(frequency)
    big_t = _as_float_array(t)
    h = _as_float_array(horizon)
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    one_minus_z = (alpha + big_t) / (alpha + big_t + h)
    z = 1.0 - one_minus_z
    tail = one_minus_z ** (a - 1.0) * hyp2f1(
        a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z
    )
    conditional = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
    result: FloatArray = conditional * p_alive(fit, frequency, recency, t)
    return result


# --------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------


def gamma_gamma_log_likelihood(
    p: float, q: float, v: float, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """Per-customer Gamma-Gamma log-likelihood of the mean repeat value m_x (x > 0).

    f(m_x | x) = Gamma(p x + q) / (Gamma(p x) Gamma(q)) * v^q m_x^(p x - 1) x^(p x)
                 / (v + x m_x)^(p x + q)          (Fader & Hardie 2013, eq. 3)
    """
    x = _as_float_array(frequency)
    m = _as_float_array(monetary_value)
    px = p * x
    result: FloatArray = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * math.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + x * m)
    )
    return result


def _repeat_buyers(summary: pl.DataFrame) -> tuple[FloatArray, FloatArray]:
    if "monetary_value" not in summary.columns or "frequency" not in summary.columns:
        raise ValueError("CLV summary needs the columns frequency and monetary_value")
    buyers = summary.filter((pl.col("frequency") > 0) & (pl.col("monetary_value") > 0))
    return (
        buyers.get_column("frequency").cast(pl.Float64).to_numpy(),
        buyers.get_column("monetary_value").cast(pl.Float64).to_numpy(),
    )


def fit_gamma_gamma(summary: pl.DataFrame) -> GammaGammaFit:
    """Fit Gamma-Gamma (p, q, v) by maximum likelihood on the repeat buyers.

    Uses customers with frequency > 0 and monetary_value > 0 (the mean value of their
    repeat transactions). Raises ClvFitError without repeat buyers, when the optimiser
    does not converge, or when q <= 1 (the fitted spend distribution then has no finite
    mean, so CLV would be unbounded).
    """
    x, m = _repeat_buyers(summary)
    n_customers = int(x.size)
    if n_customers < MIN_REPEAT_BUYERS:
        raise ClvFitError(
            "The spend model needs customers with a repeat purchase of positive value "
            "in the calibration period; there are none."
        )

    def negative_log_likelihood(log_params: FloatArray) -> float:
        p, q, v = np.exp(log_params)
        return -float(np.sum(gamma_gamma_log_likelihood(p, q, v, x, m))) / n_customers

    start = np.log([1.0, 2.0, max(float(np.mean(m)), 1e-9)])
    params = _minimise(
        negative_log_likelihood, start, GAMMA_GAMMA_BOUNDS, model="Gamma-Gamma"
    )
    p, q, v = (float(value) for value in np.exp(params))
    if q <= 1.0:
        raise ClvFitError(
            f"The spend model fitted q = {q:.3f} <= 1: transaction values are too "
            "dispersed for a finite expected value per transaction."
        )
    log_likelihood = float(np.sum(gamma_gamma_log_likelihood(p, q, v, x, m)))
    return GammaGammaFit(
        p=p, q=q, v=v, log_likelihood=log_likelihood, n_customers=n_customers
    )


def expected_avg_value(
    fit: GammaGammaFit, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """E[value per transaction | x, m_x] (Fader & Hardie 2013, eq. 5).

    E[M] = p (v + x m_x) / (p x + q - 1)
         = (q-1)/(p x + q - 1) * p v/(q-1) + p x/(p x + q - 1) * m_x,
    a weighted mean of the population mean p v / (q - 1) and the customer's own mean;
    for x = 0 (or a null / non-positive m_x) the population mean.
    """
    x = _as_float_array(frequency)
    m = _as_float_array(monetary_value)
    known = (x > 0) & np.isfinite(m) & (m > 0)
    x_known = np.where(known, x, 0.0)
    m_known = np.where(known, m, 0.0)
    px = fit.p * x_known
    result: FloatArray = fit.p * (fit.v + x_known * m_known) / (px + fit.q - 1.0)
    return result


# --------------------------------------------------------------------------------------
# CLV
# --------------------------------------------------------------------------------------


def _monthly_step_ends(horizon: float, time_unit: str) -> FloatArray:
    """Ends of the monthly steps of the horizon, in time units; the last is the horizon."""
    months_per_unit = days_per_time_unit(time_unit) / DAYS_PER_MONTH
    horizon_months = horizon * months_per_unit
    whole = np.arange(1, math.ceil(horizon_months - 1e-9), dtype=np.float64)
    ends_months = np.append(whole, horizon_months)
    result: FloatArray = ends_months / months_per_unit
    return result


def discounted_clv(
    bgnbd: BgNbdFit,
    frequency: ArrayLike,
    recency: ArrayLike,
    t: ArrayLike,
    avg_value: ArrayLike,
    horizon: float,
    discount_rate_annual: float,
    time_unit: str,
) -> FloatArray:
    """Discounted expected revenue over ``horizon`` time units, in monthly steps.

    CLV = sum_k (E[Y(tau_k)] - E[Y(tau_{k-1})]) * avg_value / (1 + monthly_rate)^m_k
    with tau_0 = 0, tau_k = end of month k (the last step ends at the horizon), m_k the
    step end in months and monthly_rate = (1 + discount_rate_annual)^(1/12) - 1.
    """
    if horizon <= 0:
        result_zero: FloatArray = np.zeros_like(_as_float_array(frequency))
        return result_zero
    ends = _monthly_step_ends(horizon, time_unit)
    cumulative = expected_purchases(
        bgnbd,
        _as_float_array(frequency)[:, None],
        _as_float_array(recency)[:, None],
        _as_float_array(t)[:, None],
        ends[None, :],
    )
    per_step = np.diff(cumulative, axis=1, prepend=0.0)
    monthly_rate = (1.0 + discount_rate_annual) ** (1.0 / 12.0) - 1.0
    ends_months = ends * days_per_time_unit(time_unit) / DAYS_PER_MONTH
    discount = (1.0 + monthly_rate) ** (-ends_months)
    result: FloatArray = (per_step @ discount) * _as_float_array(avg_value)
    return result


def customer_clv(
    summary: pl.DataFrame,
    bgnbd: BgNbdFit,
    gg: GammaGammaFit,
    horizon: float,
    discount_rate_annual: float,
    time_unit: str,
) -> pl.DataFrame:
    """One row per customer: the summary, p_alive, expected purchases, value and CLV.

    ``expected_purchases`` is E[Y(horizon)] (purchases in the next ``horizon`` time
    units), ``expected_avg_value`` the Gamma-Gamma conditional mean, and ``clv`` the
    discounted expected revenue of ``discounted_clv`` (revenue, no margin applied).
    """
    x, t_x, big_t = _summary_arrays(summary)
    monetary = (
        summary.get_column("monetary_value")
        .cast(pl.Float64)
        .fill_null(np.nan)
        .to_numpy()
    )
    columns = {
        "p_alive": p_alive(bgnbd, x, t_x, big_t),
        "expected_purchases": expected_purchases(bgnbd, x, t_x, big_t, horizon),
        "expected_avg_value": expected_avg_value(gg, x, monetary),
    }
    columns["clv"] = discounted_clv(
        bgnbd,
        x,
        t_x,
        big_t,
        columns["expected_avg_value"],
        horizon,
        discount_rate_annual,
        time_unit,
    )
    for name, values in columns.items():
        if not np.all(np.isfinite(values)):
            raise ClvFitError(
                f"The fitted CLV models give no finite {name} for some customers "
                f"(BG/NBD r={bgnbd.r:.4g}, alpha={bgnbd.alpha:.4g}, a={bgnbd.a:.4g}, "
                f"b={bgnbd.b:.4g}); the purchase history is too regular or too short "
                "for the model, so CLV is skipped."
            )
    return summary.select(SUMMARY_COLUMNS).with_columns(
        pl.Series(name, values, dtype=pl.Float64) for name, values in columns.items()
    )


def model_table(
    bgnbd: BgNbdFit,
    gg: GammaGammaFit,
    calibration_end: datetime.date,
    time_unit: str,
) -> pl.DataFrame:
    """The kpi.clv_model rows: one per model parameter."""
    rows = [
        ("bgnbd", name, value, bgnbd.log_likelihood, bgnbd.n_customers)
        for name, value in (
            ("r", bgnbd.r),
            ("alpha", bgnbd.alpha),
            ("a", bgnbd.a),
            ("b", bgnbd.b),
        )
    ] + [
        ("gamma_gamma", name, value, gg.log_likelihood, gg.n_customers)
        for name, value in (("p", gg.p), ("q", gg.q), ("v", gg.v))
    ]
    return pl.DataFrame(
        [(*row, calibration_end, time_unit) for row in rows],
        schema=CLV_MODEL_SCHEMA,
        orient="row",
    )


def run_clv(
    transactions: pl.DataFrame,
    calibration_end: datetime.date,
    time_unit: str,
    horizon: float,
    discount_rate_annual: float,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Summary, both fits and CLV in one call: returns (customer_clv, clv_model).

    Raises ClvFitError when the purchases do not support a fit (the caller skips CLV).
    """
    summary = clv_summary(transactions, calibration_end, time_unit)
    bgnbd = fit_bgnbd(summary)
    gg = fit_gamma_gamma(summary)
    return (
        customer_clv(summary, bgnbd, gg, horizon, discount_rate_annual, time_unit),
        model_table(bgnbd, gg, calibration_end, time_unit),
    )


# --------------------------------------------------------------------------------------
# Optimiser
# --------------------------------------------------------------------------------------


def _minimise(
    objective: _Objective,
    start: FloatArray,
    bounds: tuple[tuple[float, float], ...],
    model: str,
) -> FloatArray:
    """Minimise over log-parameters within ``bounds``: Nelder-Mead, then L-BFGS-B.

    Non-finite objective values (overflow far from the optimum) count as +inf.
    Raises ClvFitError when no finite optimum is found.
    """
    log_bounds = [(math.log(low), math.log(high)) for low, high in bounds]
    start = np.clip(start, [low for low, _ in log_bounds], [h for _, h in log_bounds])

    def finite_objective(log_params: FloatArray) -> float:
        value = objective(log_params)
        return value if math.isfinite(value) else math.inf

    coarse = minimize(
        finite_objective,
        start,
        method="Nelder-Mead",
        bounds=log_bounds,
        options={"xatol": 1e-6, "fatol": 1e-10, "maxfev": 5_000},
    )
    fine = minimize(
        finite_objective,
        coarse.x,
        method="L-BFGS-B",
        bounds=log_bounds,
        options={"ftol": 1e-14, "gtol": 1e-9},
    )
    best = fine if np.isfinite(fine.fun) and fine.fun <= coarse.fun else coarse
    params: FloatArray = np.asarray(best.x, dtype=np.float64)
    if not np.all(np.isfinite(params)) or not np.isfinite(best.fun):
        raise ClvFitError(
            f"The {model} model did not converge on these purchases; CLV is skipped."
        )
    return params
