"""Predictive customer lifetime value: BG/NBD for purchases, Gamma-Gamma for spend.

Definitions (full write-up in docs/clv.md):

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
  by maximum likelihood: L-BFGS-B over log-parameters with the analytic gradient of the
  log-likelihood, evaluated on customers grouped by their (x, t_x, T) (``BgNbdData``,
  ``GammaGammaData``), so a fit takes a few dozen vectorised passes over the data.
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
    digamma,
    expit,
    gammaln,
    hyp2f1,
)

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
ArrayLike = npt.ArrayLike
# params -> (log-likelihood, its gradient in the params)
_LogLikelihood = Callable[[FloatArray], tuple[float, FloatArray]]
# log-params -> (objective, its gradient in the log-params)
_Objective = Callable[[FloatArray], tuple[float, FloatArray]]

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
# L-BFGS-B runs of a fit: the first one and restarts while it reports no convergence.
_MAX_STARTS: Final[int] = 4
# An L-BFGS-B run that met an overflow has stopped at an optimum if no component of the
# gradient of the mean log-likelihood per customer in the log-parameters exceeds this
# (on CDNOW and the benchmark data the fits end below 1e-6).
_GRADIENT_TOLERANCE: Final[float] = 1e-4

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
    columns ``customer_id`` (str, or an integer key that sorts as the ids do, such as
    ``KpiInputs.customer_ids``), ``order_date`` (date) and ``amount`` (float); rows
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
        raise ValueError("CLV input is missing the column(s) " + ", ".join(sorted(missing)))

    customer = pl.col("customer_id")
    if not transactions.schema["customer_id"].is_integer():
        customer = customer.cast(pl.String)
    daily = (
        transactions.lazy()
        .select(
            customer,
            pl.col("order_date").cast(pl.Date),
            pl.col("amount").cast(pl.Float64),
        )
        .filter(pl.col("customer_id").is_not_null() & (pl.col("order_date") <= calibration_end))
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
            ((pl.lit(calibration_end) - pl.col("first_date")).dt.total_days() / unit_days)
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
        raise ValueError("CLV summary is missing the column(s) " + ", ".join(sorted(missing)))
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


def _dot(left: FloatArray, right: FloatArray) -> float:
    """Sum of the products of two vectors.

    Through einsum rather than ``@``: a BLAS dot product can stall for milliseconds when
    its threads compete with other processes for the cores.
    """
    return float(np.einsum("i,i->", left, right))


def _sum_by_level(index: IndexArray, values: FloatArray, n_levels: int) -> FloatArray:
    """Per level 0 .. n_levels-1, the sum of the values whose index is that level."""
    result: FloatArray = np.bincount(index, weights=values, minlength=n_levels).astype(np.float64)
    return result


def _levels(values: FloatArray) -> tuple[FloatArray, IndexArray]:
    """The distinct values (sorted) and, per input, the index of its value."""
    levels, index = np.unique(values, return_inverse=True)
    return levels, index.reshape(-1)


@dataclass(frozen=True)
class BgNbdData:
    """Customers of a BG/NBD fit, compressed for fast likelihood evaluations.

    Customers with the same (x, t_x, T) have the same likelihood: they are grouped into
    one row with a weight (the number of customers). Within the groups, x, t_x and T
    are stored as indexes into their distinct values, so that every function of one of
    them alone (Gamma and Beta functions of x, logs of alpha + T and alpha + t_x) is
    computed once per distinct value.
    """

    n_customers: int
    weight: FloatArray  # customers per (x, t_x, T) group
    x: FloatArray  # x per group
    x_levels: FloatArray
    x_index: IndexArray
    x_weight: FloatArray  # customers per distinct x
    recency_levels: FloatArray
    recency_index: IndexArray
    t_levels: FloatArray
    t_index: IndexArray

    @classmethod
    def from_arrays(cls, frequency: ArrayLike, recency: ArrayLike, t: ArrayLike) -> BgNbdData:
        """Group the customers' (frequency, recency, t)."""
        x_levels, x_of_customer = _levels(_as_float_array(frequency))
        recency_levels, recency_of_customer = _levels(_as_float_array(recency))
        t_levels, t_of_customer = _levels(_as_float_array(t))
        # integer keys of the (x, t_x) pairs, then of the (x, t_x, T) triples (each
        # key below n_customers * number of distinct values, so no overflow)
        pair_keys, pair_of_customer = np.unique(
            x_of_customer * recency_levels.size + recency_of_customer,
            return_inverse=True,
        )
        group_keys, counts = np.unique(
            pair_of_customer.reshape(-1) * t_levels.size + t_of_customer,
            return_counts=True,
        )
        pair_index, t_index = np.divmod(group_keys, t_levels.size)
        x_index, recency_index = np.divmod(pair_keys[pair_index], recency_levels.size)
        weight = counts.astype(np.float64)
        return cls(
            n_customers=int(x_of_customer.size),
            weight=weight,
            x=x_levels[x_index],
            x_levels=x_levels,
            x_index=x_index,
            x_weight=_sum_by_level(x_index, weight, x_levels.size),
            recency_levels=recency_levels,
            recency_index=recency_index,
            t_levels=t_levels,
            t_index=t_index,
        )

    @property
    def n_groups(self) -> int:
        """Number of distinct (x, t_x, T)."""
        return int(self.weight.size)

    def log_likelihood(self, params: ArrayLike) -> tuple[float, FloatArray]:
        """Total BG/NBD log-likelihood at (r, alpha, a, b) and its gradient.

        The sum over customers of ``bgnbd_log_likelihood``. With
        A = log B(a, b+x) - (r+x) log(alpha+T) (alive at T) and
        D = log B(a+1, b+x-1) - (r+x) log(alpha+t_x) (dropped out after t_x, x > 0),
        log L = log Gamma(r+x) - log Gamma(r) + r log alpha - log B(a, b)
        + log(e^A + e^D); the gradient weighs the derivatives of A and D by their
        shares e^A / L', e^D / L' (psi = digamma):

            d/dr     = psi(r+x) - psi(r) + log alpha - w_A log(alpha+T) - w_D log(alpha+t_x)
            d/dalpha = r/alpha - (r+x) (w_A / (alpha+T) + w_D / (alpha+t_x))
            d/da     = psi(a+b) - psi(a) + w_A psi(a) + w_D psi(a+1) - psi(a+b+x)
            d/db     = psi(a+b) - psi(b) + w_A psi(b+x) + w_D psi(b+x-1) - psi(a+b+x)
        """
        r, alpha, a, b = (float(value) for value in _as_float_array(params))
        n = float(self.n_customers)
        x_levels = self.x_levels
        repeat = x_levels > 0
        x_repeat = np.where(repeat, x_levels, 1.0)
        # per distinct x, t_x, T
        alive_beta = betaln(a, b + x_levels)
        dropped_beta = np.where(repeat, betaln(a + 1.0, b + x_repeat - 1.0), -np.inf)
        log_t = np.log(alpha + self.t_levels)
        log_recency = np.log(alpha + self.recency_levels)
        # per group
        shape = r + self.x
        group_log_t = log_t[self.t_index]
        group_log_recency = log_recency[self.recency_index]
        alive = alive_beta[self.x_index] - shape * group_log_t
        dropped = dropped_beta[self.x_index] - shape * group_log_recency
        both = np.logaddexp(alive, dropped)
        log_likelihood = (
            _dot(self.x_weight, gammaln(r + x_levels))
            + n * (r * math.log(alpha) - float(gammaln(r)) - float(betaln(a, b)))
            + _dot(self.weight, both)
        )
        alive_weight = self.weight * np.exp(alive - both)
        dropped_weight = self.weight * np.exp(dropped - both)
        d_r = (
            _dot(self.x_weight, digamma(r + x_levels))
            + n * (math.log(alpha) - float(digamma(r)))
            - _dot(alive_weight, group_log_t)
            - _dot(dropped_weight, group_log_recency)
        )
        d_alpha = (
            n * r / alpha
            - _dot(alive_weight * shape, (1.0 / (alpha + self.t_levels))[self.t_index])
            - _dot(
                dropped_weight * shape,
                (1.0 / (alpha + self.recency_levels))[self.recency_index],
            )
        )
        alive_by_x = _sum_by_level(self.x_index, alive_weight, x_levels.size)
        dropped_by_x = _sum_by_level(self.x_index, dropped_weight, x_levels.size)
        psi_abx = digamma(a + b + x_levels)
        psi_ab = float(digamma(a + b))
        d_a = (
            n * (psi_ab - float(digamma(a)))
            + _dot(alive_by_x, digamma(a) - psi_abx)
            + _dot(dropped_by_x, digamma(a + 1.0) - psi_abx)
        )
        d_b = (
            n * (psi_ab - float(digamma(b)))
            + _dot(alive_by_x, digamma(b + x_levels) - psi_abx)
            + _dot(dropped_by_x, digamma(b + x_repeat - 1.0) - psi_abx)
        )
        return log_likelihood, np.array([d_r, d_alpha, d_a, d_b])


