"""Helpers for the ingestion tests: write landing files, load them, read tables back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from salesdw.ingest.loader import IngestReport, Loader
from salesdw.ingest.mapping import plan
from schemas.config import Config


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def config(root: Path, sources: list[dict[str, Any]], **extra: Any) -> Config:
    return Config.model_validate(
        {
            "warehouse": "wh.duckdb",
            "landing": "landing",
            "sources": sources,
            "base_dir": root,
            **extra,
        }
    )


def load(
    root: Path,
    sources: list[dict[str, Any]],
    run_id: str = "r1",
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[duckdb.DuckDBPyConnection, IngestReport]:
    plans = plan(config(root, sources))  # config errors surface before anything is opened
    con = con or duckdb.connect(str(root / "wh.duckdb"))
    report = Loader(con, run_id, root, progress=lambda _m: None).load(plans)
    return con, report


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()
