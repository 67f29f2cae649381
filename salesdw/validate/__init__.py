"""Data quality of the loaded batches (docs/data_quality.md).

- :mod:`salesdw.validate.expectations` — Great Expectations suites derived from the
  canonical entity models (``schemas.entities``).
- :mod:`salesdw.validate.batches` — the batches loaded in a run exported to Arrow files
  by ingestion's process (:func:`export_batches`), ``DqResult`` and
  :func:`store_results` (``meta.dq_results``); no GX import.
- :mod:`salesdw.validate.runner` — :func:`validate_batches`: every exported batch is
  validated with GX (pandas datasource), one result per expectation, and GX Data Docs
  are rendered; :func:`validate_run` does export, validation and storage in one call.
- :mod:`salesdw.validate.hygiene` — :func:`hygiene_checks`: cross-table checks in SQL
  (unmapped stage labels, unresolved owners, duplicate customers, orphan orders / lines,
  records dated after the run date) into ``meta.hygiene``.

This module holds the rules shared by the GX suites and the SQL hygiene checks and does
not import Great Expectations (importing GX takes seconds): ``validate_run`` is imported
lazily from the runner.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import duckdb

from salesdw.db import quote_str, scalar
from schemas.entities import natural_key

# GX would otherwise try to send usage statistics over the network.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

#: Dates (and timestamps) outside [DATE_MIN, DATE_MAX] are implausible for sales data:
#: typically a parse error (two-digit years, Excel serial 0 → 1899-12-30, 9999-12-31
#: placeholders).
DATE_MIN = dt.date(1990, 1, 1)
DATE_MAX = dt.date(2100, 1, 1)

#: Entity → field holding a CRM stage label, matched on lower(trim(label)) against the
#: stage seed (seeds/stage_mapping.csv), exactly as the dbt staging models match it.
STAGE_FIELDS: dict[str, str] = {
    "opportunities": "stage",
    "opportunity_stage_history": "stage",
}

#: (entity, field) → referenced entity; the referenced column is that entity's
#: (single-column) natural key. Checked only when the referenced raw table is non-empty;
#: failures are warnings (stored, the run is not failed).
REFERENCES: dict[tuple[str, str], str] = {
    ("opportunities", "owner_rep_id"): "reps",
    ("orders", "rep_id"): "reps",
    ("leads", "owner_rep_id"): "reps",
    ("customers", "owner_rep_id"): "reps",
    ("orders", "customer_id"): "customers",
    ("opportunities", "customer_id"): "customers",
    ("order_lines", "product_id"): "products",
    ("invoices", "customer_id"): "customers",
    ("invoices", "rep_id"): "reps",
    ("payments", "invoice_id"): "invoices",
    ("payments", "customer_id"): "customers",
    ("activities", "rep_id"): "reps",
    ("activities", "customer_id"): "customers",
    ("activities", "lead_id"): "leads",
    ("activities", "opportunity_id"): "opportunities",
}

#: Canonical stages (the seed's ``stage``) of a closed opportunity, as
#: int_opportunities_mapped has them (is_closed).
CLOSED_STAGES: tuple[str, ...] = ("won", "lost")

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
STAGE_SEED = PROJECT_DIR / "seeds" / "stage_mapping.csv"


def stage_key_column(field: str) -> str:
    """Name of the derived column lower(trim(<field>)) added to a validated batch."""
    return f"_{field}_key"


def reference_flag_column(field: str) -> str:
    """Name of the derived column: empty where ``field`` is a loaded key of the referenced
    entity, else the unresolved id."""
    return f"_{field}_resolves"


def referenced_key(entity: str, field: str) -> tuple[str, str] | None:
    """(referenced entity, its key column) of a cross-entity id field, else None."""
    ref = REFERENCES.get((entity, field))
    return None if ref is None else (ref, natural_key(ref)[0])


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        scalar(
            con,
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        )
    )


def stage_seed_relation(
    con: duckdb.DuckDBPyConnection,
    seed: Path | None = None,
    stages: tuple[str, ...] | None = None,
) -> str | None:
    """SQL relation with one column ``label`` = lower(trim(source_label)) of the stage seed
    (only the labels of canonical ``stages`` when given, e.g. ``CLOSED_STAGES``).

    The seed CSV is the source of truth (dbt loads it into ``seeds.stage_mapping`` only
    later in the run, so at validation time that table is missing or last night's); the
    table is used only when the CSV is not there. None when neither exists.
    """
    path = seed or STAGE_SEED
    if path.is_file():
        src = f"read_csv({quote_str(str(path))}, header = true, all_varchar = true)"
    elif table_exists(con, "seeds", "stage_mapping"):
        src = "seeds.stage_mapping"
    else:
        return None
    only = f" and stage in ({', '.join(quote_str(s) for s in stages)})" if stages else ""
    return (
        f"(select distinct lower(trim(source_label)) as label from {src} "
        f"where source_label is not null{only})"
    )


def stage_labels(con: duckdb.DuckDBPyConnection, seed: Path | None = None) -> set[str] | None:
    """The known stage labels, lower(trim())-ed; None when there is no stage seed."""
    relation = stage_seed_relation(con, seed)
    if relation is None:
        return None
    return {r[0] for r in con.execute(f"select label from {relation}").fetchall()}


def __getattr__(name: str) -> Any:
    if name == "validate_run":
        from salesdw.validate import runner

        return getattr(runner, name)
    if name == "DqResult":
        from salesdw.validate import batches

        return getattr(batches, name)
    if name in ("hygiene_checks", "HygieneResult"):
        from salesdw.validate import hygiene

        return getattr(hygiene, name)
    raise AttributeError(name)