def fit_bgnbd(summary: pl.DataFrame) -> BgNbdFit:
    """Fit BG/NBD (r, alpha, a, b) by maximum likelihood on a ``clv_summary`` frame.

    The likelihood is evaluated on customers grouped by (frequency, recency, t)
    (``BgNbdData``) with its analytic gradient, and maximised by L-BFGS-B over
    log-parameters. Raises ClvFitError with fewer than 10 customers, without any
    repeat buyer, or when the optimiser finds no finite optimum.
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
    data = BgNbdData.from_arrays(x, t_x, big_t)
    # Start near a typical fit with alpha on the scale of the observation windows.
    start = np.array([1.0, max(float(np.mean(big_t)), 1e-3), 1.0, 1.0])
    params, log_likelihood = _maximise(
        data.log_likelihood, start, BGNBD_BOUNDS, n_customers, model="BG/NBD"
    )
    r, alpha, a, b = (float(value) for value in params)
    return BgNbdFit(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=log_likelihood,
        n_customers=n_customers,
    )


def p_alive(fit: BgNbdFit, frequency: ArrayLike, recency: ArrayLike, t: ArrayLike) -> FloatArray:
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
    conditional = _expected_purchases_if_alive(fit, frequency, t, horizon)
    result: FloatArray = conditional * p_alive(fit, frequency, recency, t)
    return result


def _expected_purchases_if_alive(
    fit: BgNbdFit, frequency: ArrayLike, t: ArrayLike, horizon: ArrayLike
) -> FloatArray:
    """E[transactions in (T, T + horizon] | alive at T, x, T]: eq. 10 without P(alive).

    (a+b+x-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)],
    z = h/(alpha+T+h); it depends on x and T only (not on t_x).
    """
    x = _as_float_array(frequency)
    big_t = _as_float_array(t)
    h = _as_float_array(horizon)
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    one_minus_z = (alpha + big_t) / (alpha + big_t + h)
    z = 1.0 - one_minus_z
    tail = one_minus_z ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    result: FloatArray = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
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


@dataclass(frozen=True)
class GammaGammaData:
    """Repeat buyers of a Gamma-Gamma fit, prepared for fast likelihood evaluations.

    The likelihood depends on (x, m_x) per customer, which are nearly all distinct, so
    customers are not grouped. The Gamma functions depend on x alone and are computed
    once per distinct x; the terms without v or q are summed once.
    """

    n_customers: int
    x: FloatArray
    monetary_value: FloatArray
    x_levels: FloatArray
    x_count: FloatArray  # customers per distinct x
    sum_x_log_xm: float  # sum of x log(x m_x)
    sum_log_m: float  # sum of log m_x

    @classmethod
    def from_arrays(cls, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaData:
        """Prepare the repeat buyers' (x, m_x); all x and m_x must be positive."""
        x = _as_float_array(frequency)
        m = _as_float_array(monetary_value)
        x_levels, x_index = _levels(x)
        return cls(
            n_customers=int(x.size),
            x=x,
            monetary_value=m,
            x_levels=x_levels,
            x_count=_sum_by_level(x_index, np.ones_like(x), x_levels.size),
            sum_x_log_xm=_dot(x, np.log(x * m)),
            sum_log_m=float(np.sum(np.log(m))),
        )

    def log_likelihood(self, params: ArrayLike) -> tuple[float, FloatArray]:
        """Total Gamma-Gamma log-likelihood at (p, q, v) and its gradient.

        The sum over customers of ``gamma_gamma_log_likelihood``:
        log f = log Gamma(px+q) - log Gamma(px) - log Gamma(q) + q log v
                + px log(x m) - log m - (px+q) log(v + x m), so (psi = digamma)

            d/dp = x (psi(px+q) - psi(px) + log(x m) - log(v + x m))
            d/dq = psi(px+q) - psi(q) + log v - log(v + x m)
            d/dv = q/v - (px+q) / (v + x m)
        """
        p, q, v = (float(value) for value in _as_float_array(params))
        n = float(self.n_customers)
        px_levels = p * self.x_levels
        log_v_xm = np.log(v + self.x * self.monetary_value)
        sum_log_v_xm = float(np.sum(log_v_xm))
        x_log_v_xm = _dot(self.x, log_v_xm)
        log_likelihood = (
            _dot(self.x_count, gammaln(px_levels + q) - gammaln(px_levels))
            + n * (q * math.log(v) - float(gammaln(q)))
            + p * self.sum_x_log_xm
            - self.sum_log_m
            - p * x_log_v_xm
            - q * sum_log_v_xm
        )
        psi_pxq = digamma(px_levels + q)
        d_p = (
            _dot(self.x_count * self.x_levels, psi_pxq - digamma(px_levels))
            + self.sum_x_log_xm
            - x_log_v_xm
        )
        d_q = _dot(self.x_count, psi_pxq) + n * (math.log(v) - float(digamma(q))) - sum_log_v_xm
        d_v = n * q / v - float(np.sum((p * self.x + q) / (v + self.x * self.monetary_value)))
        return log_likelihood, np.array([d_p, d_q, d_v])


