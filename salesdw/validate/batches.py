"""A run's batches as files for Great Expectations, and the results' table; imports no GX.

A batch is the rows of ``raw.<entity>`` loaded by one source in the run
(``_run_id = run_id and _source = source``). Ingestion's process, whose DuckDB has just
written them, exports each batch to an Arrow IPC file (:func:`export_batches`): the columns the
entity's rules (:mod:`salesdw.validate.rules`) look at, the derived ones computed in
DuckDB (``_<stage>_key`` = lower(trim(stage)), exactly as dbt matches the stage seed,
and ``_<id>_resolves``: empty where a cross-entity id is a key of the referenced raw
table, else the id). The validation process reads those files
(:func:`salesdw.validate.runner.validate_batches`) and never opens the warehouse, so it
can run while dbt builds it; the run stores the results afterwards
(:func:`store_results`).

The derived columns are computed against the raw tables as they stand after the run's
load, which is what the validation saw before it ran alongside dbt.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from salesdw.db import quote_ident, scalar
from salesdw.validate import (
    STAGE_FIELDS,
    reference_flag_column,
    referenced_key,
    stage_key_column,
    stage_labels,
    table_exists,
)
from salesdw.validate.rules import CRITICAL, rule_columns, rules
from schemas.entities import ENTITIES, fields

#: rows per Arrow record batch written (bounds the exporting process's memory)
ROWS_PER_BATCH = 1_000_000


@dataclass(frozen=True)
class DqResult:
    """One expectation on one batch (a row of ``meta.dq_results`` plus context)."""

    run_id: str
    source: str
    entity: str
    expectation: str
    success: bool
    unexpected_count: int | None
    severity: str = CRITICAL  # critical / warning (a warning never fails a run)
    element_count: int | None = None
    error: str | None = None  # GX raised instead of evaluating the expectation

    @property
    def is_error(self) -> bool:
        """A failed expectation that counts against the batch (not a warning)."""
        return not self.success and self.severity == CRITICAL


@dataclass(frozen=True)
class Batch:
    """One exported batch: the rows ``source`` loaded into ``raw.<entity>`` in the run."""

    entity: str
    source: str
    path: Path
    rows: int


@dataclass(frozen=True)
class BatchExport:
    """What the validation of a run needs, without a connection to the warehouse."""

    run_id: str
    #: the folder of the batches' files (deleted once they are validated)
    folder: Path
    batches: tuple[Batch, ...]
    #: the stage seed's labels, lower(trim())-ed; None when there is no stage seed
    stage_labels: frozenset[str] | None
    #: the referenced entities that have loaded keys (their references are checked)
    references: frozenset[str]

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.batches)


def run_batches(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, str]]:
    """(entity, source) of every batch loaded in the run."""
    out: list[tuple[str, str]] = []
    for entity in ENTITIES:
        if not table_exists(con, "raw", entity):
            continue
        rows = con.execute(
            f"select distinct _source from raw.{entity} where _run_id = ? order by 1", [run_id]
        ).fetchall()
        out.extend((entity, r[0]) for r in rows)
    return out


def loaded_references(con: duckdb.DuckDBPyConnection, entities: set[str]) -> set[str]:
    """The entities referenced by ``entities`` that have loaded keys."""
    out: set[str] = set()
    for entity in entities:
        for f in fields(entity):
            ref = referenced_key(entity, f)
            if ref is None or ref[0] in out or not table_exists(con, "raw", ref[0]):
                continue
            if scalar(con, f"select count(*) from (select 1 from raw.{ref[0]} limit 1)"):
                out.add(ref[0])
    return out


def batch_select(
    entity: str,
    stage_labels: frozenset[str] | None,
    references: frozenset[str],
) -> str:
    """The select list of an exported batch: the columns its entity's rules look at
    (:func:`salesdw.validate.rules.rules`), the derived stage key and reference columns
    computed here."""
    derived = {
        stage_key_column(f): f"lower(trim({quote_ident(f)}))"
        for e, f in STAGE_FIELDS.items()
        if e == entity
    }
    for f in fields(entity):
        ref = referenced_key(entity, f)
        if ref is not None:
            key, column = quote_ident(ref[1]), quote_ident(f)
            derived[reference_flag_column(f)] = (
                f"case when {column} in (select {key} from raw.{ref[0]} "
                f"where {key} is not null) then '' else {column} end"
            )
    columns = rule_columns(rules(entity, stage_labels=stage_labels, references=references))
    return ", ".join(
        f"{derived[c]} as {quote_ident(c)}" if c in derived else quote_ident(c) for c in columns
    )


def export_batches(con: duckdb.DuckDBPyConnection, run_id: str, folder: Path) -> BatchExport:
    """Write every batch loaded in ``run_id`` to ``folder/<n>.arrow`` (the folder is
    emptied first) and return what their validation needs."""
    import pyarrow as pa  # here: the run's process imports this module for store_results

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pairs = run_batches(con, run_id)
    references = frozenset(loaded_references(con, {e for e, _ in pairs}))
    found = stage_labels(con) if pairs else None
    labels = None if found is None else frozenset(found)
    batches: list[Batch] = []
    for n, (entity, source) in enumerate(pairs):
        path = folder / f"{n:03d}-{entity}.arrow"
        reader = con.sql(
            f"select {batch_select(entity, labels, references)} from raw.{entity} "
            "where _run_id = $run_id and _source = $source",
            params={"run_id": run_id, "source": source},
        ).to_arrow_reader(ROWS_PER_BATCH)
        rows = 0
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, reader.schema) as writer:
            for chunk in reader:
                writer.write_batch(chunk)
                rows += chunk.num_rows
        batches.append(Batch(entity, source, path, rows))
    return BatchExport(
        run_id=run_id,
        folder=folder,
        batches=tuple(batches),
        stage_labels=labels,
        references=references,
    )


def store_results(con: duckdb.DuckDBPyConnection, run_id: str, results: list[DqResult]) -> None:
    """Replace the run's rows of ``meta.dq_results`` with ``results``."""
    con.execute("begin transaction")
    try:
        con.execute("delete from meta.dq_results where run_id = ?", [run_id])
        if results:
            con.executemany(
                "insert into meta.dq_results values (?, ?, ?, ?, ?)",
                [
                    [r.run_id, r.source, r.expectation, r.success, r.unexpected_count]
                    for r in results
                ],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
