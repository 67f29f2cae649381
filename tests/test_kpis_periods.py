"""kpis.periods.aggregate_by_period on a dimension held as Categorical (the inputs'
dimensions are): grouped on the categories, with the same groups and text values as on
the column cast to text. Expected numbers are worked out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from kpis.periods import aggregate_by_period, sum_by_period

D = dt.date


def _sales(dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [D(2024, 1, 3), D(2024, 1, 9), D(2024, 1, 20), D(2024, 2, 2),
                    D(2024, 2, 5), D(2024, 3, 1)],
            # a missing region and the region literally called "unknown" are one value
            "region": ["EU", None, "unknown", "EU", "US", None],
            "amount": [10.0, 1.0, 2.0, 20.0, 5.0, 4.0],
        },
        schema={"day": pl.Date, "region": dtype, "amount": pl.Float64},
    )


def _months(dtype: pl.DataType) -> list[tuple[object, ...]]:
    out = aggregate_by_period(
        _sales(dtype),
        date="day",
        aggs=[pl.col("amount").sum().alias("amount"), pl.len().alias("rows")],
        dimensions={"region": "region"},
        as_of=D(2024, 3, 31),
        grains=("month",),
    )
    assert out.schema["dimension_value"] == pl.String
    return sorted(out.select("dimension", "dimension_value", "period_start", "amount",
                             "rows").rows(), key=str)


def test_categorical_dimension_groups_as_its_text() -> None:
    expected = [
        ("all", "all", D(2024, 1, 1), 13.0, 3),
        ("all", "all", D(2024, 2, 1), 25.0, 2),
        ("all", "all", D(2024, 3, 1), 4.0, 1),
        ("region", "EU", D(2024, 1, 1), 10.0, 1),
        ("region", "EU", D(2024, 2, 1), 20.0, 1),
        ("region", "EU", D(2024, 3, 1), 0.0, 0),  # gap filled from EU's first month
        ("region", "US", D(2024, 2, 1), 5.0, 1),
        ("region", "US", D(2024, 3, 1), 0.0, 0),
        ("region", "unknown", D(2024, 1, 1), 3.0, 2),  # None 1 + "unknown" 2
        ("region", "unknown", D(2024, 2, 1), 0.0, 0),
        ("region", "unknown", D(2024, 3, 1), 4.0, 1),
    ]
    assert _months(pl.Categorical()) == expected
    assert _months(pl.String()) == expected


@pytest.mark.parametrize("dtype", [pl.Categorical(), pl.String()])
def test_sum_by_period_is_aggregate_by_period_of_sums(dtype: pl.DataType) -> None:
    """Summed per day and value first, then per period: the same rows and sums as
    aggregate_by_period on the rows (every grain; the undated row in grain ``all``)."""
    sales = pl.concat(
        [
            _sales(dtype),
            pl.DataFrame(
                {"day": [None, D(2024, 4, 2)], "region": ["US", "EU"], "amount": [7.0, 1.0]},
                schema=_sales(dtype).schema,
            ),
        ]
    )
    as_of = D(2024, 3, 31)  # the April row is after it and left out
    got = sum_by_period(
        sales,
        date="day",
        sums={"amount": pl.col("amount"), "rows": pl.lit(1, dtype=pl.Int64)},
        dimensions={"region": "region"},
        as_of=as_of,
    )
    expected = aggregate_by_period(
        sales,
        date="day",
        aggs=[pl.col("amount").sum(), pl.len().cast(pl.Int64).alias("rows")],
        dimensions={"region": "region"},
        as_of=as_of,
    )
    keys = ["grain", "period_start", "dimension", "dimension_value"]
    assert got.select(expected.columns).sort(keys).equals(expected.sort(keys))
    totals = {
        (grain, dimension, value): (amount, rows)
        for grain, dimension, value, amount, rows in got.filter(
            pl.col("grain").is_in(["all", "quarter"])
        )
        .select("grain", "dimension", "dimension_value", "amount", "rows")
        .rows()
    }
    assert totals[("all", "all", "all")] == (49.0, 7)  # 42 dated + 7 undated
    assert totals[("quarter", "all", "all")] == (42.0, 6)
    assert totals[("all", "region", "US")] == (12.0, 2)
    assert totals[("quarter", "region", "unknown")] == (7.0, 3)
