"""Tests of the predictive CLV module (kpis/clv.py).

The reference fit is the CDNOW sample (tests/fixtures/cdnow/, see SOURCES.md there),
against the parameters published by Fader, Hardie & Lee (2005) and Fader & Hardie's
Gamma-Gamma note. The small cases are worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad  # type: ignore[import-untyped]
from scipy.special import hyp2f1  # type: ignore[import-untyped]

from kpis.clv import (
    CUSTOMER_CLV_COLUMNS,
    BgNbdData,
    BgNbdFit,
    ClvFitError,
    GammaGammaData,
    GammaGammaFit,
    _maximise,
    bgnbd_log_likelihood,
    clv_summary,
    customer_clv,
    discounted_clv,
    expected_avg_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    model_table,
    p_alive,
    run_clv,
)

DAYS_PER_MONTH = 365.25 / 12
CDNOW_CSV = Path(__file__).parent / "fixtures" / "cdnow" / "cdnowElog.csv"
CDNOW_CALIBRATION_END = dt.date(1997, 9, 30)


def transactions(rows: Sequence[tuple[str | None, dt.date, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64},
        orient="row",
    )


# --------------------------------------------------------------------------------------
# CDNOW reference fit
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_transactions() -> pl.DataFrame:
    raw = pl.read_csv(CDNOW_CSV, schema_overrides={"date": pl.String})
    return raw.select(
        pl.col("masterid").cast(pl.String).alias("customer_id"),
        pl.col("date").str.strptime(pl.Date, "%Y%m%d").alias("order_date"),
        pl.col("sales").cast(pl.Float64).alias("amount"),
    )


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_transactions: pl.DataFrame) -> pl.DataFrame:
    return clv_summary(cdnow_transactions, CDNOW_CALIBRATION_END, "week")


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow_summary: pl.DataFrame) -> BgNbdFit:
    return fit_bgnbd(cdnow_summary)


@pytest.fixture(scope="module")
def cdnow_gg(cdnow_summary: pl.DataFrame) -> GammaGammaFit:
    return fit_gamma_gamma(cdnow_summary)


def test_cdnow_fixture_is_the_published_sample(
    cdnow_transactions: pl.DataFrame,
) -> None:
    assert cdnow_transactions.height == 6919
    assert cdnow_transactions.get_column("customer_id").n_unique() == 2357


def test_cdnow_summary_counts(cdnow_summary: pl.DataFrame) -> None:
    # 4,960 rows up to 1997-09-30 are 4,814 customer-days, so 4,814 - 2,357 = 2,457
    # repeat transactions.
    assert cdnow_summary.height == 2357
    assert cdnow_summary.filter(pl.col("frequency") > 0).height == 946
    assert cdnow_summary.get_column("frequency").sum() == 2457
    # first purchases from 1997-01-01 (T = 272 d) to 1997-03-25 (T = 189 d)
    assert cdnow_summary.get_column("t").min() == pytest.approx(189 / 7)
    assert cdnow_summary.get_column("t").max() == pytest.approx(272 / 7)


def test_cdnow_bgnbd_matches_published_fit(cdnow_bgnbd: BgNbdFit) -> None:
    # Fader, Hardie & Lee (2005): r = 0.2426, alpha = 4.4137, a = 0.7930, b = 2.4262,
    # LL = -9582.43.
    assert cdnow_bgnbd.n_customers == 2357
    assert cdnow_bgnbd.r == pytest.approx(0.243, rel=0.005)
    assert cdnow_bgnbd.alpha == pytest.approx(4.414, rel=0.005)
    assert cdnow_bgnbd.a == pytest.approx(0.793, rel=0.005)
    assert cdnow_bgnbd.b == pytest.approx(2.426, rel=0.005)
    assert cdnow_bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.5)


def test_cdnow_gamma_gamma_matches_published_fit(cdnow_gg: GammaGammaFit) -> None:
    # Fader & Hardie (2013): p = 6.25, q = 3.74, v = 15.44 on 946 repeat buyers, with
    # same-day purchases merged and m_x = mean of the repeat transactions.
    assert cdnow_gg.n_customers == 946
    assert cdnow_gg.p == pytest.approx(6.25, rel=0.01)
    assert cdnow_gg.q == pytest.approx(3.74, rel=0.01)
    assert cdnow_gg.v == pytest.approx(15.44, rel=0.01)


def test_cdnow_published_conditional_expectation(cdnow_bgnbd: BgNbdFit) -> None:
    # FHL (2005): a customer with x = 2, t_x = 30.43, T = 38.86 is expected to make
    # 1.226 purchases in the next 39 weeks.
    value = expected_purchases(cdnow_bgnbd, 2, 30.43, 38.86, 39.0)
    assert float(value) == pytest.approx(1.226, abs=0.001)


def test_cdnow_fit_does_not_depend_on_the_time_unit(
    cdnow_transactions: pl.DataFrame, cdnow_bgnbd: BgNbdFit
) -> None:
    # alpha is a rate parameter: in days it is 7 times the weekly one; r, a, b and
    # the customers' forecasts stay the same.
    daily = fit_bgnbd(clv_summary(cdnow_transactions, CDNOW_CALIBRATION_END, "day"))
    assert daily.alpha == pytest.approx(7 * cdnow_bgnbd.alpha, rel=1e-4)
    assert daily.r == pytest.approx(cdnow_bgnbd.r, rel=1e-4)
    assert daily.a == pytest.approx(cdnow_bgnbd.a, rel=1e-4)
    assert daily.b == pytest.approx(cdnow_bgnbd.b, rel=1e-4)
    weekly = expected_purchases(cdnow_bgnbd, 2, 30.43, 38.86, 39.0)
    in_days = expected_purchases(daily, 2, 30.43 * 7, 38.86 * 7, 39.0 * 7)
    assert float(in_days) == pytest.approx(float(weekly), rel=1e-4)


def test_cdnow_run_clv_tables(cdnow_transactions: pl.DataFrame) -> None:
    customers, model = run_clv(
        cdnow_transactions, CDNOW_CALIBRATION_END, "week", 39.0, 0.10
    )
    assert customers.columns == list(CUSTOMER_CLV_COLUMNS)
    assert customers.height == 2357
    # only customers without a repeat purchase lack a monetary value
    nulls = customers.null_count().row(0, named=True)
    assert nulls.pop("monetary_value") == 2357 - 946
    assert set(nulls.values()) == {0}
    # Over the 39-week holdout the model forecasts about 1,653 repeat transactions
    # (1,882 were observed); CLV stays below the undiscounted expected revenue.
    assert customers.get_column("expected_purchases").sum() == pytest.approx(
        1653.4, abs=0.5
    )
    undiscounted = customers.select(
        (pl.col("expected_purchases") * pl.col("expected_avg_value")).sum()
    ).item()
    assert 0.95 * undiscounted < customers.get_column("clv").sum() < undiscounted
    assert model.columns == [
        "model",
        "parameter",
        "value",
        "log_likelihood",
        "n_customers",
        "calibration_end",
        "time_unit",
    ]
    assert model.select("model", "parameter").rows() == [
        ("bgnbd", "r"),
        ("bgnbd", "alpha"),
        ("bgnbd", "a"),
        ("bgnbd", "b"),
        ("gamma_gamma", "p"),
        ("gamma_gamma", "q"),
        ("gamma_gamma", "v"),
    ]
    assert model.filter(pl.col("model") == "gamma_gamma").get_column(
        "n_customers"
    ).to_list() == [946, 946, 946]
    assert set(model.get_column("calibration_end").to_list()) == {CDNOW_CALIBRATION_END}
    assert set(model.get_column("time_unit").to_list()) == {"week"}


# --------------------------------------------------------------------------------------
# Grouped likelihoods and their gradients (what the fits optimise)
# --------------------------------------------------------------------------------------


def _columns(summary: pl.DataFrame, *names: str) -> list[np.ndarray]:
    return [summary.get_column(name).cast(pl.Float64).to_numpy() for name in names]


@pytest.fixture(scope="module")
def cdnow_bgnbd_data(cdnow_summary: pl.DataFrame) -> BgNbdData:
    return BgNbdData.from_arrays(*_columns(cdnow_summary, "frequency", "recency", "t"))


@pytest.fixture(scope="module")
def cdnow_gg_data(cdnow_summary: pl.DataFrame) -> GammaGammaData:
    buyers = cdnow_summary.filter(pl.col("frequency") > 0)
    return GammaGammaData.from_arrays(*_columns(buyers, "frequency", "monetary_value"))


# (r, alpha, a, b): the published fit, and two points far from it on either side
BGNBD_POINTS = [
    (0.2426, 4.4137, 0.7930, 2.4262),
    (1.3, 20.0, 0.2, 7.0),
    (0.05, 0.5, 5.0, 0.5),
]
GG_POINTS = [(6.25, 3.74, 15.44), (1.0, 2.0, 40.0), (30.0, 1.2, 0.5)]
# Near the optimum the gradient is close to 0 and the central difference only good to
# about eps * |log-likelihood| / step ~ 1e-6.
FD_ATOL = 1e-4


def _central_difference(
    function: Callable[[np.ndarray], float], params: Sequence[float]
) -> np.ndarray:
    point = np.asarray(params, dtype=np.float64)
    gradient = np.empty_like(point)
    for i in range(point.size):
        step = np.zeros_like(point)
        step[i] = 1e-6 * point[i]
        gradient[i] = (function(point + step) - function(point - step)) / (2 * step[i])
    return gradient


def test_cdnow_customers_are_grouped_by_frequency_recency_t(
    cdnow_summary: pl.DataFrame, cdnow_bgnbd_data: BgNbdData
) -> None:
    distinct = cdnow_summary.select("frequency", "recency", "t").unique().height
    assert cdnow_bgnbd_data.n_customers == 2357
    assert cdnow_bgnbd_data.n_groups == distinct
    assert distinct < 2357
    assert cdnow_bgnbd_data.weight.sum() == 2357


@pytest.mark.parametrize("params", BGNBD_POINTS)
def test_grouped_bgnbd_likelihood_is_the_per_customer_sum(
    cdnow_summary: pl.DataFrame,
    cdnow_bgnbd_data: BgNbdData,
    params: tuple[float, float, float, float],
) -> None:
    per_customer = bgnbd_log_likelihood(
        *params, *_columns(cdnow_summary, "frequency", "recency", "t")
    )
    grouped, _ = cdnow_bgnbd_data.log_likelihood(params)
    assert grouped == pytest.approx(float(np.sum(per_customer)), rel=1e-12)


@pytest.mark.parametrize("params", BGNBD_POINTS)
def test_bgnbd_gradient_matches_finite_differences(
    cdnow_bgnbd_data: BgNbdData, params: tuple[float, float, float, float]
) -> None:
    _, gradient = cdnow_bgnbd_data.log_likelihood(params)
    numeric = _central_difference(
        lambda point: cdnow_bgnbd_data.log_likelihood(point)[0], params
    )
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=FD_ATOL)


@pytest.mark.parametrize("params", GG_POINTS)
def test_gamma_gamma_likelihood_and_gradient(
    cdnow_gg_data: GammaGammaData, params: tuple[float, float, float]
) -> None:
    value, gradient = cdnow_gg_data.log_likelihood(params)
    per_customer = gamma_gamma_log_likelihood(
        *params, cdnow_gg_data.x, cdnow_gg_data.monetary_value
    )
    assert value == pytest.approx(float(np.sum(per_customer)), rel=1e-12)
    numeric = _central_difference(
        lambda point: cdnow_gg_data.log_likelihood(point)[0], params
    )
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=FD_ATOL)


def test_cdnow_fits_are_maxima(
    cdnow_bgnbd: BgNbdFit,
    cdnow_gg: GammaGammaFit,
    cdnow_bgnbd_data: BgNbdData,
    cdnow_gg_data: GammaGammaData,
) -> None:
    # At the fitted parameters the gradient (per customer, in log-parameters) vanishes
    # and a 0.1% step in any parameter, either way, lowers the likelihood.
    for data, fit in (
        (cdnow_bgnbd_data, (cdnow_bgnbd.r, cdnow_bgnbd.alpha, cdnow_bgnbd.a, cdnow_bgnbd.b)),
        (cdnow_gg_data, (cdnow_gg.p, cdnow_gg.q, cdnow_gg.v)),
    ):
        point = np.array(fit)
        best, gradient = data.log_likelihood(point)
        assert np.abs(gradient * point).max() / data.n_customers < 1e-5
        for i in range(point.size):
            for factor in (0.999, 1.001):
                moved = point.copy()
                moved[i] *= factor
                assert data.log_likelihood(moved)[0] < best
    assert cdnow_bgnbd.log_likelihood == pytest.approx(
        cdnow_bgnbd_data.log_likelihood([0.2426, 4.4137, 0.7930, 2.4262])[0], abs=0.01
    )


def test_fit_recovers_when_a_line_search_meets_an_overflow() -> None:
    # A likelihood with its maximum at (2, 3) that overflows (nan) beyond p0 = 5: from
    # (0.01, 100) the first L-BFGS-B step lands in the overflow and the line search
    # gives up; Nelder-Mead then takes over and L-BFGS-B finishes at the maximum.
    def log_likelihood(params: np.ndarray) -> tuple[float, np.ndarray]:
        p0, p1 = params
        if p0 > 5:
            return math.nan, np.array([math.nan, math.nan])
        value = -100 * math.log(p0 / 2) ** 2 - (p1 - 3) ** 2
        return value, np.array([-200 * math.log(p0 / 2) / p0, -2 * (p1 - 3)])

    params, value = _maximise(
        log_likelihood, np.array([0.01, 100.0]), ((1e-6, 1e6), (1e-6, 1e6)), 1, "test"
    )
    np.testing.assert_allclose(params, [2.0, 3.0], rtol=1e-6)
    assert value == pytest.approx(0.0, abs=1e-9)


def test_cdnow_customer_clv_matches_the_per_customer_formulas(
    cdnow_summary: pl.DataFrame, cdnow_bgnbd: BgNbdFit, cdnow_gg: GammaGammaFit
) -> None:
    # customer_clv evaluates E[Y] once per distinct (x, T) and at all monthly steps at
    # once; customer by customer, the formulas give the same numbers.
    result = customer_clv(cdnow_summary, cdnow_bgnbd, cdnow_gg, 39.0, 0.10, "week")
    x, t_x, big_t, m = _columns(cdnow_summary, "frequency", "recency", "t", "monetary_value")
    purchases = np.array(
        [
            float(expected_purchases(cdnow_bgnbd, *customer, 39.0))
            for customer in zip(x, t_x, big_t, strict=True)
        ]
    )
    np.testing.assert_allclose(
        result.get_column("expected_purchases").to_numpy(), purchases, rtol=1e-12
    )
    value = expected_avg_value(cdnow_gg, x, m)
    # 39 weeks = 8.97 months: steps end at months 1..8 and at the horizon
    ends = np.append(np.arange(1, 9) * DAYS_PER_MONTH / 7, 39.0)
    cumulative = np.array(
        [
            [float(expected_purchases(cdnow_bgnbd, *customer, end)) for end in ends]
            for customer in zip(x[:50], t_x[:50], big_t[:50], strict=True)
        ]
    )
    by_hand = (
        np.diff(cumulative, axis=1, prepend=0.0)
        @ (1.1 ** (-(ends * 7 / DAYS_PER_MONTH) / 12))
        * value[:50]
    )
    np.testing.assert_allclose(result.get_column("clv").to_numpy()[:50], by_hand, rtol=1e-10)
    np.testing.assert_allclose(
        discounted_clv(cdnow_bgnbd, x, t_x, big_t, value, 39.0, 0.10, "week"),
        result.get_column("clv").to_numpy(),
        rtol=1e-12,
    )


# --------------------------------------------------------------------------------------
# clv_summary: hand-worked cases
# --------------------------------------------------------------------------------------

CAL_END = dt.date(2024, 3, 31)


@pytest.fixture
def small_transactions() -> pl.DataFrame:
    return transactions(
        [
            # A: three purchases on two days, one more after the calibration end.
            ("A", dt.date(2024, 1, 1), 10.0),
            ("A", dt.date(2024, 1, 1), 5.0),
            ("A", dt.date(2024, 1, 15), 20.0),
            ("A", dt.date(2024, 4, 10), 99.0),
            # B: a single purchase.
            ("B", dt.date(2024, 3, 3), 40.0),
            # C: three days, the last one on the calibration end (included).
            ("C", dt.date(2024, 2, 18), 30.0),
            ("C", dt.date(2024, 3, 31), 50.0),
            ("C", dt.date(2024, 2, 4), 10.0),
            # D: first purchase after the calibration end, left out.
            ("D", dt.date(2024, 4, 1), 70.0),
            # No customer: cannot be attributed, ignored.
            (None, dt.date(2024, 1, 5), 12.0),
        ]
    )


def test_clv_summary_weeks(small_transactions: pl.DataFrame) -> None:
    summary = clv_summary(small_transactions, CAL_END, "week")
    assert summary.columns == [
        "customer_id",
        "frequency",
        "recency",
        "t",
        "monetary_value",
    ]
    rows = {row["customer_id"]: row for row in summary.iter_rows(named=True)}
    assert sorted(rows) == ["A", "B", "C"]
    # A: days 2024-01-01 (10 + 5) and 2024-01-15 (20): x = 1, t_x = 14 d = 2 weeks,
    # T = 2024-01-01 .. 2024-03-31 = 31 + 29 + 30 = 90 d = 90/7 weeks, m = 20.
    assert rows["A"]["frequency"] == 1
    assert rows["A"]["recency"] == pytest.approx(2.0)
    assert rows["A"]["t"] == pytest.approx(90 / 7)
    assert rows["A"]["monetary_value"] == pytest.approx(20.0)
    # B: x = 0, t_x = 0, T = 28 d = 4 weeks, no repeat value.
    assert rows["B"]["frequency"] == 0
    assert rows["B"]["recency"] == 0.0
    assert rows["B"]["t"] == pytest.approx(4.0)
    assert rows["B"]["monetary_value"] is None
    # C: days 02-04 (10), 02-18 (30), 03-31 (50): x = 2, t_x = T = 56 d = 8 weeks,
    # m = (30 + 50) / 2 = 40 (the first purchase is not a repeat).
    assert rows["C"]["frequency"] == 2
    assert rows["C"]["recency"] == pytest.approx(8.0)
    assert rows["C"]["t"] == pytest.approx(8.0)
    assert rows["C"]["monetary_value"] == pytest.approx(40.0)


def test_clv_summary_days_and_months(small_transactions: pl.DataFrame) -> None:
    days = clv_summary(small_transactions, CAL_END, "day")
    months = clv_summary(small_transactions, CAL_END, "month")
    c_days = days.filter(pl.col("customer_id") == "C").row(0, named=True)
    c_months = months.filter(pl.col("customer_id") == "C").row(0, named=True)
    assert c_days["recency"] == pytest.approx(56.0)
    assert c_days["t"] == pytest.approx(56.0)
    # one month = 365.25 / 12 = 30.4375 days
    assert c_months["recency"] == pytest.approx(56 / 30.4375)
    assert c_months["t"] == pytest.approx(56 / 30.4375)


def test_clv_summary_rejects_an_unknown_time_unit(
    small_transactions: pl.DataFrame,
) -> None:
    with pytest.raises(ValueError, match="time unit 'fortnight'"):
        clv_summary(small_transactions, CAL_END, "fortnight")


def _summary_by_hand(
    rows: list[tuple[str, int, float]], calibration_day: int
) -> dict[str, tuple[int, float, float, float | None]]:
    """The summary in plain Python (days as integers, time unit = day)."""
    per_day: dict[str, dict[int, float]] = {}
    for customer, day, amount in rows:
        if day <= calibration_day:
            days = per_day.setdefault(customer, {})
            days[day] = days.get(day, 0.0) + amount
    result: dict[str, tuple[int, float, float, float | None]] = {}
    for customer, days in per_day.items():
        ordered = sorted(days)
        repeat_values = [days[d] for d in ordered[1:]]
        result[customer] = (
            len(ordered) - 1,
            float(ordered[-1] - ordered[0]),
            float(calibration_day - ordered[0]),
            sum(repeat_values) / len(repeat_values) if repeat_values else None,
        )
    return result


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.integers(min_value=0, max_value=40),
            st.integers(min_value=1, max_value=10_000).map(lambda cents: cents / 100),
        ),
        max_size=30,
    ),
    calibration_day=st.integers(min_value=0, max_value=40),
)
def test_clv_summary_agrees_with_a_plain_python_count(
    rows: list[tuple[str, int, float]], calibration_day: int
) -> None:
    start = dt.date(2024, 1, 1)
    frame = transactions(
        [(c, start + dt.timedelta(days=day), amount) for c, day, amount in rows]
    )
    summary = clv_summary(frame, start + dt.timedelta(days=calibration_day), "day")
    expected = _summary_by_hand(rows, calibration_day)
    got = {
        row["customer_id"]: (
            row["frequency"],
            row["recency"],
            row["t"],
            row["monetary_value"],
        )
        for row in summary.iter_rows(named=True)
    }
    assert sorted(got) == sorted(expected)
    for customer, (x, t_x, big_t, m) in expected.items():
        gx, gt_x, gbig_t, gm = got[customer]
        assert (gx, gt_x, gbig_t) == (x, t_x, big_t)
        assert 0.0 <= gt_x <= gbig_t
        if m is None:
            assert gm is None
        else:
            assert gm == pytest.approx(m)


# --------------------------------------------------------------------------------------
# BG/NBD and Gamma-Gamma formulas
# --------------------------------------------------------------------------------------

SIMPLE_BGNBD = BgNbdFit(
    r=1.0, alpha=1.0, a=2.0, b=3.0, log_likelihood=0.0, n_customers=0
)
SIMPLE_GG = GammaGammaFit(p=6.0, q=4.0, v=15.0, log_likelihood=0.0, n_customers=0)


def test_p_alive_is_one_without_repeat_purchases(cdnow_bgnbd: BgNbdFit) -> None:
    # Under BG/NBD a customer can only drop out right after a repeat purchase.
    values = p_alive(cdnow_bgnbd, [0, 0, 0], [0.0, 0.0, 0.0], [1.0, 20.0, 52.0])
    assert values.tolist() == [1.0, 1.0, 1.0]


def test_p_alive_by_hand() -> None:
    # x = 1, t_x = 1, T = 3: a/(b+x-1) = 2/3, ((alpha+T)/(alpha+t_x))^(r+x) = (4/2)^2 = 4,
    # P = 1 / (1 + 8/3) = 3/11.
    assert float(p_alive(SIMPLE_BGNBD, 1, 1.0, 3.0)) == pytest.approx(3 / 11)
    # Buying at the calibration end (t_x = T): P = 1 / (1 + 2/3) = 3/5.
    assert float(p_alive(SIMPLE_BGNBD, 1, 3.0, 3.0)) == pytest.approx(3 / 5)


def test_expected_purchases_matches_the_untransformed_formula(
    cdnow_bgnbd: BgNbdFit,
) -> None:
    # FHL eq. 10 written directly with 2F1(r+x, b+x; a+b+x-1; z); the module uses
    # Euler's transformation of it.
    f = cdnow_bgnbd
    x = np.array([0.0, 1.0, 2.0, 7.0, 60.0, 150.0])
    t_x = np.array([0.0, 5.0, 30.43, 35.0, 38.0, 38.0])
    big_t = np.array([20.0, 30.0, 38.86, 36.0, 39.0, 39.0])
    horizon = 52.0
    z = horizon / (f.alpha + big_t + horizon)
    direct = (
        (f.a + f.b + x - 1)
        / (f.a - 1)
        * (
            1
            - ((f.alpha + big_t) / (f.alpha + big_t + horizon)) ** (f.r + x)
            * hyp2f1(f.r + x, f.b + x, f.a + f.b + x - 1, z)
        )
        * p_alive(f, x, t_x, big_t)
    )
    np.testing.assert_allclose(
        expected_purchases(f, x, t_x, big_t, horizon), direct, rtol=1e-9
    )


def test_expected_purchases_grows_with_the_horizon(cdnow_bgnbd: BgNbdFit) -> None:
    horizons = np.array([0.0, 1.0, 4.0, 13.0, 26.0, 39.0, 52.0, 104.0, 520.0])
    for x, t_x, big_t in [(0, 0.0, 30.0), (2, 30.43, 38.86), (12, 36.0, 38.0)]:
        values = expected_purchases(cdnow_bgnbd, x, t_x, big_t, horizons)
        assert values[0] == 0.0
        assert np.all(np.diff(values) > 0)


def test_expected_purchases_stays_finite_for_heavy_buyers(
    cdnow_bgnbd: BgNbdFit,
) -> None:
    # With x = 300 the untransformed 2F1 overflows (it gives nan); the transformed
    # one stays finite, below the no-drop-out bound (r + x) / (alpha + T) * horizon,
    # and the expectation given alive grows with x for customers buying at T.
    f = cdnow_bgnbd
    x = np.array([100.0, 200.0, 300.0])
    values = expected_purchases(f, x, 39.0, 39.0, 520.0)
    assert np.all(np.isfinite(values))
    assert np.all(values > 0)
    assert np.all(values < (f.r + x) / (f.alpha + 39.0) * 520.0)
    given_alive = values / p_alive(f, x, 39.0, 39.0)
    assert np.all(np.diff(given_alive) > 0)


def test_expected_avg_value_by_hand() -> None:
    # population mean p v / (q - 1) = 6 * 15 / 3 = 30;
    # x = 2, m = 40: p (v + x m) / (p x + q - 1) = 6 * 95 / 15 = 38.
    values = expected_avg_value(SIMPLE_GG, [0, 2, 3], [float("nan"), 40.0, 30.0])
    np.testing.assert_allclose(values, [30.0, 38.0, 30.0])
    assert SIMPLE_GG.population_mean == pytest.approx(30.0)


def test_gamma_gamma_density_integrates_to_one() -> None:
    # f(m_x | p, q, v, x) is a density in m_x for every x.
    for x in (1, 2, 5):
        total, _ = quad(
            lambda m, x=x: math.exp(
                float(gamma_gamma_log_likelihood(6.0, 4.0, 15.0, x, m))
            ),
            0.0,
            np.inf,
        )
        assert total == pytest.approx(1.0, abs=1e-7)


# --------------------------------------------------------------------------------------
# Discounted CLV
# --------------------------------------------------------------------------------------


def _one_customer_summary() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["A", "B"],
            "frequency": [2, 0],
            "recency": [1.0, 0.0],
            "t": [1.5, 1.0],
            "monetary_value": [40.0, None],
        },
        schema_overrides={"frequency": pl.Int64, "monetary_value": pl.Float64},
    )


def test_customer_clv_monthly_discounting_by_hand() -> None:
    # time unit month, horizon 3: steps end at months 1, 2, 3;
    # CLV = sum_k (E[Y(k)] - E[Y(k-1)]) * E[M] / 1.1^(k/12).
    summary = _one_customer_summary()
    result = customer_clv(summary, SIMPLE_BGNBD, SIMPLE_GG, 3.0, 0.10, "month")
    assert result.columns == list(CUSTOMER_CLV_COLUMNS)
    row = result.row(0, named=True)
    cumulative = [
        float(expected_purchases(SIMPLE_BGNBD, 2, 1.0, 1.5, k)) for k in range(4)
    ]
    value = 6.0 * (15.0 + 2 * 40.0) / (6.0 * 2 + 4.0 - 1.0)
    by_hand = sum(
        (cumulative[k] - cumulative[k - 1]) * value / 1.1 ** (k / 12) for k in (1, 2, 3)
    )
    assert row["expected_purchases"] == pytest.approx(cumulative[3])
    assert row["expected_avg_value"] == pytest.approx(38.0)
    assert row["p_alive"] == pytest.approx(float(p_alive(SIMPLE_BGNBD, 2, 1.0, 1.5)))
    assert row["clv"] == pytest.approx(by_hand, rel=1e-12)
    assert result.row(1, named=True)["expected_avg_value"] == pytest.approx(30.0)


def test_zero_discount_gives_more_than_ten_percent(cdnow_bgnbd: BgNbdFit) -> None:
    summary = _one_customer_summary()
    undiscounted = customer_clv(summary, cdnow_bgnbd, SIMPLE_GG, 39.0, 0.0, "week")
    discounted = customer_clv(summary, cdnow_bgnbd, SIMPLE_GG, 39.0, 0.10, "week")
    # Without discounting CLV is exactly E[Y(horizon)] * E[M].
    np.testing.assert_allclose(
        undiscounted.get_column("clv").to_numpy(),
        (
            undiscounted.get_column("expected_purchases")
            * undiscounted.get_column("expected_avg_value")
        ).to_numpy(),
        rtol=1e-12,
    )
    assert np.all(
        undiscounted.get_column("clv").to_numpy()
        > discounted.get_column("clv").to_numpy()
    )
    # 39 weeks are 8.97 months; at 10% a year no purchase is discounted by more
    # than 1.1^(-8.97/12) = 0.931.
    assert np.all(
        discounted.get_column("clv").to_numpy()
        >= 0.93 * undiscounted.get_column("clv").to_numpy()
    )


def test_zero_horizon_gives_zero_clv(cdnow_bgnbd: BgNbdFit) -> None:
    result = customer_clv(
        _one_customer_summary(), cdnow_bgnbd, SIMPLE_GG, 0.0, 0.1, "week"
    )
    assert result.get_column("clv").to_list() == [0.0, 0.0]
    assert result.get_column("expected_purchases").to_list() == [0.0, 0.0]


def test_model_table_rows() -> None:
    table = model_table(SIMPLE_BGNBD, SIMPLE_GG, dt.date(2024, 3, 31), "week")
    assert table.schema == pl.Schema(
        {
            "model": pl.String,
            "parameter": pl.String,
            "value": pl.Float64,
            "log_likelihood": pl.Float64,
            "n_customers": pl.Int64,
            "calibration_end": pl.Date,
            "time_unit": pl.String,
        }
    )
    assert table.select("parameter", "value").rows() == [
        ("r", 1.0),
        ("alpha", 1.0),
        ("a", 2.0),
        ("b", 3.0),
        ("p", 6.0),
        ("q", 4.0),
        ("v", 15.0),
    ]


# --------------------------------------------------------------------------------------
# Too little data
# --------------------------------------------------------------------------------------


def test_empty_input_raises_clv_fit_error() -> None:
    with pytest.raises(ClvFitError, match="at least 10 customers"):
        run_clv(transactions([]), CAL_END, "week", 39.0, 0.1)


def test_too_few_customers_raise_clv_fit_error(
    small_transactions: pl.DataFrame,
) -> None:
    with pytest.raises(ClvFitError, match="found 3"):
        run_clv(small_transactions, CAL_END, "week", 39.0, 0.1)


def test_no_repeat_buyers_raise_clv_fit_error() -> None:
    one_purchase_each = transactions(
        [(f"c{i}", dt.date(2024, 1, 1 + i), 10.0 + i) for i in range(12)]
    )
    with pytest.raises(ClvFitError, match="repeat purchase"):
        run_clv(one_purchase_each, CAL_END, "week", 39.0, 0.1)


def test_customers_who_never_drop_out_get_finite_forecasts() -> None:
    # 400 customers buying at the same Poisson rate (one purchase every 21 days on
    # average) and never dropping out: the fit runs to the edge of its search box
    # (r large, a small), and the forecasts must still be finite and match the
    # observed holdout purchases.
    rng = np.random.default_rng(20240331)
    start = dt.date(2024, 1, 1)
    calibration_day, last_day, rows = 272, 363, []
    for customer in range(400):
        first = int(rng.integers(0, 90))
        days = np.unique(
            np.concatenate(
                [
                    [first],
                    rng.integers(
                        first, last_day + 1, rng.poisson((last_day - first) / 21)
                    ),
                ]
            )
        )
        rows += [
            (f"c{customer}", start + dt.timedelta(days=int(d)), 25.0) for d in days
        ]
    frame = transactions(rows)
    customers, model = run_clv(
        frame, start + dt.timedelta(days=calibration_day), "day", 91.0, 0.10
    )
    forecasts = customers.select(
        "p_alive", "expected_purchases", "expected_avg_value", "clv"
    ).to_numpy()
    assert np.isfinite(forecasts).all()
    assert (customers.get_column("p_alive") > 0.9).all()
    holdout = frame.filter(
        pl.col("order_date") > start + dt.timedelta(days=calibration_day)
    ).unique(["customer_id", "order_date"])
    forecast = customers.get_column("expected_purchases").sum()
    assert forecast == pytest.approx(holdout.height, rel=0.1)
    # every repeat value is 25, so the Gamma-Gamma mean is 25 as well
    np.testing.assert_allclose(
        customers.get_column("expected_avg_value").to_numpy(), 25.0, rtol=1e-3
    )
    assert model.height == 7
