"""Property tests of salesdw.ingest.parsers (dates, amounts) and readers (encodings).

Each hypothesis example is a whole batch of generated values, evaluated by one DuckDB
query over an Arrow table: the parsers are set-based SQL, and so is their test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesdw.ingest import parsers
from salesdw.ingest.readers import read_files, release

BATCH = st.lists  # every example is a batch of values
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def evaluate(con: duckdb.DuckDBPyConnection, expr: Callable[[str], str], values: list[str]) -> list[Any]:
    """``expr('v')`` over all values in one query, in input order."""
    con.register("_batch", pa.table({"i": list(range(len(values))),
                                     "v": pa.array(values, pa.string())}))
    try:
        return [r[0] for r in con.execute(f"select {expr('v')} from _batch order by i").fetchall()]
    finally:
        con.unregister("_batch")


# --------------------------------------------------------------------------- dates

MOMENTS = st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2100, 12, 31, 23, 59, 59))
EXCEL_EPOCH = dt.datetime(1899, 12, 30)


def _excel_serial(t: dt.datetime) -> str:
    delta = t - EXCEL_EPOCH
    return str(delta.days) if t.time() == dt.time() else f"{delta.total_seconds() / 86400:.10f}"


def _hour12(t: dt.datetime) -> str:
    return f"{t.month}/{t.day}/{t.year} {(t.hour % 12) or 12}:{t:%M} {'AM' if t.hour < 12 else 'PM'}"


#: Spellings that read the same whatever the day/month order of the source.
UNAMBIGUOUS_SPELLINGS: dict[str, Callable[[dt.datetime], str]] = {
    "iso date": lambda t: f"{t:%Y-%m-%d}",
    "YYYY年M月D日": lambda t: f"{t.year}年{t.month}月{t.day}日",
    "Excel serial date": lambda t: str((t.date() - EXCEL_EPOCH.date()).days),
}
#: How exports write a moment; each must parse back to the same local date.
MONTH_FIRST_SPELLINGS: dict[str, Callable[[dt.datetime], str]] = {
    **UNAMBIGUOUS_SPELLINGS,
    "iso space": lambda t: f"{t:%Y-%m-%d %H:%M:%S}",
    "iso minutes": lambda t: f"{t:%Y-%m-%d %H:%M}",
    "iso T Z": lambda t: f"{t:%Y-%m-%dT%H:%M:%S}Z",
    "iso T +08:00": lambda t: f"{t:%Y-%m-%dT%H:%M:%S}+08:00",
    "iso T -05:00 fraction": lambda t: f"{t:%Y-%m-%dT%H:%M:%S.%f}-05:00",
    "iso slashes": lambda t: f"{t:%Y/%m/%d}",
    "M/D/YYYY": lambda t: f"{t.month}/{t.day}/{t.year}",
    "MM/DD/YYYY": lambda t: f"{t:%m/%d/%Y}",
    "M/D/YYYY H:MM": lambda t: f"{t.month}/{t.day}/{t.year} {t.hour}:{t:%M}",
    "M/D/YYYY h:mm AM": _hour12,
    "YYYY年M月D日 HH:MM": lambda t: f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}",
    "Excel serial": _excel_serial,
    "YYYYMMDD": lambda t: f"{t:%Y%m%d}",
}
DAY_FIRST_SPELLINGS: dict[str, Callable[[dt.datetime], str]] = {
    "D/M/YYYY": lambda t: f"{t.day}/{t.month}/{t.year}",
    "DD/MM/YYYY HH:MM": lambda t: f"{t:%d/%m/%Y %H:%M}",
    "D.M.YYYY": lambda t: f"{t.day}.{t.month}.{t.year}",
    **UNAMBIGUOUS_SPELLINGS,
}


@SETTINGS
@given(BATCH(st.tuples(MOMENTS, st.sampled_from(sorted(MONTH_FIRST_SPELLINGS))),
             min_size=1, max_size=200))
def test_dates_parse_back(con: duckdb.DuckDBPyConnection,
                          batch: list[tuple[dt.datetime, str]]) -> None:
    texts = [MONTH_FIRST_SPELLINGS[kind](t) for t, kind in batch]
    got = evaluate(con, parsers.date_expr, texts)
    wrong = [(k, x, g) for (t, k), x, g in zip(batch, texts, got, strict=True) if g != t.date()]
    assert wrong == []


@SETTINGS
@given(BATCH(st.tuples(MOMENTS, st.sampled_from(sorted(DAY_FIRST_SPELLINGS))),
             min_size=1, max_size=200))
def test_day_first_dates_parse_back(con: duckdb.DuckDBPyConnection,
                                    batch: list[tuple[dt.datetime, str]]) -> None:
    texts = [DAY_FIRST_SPELLINGS[kind](t) for t, kind in batch]
    got = evaluate(con, lambda c: parsers.date_expr(c, day_first=True), texts)
    wrong = [(k, x, g) for (t, k), x, g in zip(batch, texts, got, strict=True) if g != t.date()]
    assert wrong == []


@SETTINGS
@given(BATCH(MOMENTS.map(lambda t: t.replace(microsecond=0)), min_size=1, max_size=100))
def test_timestamps_keep_the_local_time_as_written(
    con: duckdb.DuckDBPyConnection, batch: list[dt.datetime]
) -> None:
    texts = [f"{t:%Y-%m-%dT%H:%M:%S}+08:00" for t in batch]
    assert evaluate(con, parsers.timestamp_expr, texts) == batch


@SETTINGS
@given(BATCH(MOMENTS.map(lambda t: t.date()), min_size=1, max_size=100))
def test_explicit_date_format(con: duckdb.DuckDBPyConnection, batch: list[dt.date]) -> None:
    texts = [f"{d:%d %b %Y}" for d in batch]  # 05 Mar 2024, as some ERPs write it
    assert evaluate(con, lambda c: parsers.date_expr(c, "%d %b %Y"), texts) == batch


@pytest.mark.parametrize(("text", "date_format", "day_first"), [
    ("03-05-2024", None, False),  # %m-%d-%Y, in the built-in month-first list
    ("05-03-2024", None, True),  # %d-%m-%Y, in the built-in day-first list
    ("05-Mar-2024", "%d-%b-%Y", False),  # an explicit date_format
])
def test_dates_ending_in_dash_year(con: duckdb.DuckDBPyConnection, text: str,
                                   date_format: str | None, day_first: bool) -> None:
    got = evaluate(con, lambda c: parsers.date_expr(c, date_format, day_first), [text])
    assert got == [dt.date(2024, 3, 5)]


# --------------------------------------------------------------------------- amounts

AMOUNTS = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2,
                      allow_nan=False, allow_infinity=False)


def _grouped(d: Decimal) -> str:
    return f"{abs(d):,.2f}"


#: (spelling of an amount d, the value it stands for).
AMOUNT_SPELLINGS: dict[str, Callable[[Decimal], tuple[str, Decimal]]] = {
    "plain": lambda d: (f"{d:.2f}", d),
    "thousands": lambda d: (("-" if d < 0 else "") + _grouped(d), d),
    "$ prefix": lambda d: (("-" if d < 0 else "") + "$" + _grouped(d), d),
    "¥ prefix": lambda d: (("-" if d < 0 else "") + "¥" + _grouped(d), d),
    "￥ full-width": lambda d: ("￥" + f"{d:.2f}", d),
    "€ suffix": lambda d: (f"{d:.2f} €", d),
    "£ prefix": lambda d: (("-" if d < 0 else "") + "£" + _grouped(d), d),
    "ISO code": lambda d: ("USD " + ("-" if d < 0 else "") + _grouped(d), d),
    "元 suffix": lambda d: (("-" if d < 0 else "") + _grouped(d) + "元", d),
    "parentheses": lambda d: (f"(${_grouped(d)})" if d < 0 else f"${_grouped(d)}", d),
    "trailing minus": lambda d: (_grouped(d) + ("-" if d < 0 else ""), d),
    "percent": lambda d: (f"{d:.2f}%", d / 100),
    "grouped percent": lambda d: (("-" if d < 0 else "") + _grouped(d) + "%", d / 100),
    "padded": lambda d: (f"  {d:.2f}\u00a0", d),
}


@SETTINGS
@given(BATCH(st.tuples(AMOUNTS, st.sampled_from(sorted(AMOUNT_SPELLINGS))),
             min_size=1, max_size=200))
def test_amounts_parse_back(con: duckdb.DuckDBPyConnection,
                            batch: list[tuple[Decimal, str]]) -> None:
    spelled = [AMOUNT_SPELLINGS[kind](d) for d, kind in batch]
    got = evaluate(con, parsers.number_expr, [text for text, _ in spelled])
    wrong = [
        (text, float(value), g)
        for (text, value), g in zip(spelled, got, strict=True)
        if g is None or not math.isclose(g, float(value), rel_tol=1e-9, abs_tol=1e-12)
    ]
    assert wrong == []


@SETTINGS
@given(BATCH(st.integers(0, 100), min_size=1, max_size=100))
def test_probabilities_in_percent_or_fraction(con: duckdb.DuckDBPyConnection,
                                               batch: list[int]) -> None:
    # "35%" (Fxiaoke), "35" (Salesforce, Zoho) and "0.35" (HubSpot) are all 0.35
    texts = [t for p in batch for t in (f"{p}%", f"{p / 100:.2f}")]
    texts += [str(p) for p in batch if p > 1]  # "1" alone is ambiguous (1 % or 100 %)
    expected = [p / 100 for p in batch for _ in (0, 1)] + [p / 100 for p in batch if p > 1]
    got = evaluate(con, parsers.probability_expr, texts)
    assert all(math.isclose(g, e, abs_tol=1e-12) for g, e in zip(got, expected, strict=True))


# --------------------------------------------------------------------------- numbers that are not finite

#: texts of numbers beyond a double: exponents from 309 on, long runs of digits, with
#: the signs, currencies and separators an amount may carry
HUGE = st.one_of(
    st.tuples(st.integers(1, 9), st.integers(309, 5000)).map(lambda t: f"{t[0]}e{t[1]}"),
    st.tuples(st.integers(1, 9), st.integers(309, 5000)).map(lambda t: f"{t[0]}.5E+{t[1]}"),
    st.integers(310, 1000).map(lambda n: "9" * n),
    st.integers(310, 1000).map(lambda n: "1" + "0" * n + ".00"),
    st.integers(104, 200).map(lambda n: "$1" + ",000" * n),
)
SPELL_HUGE = st.sampled_from(["{}", "-{}", "({})", "${}", "{} USD", "¥{}", "{}-", " {} "])
NOT_FINITE_WORDS = st.sampled_from(["inf", "-inf", "+inf", "Infinity", "-Infinity", "nan", "NaN", "$inf"])


@SETTINGS
@given(BATCH(st.one_of(st.tuples(HUGE, SPELL_HUGE).map(lambda t: t[1].format(t[0])),
                       NOT_FINITE_WORDS), min_size=1, max_size=100))
def test_numbers_that_are_not_finite_do_not_parse_and_say_why(
        con: duckdb.DuckDBPyConnection, batch: list[str]) -> None:
    got = evaluate(con, lambda c: f"row({parsers.number_expr(c)}, {parsers.not_finite_expr(c)})",
                   batch)
    assert [(text, g) for text, g in zip(batch, got, strict=True) if g != (None, True)] == []


FINITE = st.floats(allow_nan=False, allow_infinity=False)


@SETTINGS
@given(BATCH(FINITE, min_size=1, max_size=200))
def test_every_finite_double_parses_back_and_is_not_flagged(
        con: duckdb.DuckDBPyConnection, batch: list[float]) -> None:
    """Python's shortest spelling of any double (1e+308, 5e-324, 123.0), and its
    400-character fixed-point spelling for the small ones, read back exactly."""
    texts = [repr(f) for f in batch] + [f"{f:.400f}" for f in batch if abs(f) < 1e-100]
    expected = batch + [f for f in batch if abs(f) < 1e-100]
    got = evaluate(con, lambda c: f"row({parsers.number_expr(c)}, {parsers.not_finite_expr(c)})",
                   texts)
    wrong = [(t, e, g) for t, e, g in zip(texts, expected, got, strict=True)
             if g[1] is not False or g[0] is None or not math.isclose(g[0], e, abs_tol=1e-300)]
    assert wrong == []


@SETTINGS
@given(BATCH(st.text(alphabet="0123456789eE.,+-$¥€%() infINFaA", max_size=400),
             min_size=1, max_size=200))
def test_no_text_parses_to_a_number_that_is_not_finite(
        con: duckdb.DuckDBPyConnection, batch: list[str]) -> None:
    got = evaluate(con, parsers.number_expr, batch)
    assert [(t, g) for t, g in zip(batch, got, strict=True)
            if g is not None and not math.isfinite(g)] == []


# --------------------------------------------------------------------------- currency marks

CURRENCIES = st.sampled_from(["USD", "EUR", "CNY", "RMB", "GBP", "JPY", "HKD", "AUD", "CHF"])
MARK_SPELLINGS = {
    "$": "${:,.2f}", "¥": "¥{:,.2f}", "￥": "￥{:.2f}", "元": "{:,.2f}元", "€": "{:.2f} €",
    "£": "£{:,.2f}", "USD": "USD {:,.2f}", "EUR": "{:.2f} EUR", "CNY": "CNY{:.2f}",
    "RMB": "RMB {:.2f}", "GBP": "GBP {:.2f}", "JPY": "JPY {:.0f}", "HKD": "HKD {:.2f}",
}


@SETTINGS
@given(BATCH(st.tuples(AMOUNTS.map(abs), st.sampled_from(sorted(MARK_SPELLINGS)), CURRENCIES),
             min_size=1, max_size=200))
def test_a_currency_mark_conflicts_exactly_with_the_currencies_it_does_not_stand_for(
        con: duckdb.DuckDBPyConnection, batch: list[tuple[Decimal, str, str]]) -> None:
    rows = [(MARK_SPELLINGS[mark].format(d), mark, currency) for d, mark, currency in batch]
    con.register("_marks", pa.table({
        "i": list(range(len(rows))),
        "v": [r[0] for r in rows],
        "c": [r[2] for r in rows],
    }))
    try:
        got = con.execute(
            f"select {parsers.currency_mark_expr('v')}, "
            f"{parsers.currency_conflict_expr('v', 'c')}, {parsers.number_expr('v')} "
            "from _marks order by i"
        ).fetchall()
    finally:
        con.unregister("_marks")
    expected = [(mark, currency not in parsers.CURRENCY_MARKS[mark]) for _, mark, currency in rows]
    assert [(g[0], g[1]) for g in got] == expected
    # the amount itself still reads as the number written
    assert all(g[2] is not None and math.isclose(g[2], float(round(d, 2 if m != "JPY" else 0)),
                                                 rel_tol=1e-9, abs_tol=0.01)
               for g, (d, m, _) in zip(got, batch, strict=True))


@SETTINGS
@given(BATCH(st.tuples(AMOUNTS, CURRENCIES), min_size=1, max_size=200))
def test_an_amount_without_a_mark_never_conflicts(
        con: duckdb.DuckDBPyConnection, batch: list[tuple[Decimal, str]]) -> None:
    con.register("_plain", pa.table({
        "v": [f"{d:,.2f}" if i % 2 else f"{d:.2f}" for i, (d, _) in enumerate(batch)],
        "c": [c for _, c in batch],
    }))
    try:
        got = con.execute(
            f"select count(*) filter ({parsers.currency_conflict_expr('v', 'c')}) from _plain"
        ).fetchall()[0]
    finally:
        con.unregister("_plain")
    assert got == (0,)


# --------------------------------------------------------------------------- what must not parse

NOT_DATES = ["31/02/2025", "2/29/2023", "13/13/2024", "n/a", "N/A", "-", "TBD",
             "=cmd|' /C calc'!A0", "2024-13-01", "2024年13月1日", "1234"]
NOT_NUMBERS = ["n/a", "1.2.3", "=cmd|' /C calc'!A0", "--5", "5%%", "$", "-", "%", "1_000",
               "0x10", "inf", "nan", "twelve", "12 500 000 000 000 000 000 000 000 x"]


@pytest.mark.parametrize("day_first", [False, True])
def test_not_dates(con: duckdb.DuckDBPyConnection, day_first: bool) -> None:
    got = evaluate(con, lambda c: parsers.date_expr(c, day_first=day_first), NOT_DATES)
    assert dict(zip(NOT_DATES, got, strict=True)) == dict.fromkeys(NOT_DATES)


def test_not_numbers(con: duckdb.DuckDBPyConnection) -> None:
    got = evaluate(con, parsers.number_expr, NOT_NUMBERS)
    assert dict(zip(NOT_NUMBERS, got, strict=True)) == dict.fromkeys(NOT_NUMBERS)


@pytest.mark.parametrize(("text", "day_first"), [("1.2.3", True), ("1/2/3", False),
                                                 ("1/2/3", True)])
def test_short_years_are_not_dates(con: duckdb.DuckDBPyConnection, text: str,
                                   day_first: bool) -> None:
    assert evaluate(con, lambda c: parsers.date_expr(c, day_first=day_first), [text]) == [None]


@pytest.mark.parametrize("text", ["(5", "5)", "1,2,3"])
def test_malformed_amounts_are_not_numbers(con: duckdb.DuckDBPyConnection, text: str) -> None:
    assert evaluate(con, parsers.number_expr, [text]) == [None]


def test_empty_text_is_null_everywhere(con: duckdb.DuckDBPyConnection) -> None:
    blanks = ["", "   ", "\u00a0", None]
    for expr in (parsers.date_expr, parsers.number_expr, parsers.probability_expr,
                 parsers.boolean_expr, parsers.clean_text, parsers.id_expr):
        assert evaluate(con, expr, blanks) == [None] * 4, expr.__name__


def test_ids_that_went_through_excel(con: duckdb.DuckDBPyConnection) -> None:
    texts = ["17850.0", "17850.00", "17850.5", " 007 ", "A-17850.0", "1.0e4"]
    assert evaluate(con, parsers.id_expr, texts) == [
        "17850", "17850", "17850.5", "007", "A-17850.0", "1.0e4",
    ]


# --------------------------------------------------------------------------- fast paths

#: Texts near the fast paths' edges: signs, spaces (also non-breaking), separators,
#: exponents, NaN/inf spellings, currency marks, percent, times and zones.
EDGY = st.one_of(
    st.text(alphabet=list("0123456789.,'-+()%$€ eE\u00a0naifINF"), max_size=14),
    st.text(alphabet=list("0123456789/-.: TZ+APM年月日\u00a0"), max_size=24),
    st.builds(lambda d, pad: f"{pad}{d}{pad}", AMOUNTS.map(str), st.sampled_from(["", " ", "\u00a0"])),
    st.builds(lambda t, f: t.strftime(f), MOMENTS, st.sampled_from(
        ["%Y-%m-%d", "%m/%d/%Y", "%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y", "%Y%m%d",
         "%Y-%m-%dT%H:%M:%SZ", " %Y-%m-%d ", "%m/%d/%Y %I:%M %p", "%Y年%m月%d日",
         "%Y年%m月%d日 %H:%M", "%Y-%m-%d %H:%M", "%Y-%-m-%-d %-H:%M", "%Y-%m-%d %H:%M:%S+08:00",
         "%Y/%m/%d %H:%M", "%y-%m-%d"])),
    st.sampled_from(["", " ", "\u00a0", "NaN", "nan", "inf", "-inf", "Infinity", "+5", "1e5",
                     "1e-5", "1E+05", ".5", "5.", "-0", "-0.0", "00012.50", "1,234.5",
                     "17850.0", " 17850.00 ", "1.0e4", "2024-02-30", "2024-2-3", "99999"]),
)
FORMATS = [None, "%m/%d/%Y", "%m/%d/%Y %H:%M", "%Y-%m-%d", "%d.%m.%Y", "%Y%m%d", "%d %b %Y"]


def _same(a: list[Any], b: list[Any]) -> list[tuple[int, Any, Any]]:
    return [(i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=True))
            if not (x == y or (x is None and y is None))]


@SETTINGS
@given(BATCH(EDGY, min_size=1, max_size=200))
def test_number_fast_path_is_the_full_chain(con: duckdb.DuckDBPyConnection,
                                            batch: list[str]) -> None:
    # the fast path (a plain decimal: one cast) and the builder on clean text (as the
    # loader calls it) give exactly what the full chain gives on the raw text
    chain = evaluate(con, parsers._number_chain, batch)
    assert _same(evaluate(con, parsers.number_expr, batch), chain) == []
    on_clean = evaluate(con, lambda c: parsers.number_expr(parsers.clean_text(c), clean=True), batch)
    assert _same(on_clean, chain) == []
    prob = evaluate(con, parsers.probability_expr, batch)
    prob_clean = evaluate(
        con, lambda c: parsers.probability_expr(parsers.clean_text(c), clean=True), batch)
    assert _same(prob_clean, prob) == []


def test_number_fast_path_on_every_short_text(con: duckdb.DuckDBPyConnection) -> None:
    # every text of up to 5 characters of "05.-,$" and the edge spellings: the fast
    # paths (digits, "." and "-"; a currency sign and thousands commas) meet the chain
    # exactly where they apply ("5." and "$1,23" do not)
    texts = [""]
    for n in range(1, 6):
        texts += ["".join(p) for p in itertools.product("05.-,$", repeat=n)]
    texts += ["5.", "-5.", "1e-5", "1E5", "+5", "nan", "inf", "-inf", "1_000", "0x10", " 5",
              "5 ", "\t5", "1 000", "١٢", "１２", "12.50", "-0", "-.5", "99" * 200,
              "$47,100.00", "€1,191,000", "¥1,000,000.25", "￥12", "£0.5", "$1,23", "$,100",
              "$1234,567", "$$5", "5$", "1,000.", "USD 1,000", "$-5", "-$5", "1'000"]
    chain = evaluate(con, parsers._number_chain, texts)
    assert _same(evaluate(con, parsers.number_expr, texts), chain) == []
    on_clean = evaluate(con, lambda c: parsers.number_expr(parsers.clean_text(c), clean=True), texts)
    assert _same(on_clean, chain) == []


@SETTINGS
@given(BATCH(EDGY, min_size=1, max_size=200), st.sampled_from(FORMATS), st.booleans())
def test_date_fast_path_is_the_full_chain(con: duckdb.DuckDBPyConnection, batch: list[str],
                                          date_format: str | None, day_first: bool) -> None:
    chain = evaluate(con, lambda c: parsers._timestamp_chain(c, date_format, day_first, False),
                     batch)
    fast = evaluate(con, lambda c: parsers.timestamp_expr(c, date_format, day_first), batch)
    assert _same(fast, chain) == []
    on_clean = evaluate(con, lambda c: parsers.timestamp_expr(
        parsers.clean_text(c), date_format, day_first, clean=True), batch)
    assert _same(on_clean, chain) == []


DATE_EDGES = ["2024-01-05", "2024-1-5", "2024-01-05 10:22", "2024-01-05 1:02", "2024-01-05 10:22:33",
              "2024-01-05 10:22:33.5", "2024-01-05T10:22", "2024-01-05 10:22Z", "2024-01-05 10:22+08:00",
              "2024-02-30", "2024-01-05 25:00", "2024-01-05 10:61", "1-2-3", "0024-01-05",
              "2024年1月5日", "2024年1月5日 10:22", "2024年13月5日", "1/5/2024", "01/05/2024 10:22",
              "5.1.2024", "20240105", "45000", " 2024-01-05 ", "2024-01-05\u00a0", "", "x"]


@pytest.mark.parametrize("date_format", FORMATS)
@pytest.mark.parametrize("day_first", [False, True])
def test_date_fast_path_on_edge_texts(con: duckdb.DuckDBPyConnection, date_format: str | None,
                                      day_first: bool) -> None:
    chain = evaluate(con, lambda c: parsers._timestamp_chain(c, date_format, day_first, False),
                     DATE_EDGES)
    fast = evaluate(con, lambda c: parsers.timestamp_expr(c, date_format, day_first), DATE_EDGES)
    assert _same(fast, chain) == []
    assert any(v is not None for v in fast)


#: characters around which trimming and emptiness are decided: ASCII space and controls,
#: NBSP and other Unicode space separators, a combining accent, CJK, printable ASCII
CLEAN_EDGE_CHARS = [" ", "\t", "\n", "\r", "\x01", "\x1f", "\x7f", "\u00a0", "\u3000", "\u2003",
                    "\u202f", "\u1680", "\u0301", "é", "中", "a", "!", "~", "0", "."]


def test_clean_text_fast_path_on_every_short_text(con: duckdb.DuckDBPyConnection) -> None:
    # every text of up to 3 of the edge characters, and every ASCII character alone and
    # around a letter: the fast path (ASCII, no space at either end) gives the chain's text
    texts = [""]
    for n in range(1, 4):
        texts += ["".join(p) for p in itertools.product(CLEAN_EDGE_CHARS, repeat=n)]
    for code in range(1, 128):
        texts += [chr(code), chr(code) + "a" + chr(code), "a" + chr(code), chr(code) + "a"]
    chain = evaluate(con, parsers._clean_text_chain, texts)
    assert _same(evaluate(con, parsers.clean_text, texts), chain) == []
    assert sum(v is None for v in chain) > 1 and any(v != t for v, t in zip(chain, texts, strict=True))


@SETTINGS
@given(BATCH(st.one_of(EDGY, st.text(max_size=12),
                       st.text(alphabet=st.sampled_from(CLEAN_EDGE_CHARS), max_size=6)),
             min_size=1, max_size=200))
def test_clean_text_fast_path_is_the_chain(con: duckdb.DuckDBPyConnection,
                                           batch: list[str]) -> None:
    chain = evaluate(con, parsers._clean_text_chain, batch)
    assert _same(evaluate(con, parsers.clean_text, batch), chain) == []


@SETTINGS
@given(BATCH(st.one_of(EDGY, st.sampled_from(sorted(parsers.ENUM_SYNONYMS["status"])),
                       st.sampled_from([" Yes ", "NO", "x", "是"])), min_size=1, max_size=200))
def test_text_builders_on_clean_text(con: duckdb.DuckDBPyConnection, batch: list[str]) -> None:
    # ids skip the regex when there is no "."; every builder gives on the clean text
    # what it gives on the raw text
    plain_id = evaluate(con, lambda c: f"regexp_replace({parsers.clean_text(c)}, "
                        "'^(\\d+)\\.0+$', '\\1')", batch)
    assert _same(evaluate(con, parsers.id_expr, batch), plain_id) == []
    builders: list[Callable[..., str]] = [
        parsers.id_expr, parsers.boolean_expr, parsers.number_expr,
        lambda c, **k: parsers.enum_expr(c, "status", ("completed", "cancelled", "returned"), **k),
        lambda c, **k: parsers.date_expr(c, "%m/%d/%Y", **k),
    ]
    for build in builders:
        raw = evaluate(con, build, batch)
        clean = evaluate(con, lambda c, b=build: b(parsers.clean_text(c), clean=True), batch)
        assert _same(clean, raw) == []


# --------------------------------------------------------------------------- encodings

TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK unified ideographs
        st.sampled_from(list('，。、；：“”‘’（）《》￥¥€£ ,;"\'\t')),
    ),
    min_size=1, max_size=30,
).map(str.strip).filter(bool)

ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "utf-16"]


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ENCODINGS), BATCH(st.tuples(TEXT, TEXT), min_size=1, max_size=50),
       st.booleans())
def test_encodings_read_back_identical(
    con: duckdb.DuckDBPyConnection, tmp_path_factory: pytest.TempPathFactory,
    encoding: str, records: list[tuple[str, str]], declare: bool,
) -> None:
    records = [r for r in records if all(_encodable(v, encoding) for v in r)]
    tmp = tmp_path_factory.mktemp("enc")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["客户名称", "备注"])  # a Chinese export has Chinese headers
    writer.writerows(records)
    path = tmp / f"export_{encoding}.csv"
    path.write_bytes(buf.getvalue().encode(encoding))
    read = read_files(con, [path], "_enc", file_format=None, delimiter=",",
                      encoding=encoding if declare else None, sheet=None, workdir=tmp)
    assert read.unreadable == {}
    assert read.columns == ["客户名称", "备注"]
    got = con.execute('select "客户名称", "备注", _row_number from _enc order by _row_number').fetchall()
    assert got == [(a, b, i) for i, (a, b) in enumerate(records, start=1)]
    assert read.rows_in == {str(path): len(records)}
    assert read.rejects is None
    release(con, "_enc")
    for leftover in Path(tmp).glob("tmp*.csv"):  # transcoded copies are cleaned up
        raise AssertionError(f"left behind {leftover}")