def fit_gamma_gamma(summary: pl.DataFrame) -> GammaGammaFit:
    """Fit Gamma-Gamma (p, q, v) by maximum likelihood on the repeat buyers.

    Uses customers with frequency > 0 and monetary_value > 0 (the mean value of their
    repeat transactions); maximises the likelihood of ``GammaGammaData`` with its
    analytic gradient by L-BFGS-B over log-parameters. Raises ClvFitError without
    repeat buyers, when the optimiser finds no finite optimum, or when q <= 1 (the
    fitted spend distribution then has no finite mean, so CLV would be unbounded).
    """
    x, m = _repeat_buyers(summary)
    n_customers = int(x.size)
    if n_customers < MIN_REPEAT_BUYERS:
        raise ClvFitError(
            "The spend model needs customers with a repeat purchase of positive value "
            "in the calibration period; there are none."
        )
    data = GammaGammaData.from_arrays(x, m)
    start = np.array([1.0, 2.0, max(float(np.mean(m)), 1e-9)])
    params, log_likelihood = _maximise(
        data.log_likelihood, start, GAMMA_GAMMA_BOUNDS, n_customers, model="Gamma-Gamma"
    )
    p, q, v = (float(value) for value in params)
    if q <= 1.0:
        raise ClvFitError(
            f"The spend model fitted q = {q:.3f} <= 1: transaction values are too "
            "dispersed for a finite expected value per transaction."
        )
    return GammaGammaFit(p=p, q=q, v=v, log_likelihood=log_likelihood, n_customers=n_customers)


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


