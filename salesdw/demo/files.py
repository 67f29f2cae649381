"""Writing landing files byte-for-byte reproducibly (CSV in any encoding, xlsx)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import openpyxl
import polars as pl

_FIXED_ZIP_TIME = (2026, 11, 1, 0, 0, 0)


def write_csv(df: pl.DataFrame, path: Path, encoding: str = "utf-8", bom: bool = False) -> int:
    """Write ``df`` as CSV in ``encoding`` (GBK for Chinese exports); returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = df.write_csv(None, float_precision=2)
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return df.height


def write_xlsx_deterministic(workbook: openpyxl.Workbook, path: Path) -> None:
    """Save an openpyxl workbook with fixed timestamps, so equal content gives equal bytes."""
    buf = io.BytesIO()
    workbook.save(buf)
    buf.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                    rb"\g<1>2026-11-01T00:00:00Z\g<2>",
                    data,
                )
            info = zipfile.ZipInfo(item.filename, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            dst.writestr(info, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())


def dates(days: np.ndarray, fmt: str) -> pl.Series:
    """Day numbers formatted with a strftime pattern (nulls for NEVER / negative sentinels)."""
    valid = days < 10**6
    s = pl.Series(np.where(valid, days, 0).astype("datetime64[D]")).dt.strftime(fmt)
    return pl.select(pl.when(pl.Series(valid)).then(s).otherwise(None)).to_series()


def timestamps(days: np.ndarray, minutes: np.ndarray, fmt: str) -> pl.Series:
    """Day numbers plus minutes of the day, formatted with a strftime pattern."""
    ts = ((days * 1440 + minutes) * 60_000).astype("datetime64[ms]")
    return pl.Series(ts).dt.strftime(fmt)


def money_us(amount: np.ndarray) -> pl.Series:
    """Amounts as Salesforce's US locale prints them: ``$12,500.00``."""
    return pl.Series([f"${a:,.2f}" for a in amount.tolist()], dtype=pl.String)


def money_grouped(amount: np.ndarray) -> pl.Series:
    """Amounts with thousands separators, no symbol: ``12,500.00``."""
    return pl.Series([f"{a:,.2f}" for a in amount.tolist()], dtype=pl.String)


def base62(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers as fixed-width base-62 strings (vectorised)."""
    alphabet = np.frombuffer(
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
    )
    codes = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.int64).copy()
    for pos in range(width - 1, -1, -1):
        codes[:, pos] = alphabet[v % 62]
        v //= 62
    return codes.view(f"S{width}").ravel().astype(str)


def salesforce_ids(rng: np.random.Generator, key_prefix: str, n: int) -> list[str]:
    """18-character Salesforce-style record ids, increasing like real ones (``0015g00000…``)."""
    counter = 62**7 * 17 + int(rng.integers(0, 62**7)) + np.cumsum(rng.integers(1, 900, n))
    ids: list[str] = np.char.add(f"{key_prefix}5g00000", base62(counter, 8)).tolist()
    return ids


def numeric_ids(rng: np.random.Generator, start: int, n: int, max_gap: int = 40) -> list[str]:
    """Increasing numeric record ids with gaps (HubSpot style)."""
    ids: list[str] = (start + np.cumsum(rng.integers(1, max_gap, n))).astype(str).tolist()
    return ids


def write_csv_chunks(
    frames: Iterable[pl.DataFrame], path: Path, encoding: str = "utf-8", bom: bool = False
) -> int:
    """Write frames of the same columns one after the other as one CSV (one header), so
    that a large export never exists as one frame; the bytes equal :func:`write_csv` of
    their concatenation. Returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with path.open("wb") as out:
        out.write(b"\xef\xbb\xbf" if bom else b"")
        for frame in frames:
            out.write(frame.write_csv(None, float_precision=2, include_header=rows == 0)
                      .encode(encoding))
            rows += frame.height
    return rows


def chunks(n: int, size: int = 500_000) -> Iterator[np.ndarray]:
    """Row numbers 0..n-1 in consecutive chunks of at most ``size`` (one empty chunk when
    n is 0, so that a file still gets its header)."""
    for start in range(0, max(n, 1), size):
        yield np.arange(start, min(start + size, n))
