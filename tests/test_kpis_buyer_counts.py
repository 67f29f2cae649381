"""kpis.revenue.buyer_counts (the counts behind repeat_purchase_rate): distinct buyers
and buyers with two purchases or more per period and dimension value, from adjacent
rows of a sort instead of a distinct count per grouping. Expected numbers are worked out
by hand, and the whole result is checked against the distinct counts it replaces."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from kpis.periods import aggregate_by_period
from kpis.revenue import buyer_counts

D = dt.date
AS_OF = D(2024, 6, 30)


def _purchases(dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer": [1, 1, 1, 2, 2, 3, 3],
            "day": [D(2024, 1, 20), D(2024, 1, 5), D(2024, 4, 2), D(2024, 1, 10),
                    D(2024, 2, 1), D(2024, 3, 31), None],
            # customer 2: a missing segment and the segment literally called "unknown"
            # are one value; customer 1 changes segment in April
            "segment": ["a", "a", "b", None, "unknown", "a", "a"],
        },
        schema={"customer": pl.UInt32, "day": pl.Date, "segment": dtype},
    )


def _counts(frame: pl.DataFrame) -> dict[tuple[str, object, str, str], tuple[float, float]]:
    out = buyer_counts(
        frame, customer="customer", date="day", dimensions={"segment": "segment"},
        as_of=AS_OF,
    )
    assert out.schema["buyers"] == pl.Float64 and out.schema["repeaters"] == pl.Float64
    return {
        (grain, start, dimension, value): (buyers, repeaters)
        for grain, start, dimension, value, buyers, repeaters in out.select(
            "grain", "period_start", "dimension", "dimension_value", "buyers", "repeaters"
        ).rows()
    }


@pytest.mark.parametrize("dtype", [pl.String(), pl.Categorical()])
def test_buyer_counts_worked_out(dtype: pl.DataType) -> None:
    counts = _counts(_purchases(dtype))
    # dimension all: January has customers 1 (twice) and 2; May and June nobody
    assert counts[("month", D(2024, 1, 1), "all", "all")] == (2.0, 1.0)
    assert counts[("month", D(2024, 2, 1), "all", "all")] == (1.0, 0.0)
    assert counts[("month", D(2024, 4, 1), "all", "all")] == (1.0, 0.0)
    assert counts[("month", D(2024, 6, 1), "all", "all")] == (0.0, 0.0)
    # Q1: customers 1 (2 purchases), 2 (2), 3 (1); the undated purchase is in ``all`` only
    assert counts[("quarter", D(2024, 1, 1), "all", "all")] == (3.0, 2.0)
    assert counts[("year", D(2024, 1, 1), "all", "all")] == (3.0, 2.0)
    assert counts[("all", D(2024, 1, 5), "all", "all")] == (3.0, 3.0)
    # by segment: customer 2's two purchases are both "unknown"; customer 1's April
    # purchase is in segment b only
    assert counts[("quarter", D(2024, 1, 1), "segment", "unknown")] == (1.0, 1.0)
    assert counts[("month", D(2024, 1, 1), "segment", "unknown")] == (1.0, 0.0)
    assert counts[("quarter", D(2024, 1, 1), "segment", "a")] == (2.0, 1.0)
    assert counts[("quarter", D(2024, 4, 1), "segment", "a")] == (0.0, 0.0)
    assert counts[("quarter", D(2024, 4, 1), "segment", "b")] == (1.0, 0.0)
    assert counts[("all", D(2024, 1, 5), "segment", "a")] == (2.0, 2.0)
    assert counts[("all", D(2024, 1, 5), "segment", "b")] == (1.0, 0.0)
    assert ("month", D(2024, 3, 1), "segment", "b") not in counts  # b first seen in April


@pytest.mark.parametrize("dtype", [pl.String(), pl.Categorical()])
def test_buyer_counts_equal_distinct_counts(dtype: pl.DataType) -> None:
    frame = _purchases(dtype)
    expected = aggregate_by_period(
        frame,
        date="day",
        aggs=[
            pl.col("customer").n_unique().cast(pl.Float64).alias("buyers"),
            (pl.col("customer").unique_counts() >= 2).sum().cast(pl.Float64).alias("repeaters"),
        ],
        dimensions={"segment": "segment"},
        as_of=AS_OF,
    )
    got = buyer_counts(
        frame, customer="customer", date="day", dimensions={"segment": "segment"},
        as_of=AS_OF,
    )
    keys = ["grain", "period_start", "dimension", "dimension_value"]
    assert got.select(expected.columns).sort(keys).equals(expected.sort(keys))


def test_buyer_counts_without_purchases() -> None:
    out = buyer_counts(
        _purchases(pl.String()).clear(), customer="customer", date="day",
        dimensions={"segment": "segment"}, as_of=AS_OF,
    )
    rows = out.filter(pl.col("grain") == "month")
    assert rows.height == 1 and rows.row(0, named=True)["buyers"] == 0.0  # June, all