def _discount_factors(
    step_ends: FloatArray, discount_rate_annual: float, time_unit: str
) -> FloatArray:
    """1 / (1 + monthly_rate)^m_k for step ends tau_k (m_k = tau_k in months)."""
    monthly_rate = (1.0 + discount_rate_annual) ** (1.0 / 12.0) - 1.0
    ends_months = step_ends * days_per_time_unit(time_unit) / DAYS_PER_MONTH
    result: FloatArray = (1.0 + monthly_rate) ** (-ends_months)
    return result


def _horizon_purchases(
    bgnbd: BgNbdFit,
    frequency: FloatArray,
    recency: FloatArray,
    t: FloatArray,
    horizon: float,
    discount_rate_annual: float,
    time_unit: str,
) -> tuple[FloatArray, FloatArray]:
    """Per customer, the expected purchases over the horizon and their discounted sum.

    (E[Y(horizon)], sum_k (E[Y(tau_k)] - E[Y(tau_{k-1})]) / (1 + monthly_rate)^m_k)
    over the monthly steps of ``discounted_clv``. Both are P(alive) times a function of
    (x, T) alone, which is evaluated once per distinct (x, T): customers who started on
    the same day with the same number of purchases share it.
    """
    if horizon <= 0:
        return np.zeros_like(frequency), np.zeros_like(frequency)
    ends = _monthly_step_ends(horizon, time_unit)
    x_levels, x_index = _levels(frequency)
    t_levels, t_index = _levels(t)
    pair_keys, pair_index = np.unique(x_index * t_levels.size + t_index, return_inverse=True)
    pair_x, pair_t = np.divmod(pair_keys, t_levels.size)
    if_alive = _expected_purchases_if_alive(
        bgnbd, x_levels[pair_x][:, None], t_levels[pair_t][:, None], ends[None, :]
    )
    per_step = np.diff(if_alive, axis=1, prepend=0.0)
    discounted = np.einsum(
        "ij,j->i", per_step, _discount_factors(ends, discount_rate_annual, time_unit)
    )
    alive = p_alive(bgnbd, frequency, recency, t)
    pair_of_customer = pair_index.reshape(-1)
    return (
        alive * if_alive[pair_of_customer, -1],
        alive * discounted[pair_of_customer],
    )


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
    _, discounted = _horizon_purchases(
        bgnbd,
        _as_float_array(frequency),
        _as_float_array(recency),
        _as_float_array(t),
        horizon,
        discount_rate_annual,
        time_unit,
    )
    result: FloatArray = discounted * _as_float_array(avg_value)
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
    monetary = summary.get_column("monetary_value").cast(pl.Float64).fill_null(np.nan).to_numpy()
    avg_value = expected_avg_value(gg, x, monetary)
    purchases, discounted = _horizon_purchases(
        bgnbd, x, t_x, big_t, horizon, discount_rate_annual, time_unit
    )
    columns = {
        "p_alive": p_alive(bgnbd, x, t_x, big_t),
        "expected_purchases": purchases,
        "expected_avg_value": avg_value,
        "clv": discounted * avg_value,
    }
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


class _NegativeMeanLogLikelihood:
    """The objective of the fits, in the log-parameters: minus the mean log-likelihood per
    customer and its gradient. A non-finite likelihood (overflow far from the optimum)
    counts as -inf and is recorded in ``overflowed``."""

    def __init__(self, log_likelihood: _LogLikelihood, n_customers: int) -> None:
        self.log_likelihood = log_likelihood
        self.n_customers = n_customers
        self.overflowed = False

    def __call__(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(log_params)
        value, gradient = self.log_likelihood(params)
        if not (math.isfinite(value) and np.all(np.isfinite(gradient))):
            self.overflowed = True
            return math.inf, np.zeros_like(log_params)
        return -value / self.n_customers, -gradient * params / self.n_customers

    def value(self, log_params: FloatArray) -> float:
        return self(log_params)[0]


def _maximise(
    log_likelihood: _LogLikelihood,
    start: FloatArray,
    bounds: tuple[tuple[float, float], ...],
    n_customers: int,
    model: str,
) -> tuple[FloatArray, float]:
    """Maximise a log-likelihood within ``bounds``: (parameters, log-likelihood).

    L-BFGS-B on the log-parameters with the analytic gradient. A line search that steps
    into a region where the likelihood overflows can stop L-BFGS-B short of the
    optimum; then Nelder-Mead (which copes with infinite values) takes over from where
    it stopped, and L-BFGS-B finishes. Raises ClvFitError when no finite optimum is
    found.
    """
    log_bounds = [(math.log(low), math.log(high)) for low, high in bounds]
    lower = np.array([low for low, _ in log_bounds])
    upper = np.array([high for _, high in log_bounds])
    objective = _NegativeMeanLogLikelihood(log_likelihood, n_customers)
    point = _lbfgsb(objective, np.clip(np.log(start), lower, upper), log_bounds)
    if objective.overflowed and not _is_stationary(objective, point, lower, upper):
        coarse = minimize(
            objective.value,
            point,
            method="Nelder-Mead",
            bounds=log_bounds,
            options={"xatol": 1e-6, "fatol": 1e-10, "maxfev": 5_000},
        )
        point = _lbfgsb(objective, np.asarray(coarse.x, dtype=np.float64), log_bounds)
    params: FloatArray = np.exp(point)
    value, _ = log_likelihood(params)
    if not (np.all(np.isfinite(params)) and math.isfinite(value)):
        raise ClvFitError(f"The {model} model did not converge on these purchases; CLV is skipped.")
    return params, value


def _lbfgsb(
    objective: _Objective, start: FloatArray, log_bounds: list[tuple[float, float]]
) -> FloatArray:
    """L-BFGS-B from ``start``, restarted from where it stopped (with a fresh curvature
    estimate) while it reports no convergence and still moves, at most a few times."""
    point = start
    for _ in range(_MAX_STARTS):
        result = minimize(
            objective,
            point,
            jac=True,
            method="L-BFGS-B",
            bounds=log_bounds,
            options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 1_000},
        )
        point = np.asarray(result.x, dtype=np.float64)
        # a restart that cannot move: the line search fails at the limit of
        # floating-point precision, or on an infinite value
        if result.success or result.nit == 0:
            break
    return point


def _is_stationary(
    objective: _Objective, point: FloatArray, lower: FloatArray, upper: FloatArray
) -> bool:
    """Whether the objective is finite at ``point`` and its gradient vanishes there,
    apart from components pushing against a bound of the search box."""
    value, gradient = objective(point)
    blocked = ((point <= lower) & (gradient > 0)) | ((point >= upper) & (gradient < 0))
    free_gradient = np.where(blocked, 0.0, gradient)
    return math.isfinite(value) and float(np.max(np.abs(free_gradient))) <= _GRADIENT_TOLERANCE
