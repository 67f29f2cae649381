"""Run the GX suites over every batch loaded in a run (SPEC §4) → ``meta.dq_results``.

A batch is the rows of ``raw.<entity>`` loaded by one source in the run
(``_run_id = run_id and _source = source``). Each batch is fetched from DuckDB as one
pandas frame (plus derived columns computed in DuckDB: ``_stage_key`` =
lower(trim(stage)), exactly as dbt matches the stage seed, and ``_<id>_resolves``, whether
a cross-entity id is a key of the referenced raw table: empty if so, else the id) and validated by GX's pandas execution
engine (vectorised; GX 1.24's SQL datasource over duckdb-engine fails with a
MetricResolutionError, so the SQL datasource is not used).

GX objects live in an ephemeral (in-memory) data context: a pandas datasource ``raw``
with one dataframe asset per source, one suite per entity, one validation definition per
batch; results are stored in the context's in-memory validation results store and,
when ``data_docs_dir`` is given, GX's own SiteBuilder renders them there
(``index.html``, ``expectations/<entity>.html``,
``validations/<entity>/<run_id>/<time>/raw-<source>.html``). The index lists the suites
and the validations of the latest run; pages of earlier runs stay in place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import great_expectations as gx
import pandas as pd
import pyarrow as pa
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.execution_engine import pandas_execution_engine

from salesdw.db import quote_ident, scalar
from salesdw.validate import (
    STAGE_FIELDS,
    reference_flag_column,
    stage_key_column,
    stage_labels,
    table_exists,
)
from salesdw.validate.expectations import CRITICAL, build_suite, referenced_key
from schemas.entities import ENTITIES, fields

log = logging.getLogger("salesdw.validate")

SITE_NAME = "salesdw"

# GX fingerprints every pandas batch below HASH_THRESHOLD bytes (1 GB; Arrow strings keep
# even 10 M order lines below it) by hashing all of its values: a batch marker that
# nothing here reads, and most of GX's time on a large batch (L benchmark: 43 of 49 s on
# the order headers and lines went to 13 s without it). Batches are identified by run,
# source and entity instead (meta.dq_results).
pandas_execution_engine.HASH_THRESHOLD = 0


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


def _context(data_docs_dir: Path | None) -> gx.data_context.AbstractDataContext:
    sites = {}
    if data_docs_dir is not None:
        data_docs_dir.mkdir(parents=True, exist_ok=True)
        sites[SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _references(con: duckdb.DuckDBPyConnection, entities: set[str]) -> set[str]:
    """The entities referenced by the batches' entities that have loaded keys."""
    out: set[str] = set()
    for entity in entities:
        for f in fields(entity):
            ref = referenced_key(entity, f)
            if ref is None or ref[0] in out or not table_exists(con, "raw", ref[0]):
                continue
            if scalar(con, f"select count(*) from (select 1 from raw.{ref[0]} limit 1)"):
                out.add(ref[0])
    return out


def _batches(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, str]]:
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


def _columns(suite: gx.ExpectationSuite) -> list[str]:
    """Columns the suite's expectations look at, in order of first use."""
    out: list[str] = []
    for exp in suite.expectations:
        for col in [getattr(exp, "column", None), *(getattr(exp, "column_list", None) or [])]:
            if col and col not in out:
                out.append(col)
    return out


def _arrow_strings(kind: pa.DataType) -> pd.ArrowDtype | None:
    """Text columns stay Arrow strings in pandas (a fraction of the memory of Python
    string objects, and no conversion); other types take pandas' default."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pd.ArrowDtype(kind)
    return None


def _fetch(
    con: duckdb.DuckDBPyConnection, entity: str, run_id: str, source: str, columns: list[str]
) -> pd.DataFrame:
    """The batch as a pandas frame: only the columns the suite needs, the derived stage
    key and reference columns computed in DuckDB. Fetched through Arrow; text stays Arrow
    strings; dates become datetime64[ns], which GX compares vectorised (for any other
    type, such as datetime64[ms], it calls a Python function per value)."""
    derived = {
        stage_key_column(f): f"lower(trim({quote_ident(f)}))"
        for e, f in STAGE_FIELDS.items()
        if e == entity
    }
    for f in fields(entity):
        ref = referenced_key(entity, f)
        if ref is not None:
            key = quote_ident(ref[1])
            derived[reference_flag_column(f)] = (
                f"case when {quote_ident(f)} in "
                f"(select {key} from raw.{ref[0]} where {key} is not null) "
                f"then '' else {quote_ident(f)} end"
            )
    select = ", ".join(
        f"{derived[c]} as {quote_ident(c)}" if c in derived else quote_ident(c) for c in columns
    )
    table = con.sql(
        f"select {select} from raw.{entity} where _run_id = ? and _source = ?",
        params=[run_id, source],
    ).to_arrow_table()
    return table.to_pandas(
        date_as_object=False, coerce_temporal_nanoseconds=True, types_mapper=_arrow_strings
    )


def validate_run(
    con: duckdb.DuckDBPyConnection, run_id: str, data_docs_dir: Path | None = None
) -> list[DqResult]:
    """Validate every batch loaded in ``run_id``; store the results in ``meta.dq_results``
    (rows of an earlier validation of the same run are replaced) and, if
    ``data_docs_dir`` is given, render GX Data Docs there. Returns the results."""
    batches = _batches(con, run_id)
    results: list[DqResult] = []
    if batches:
        labels = stage_labels(con)
        if labels is None:
            log.warning("no stage seed found: stage labels are not validated")
        refs = _references(con, {e for e, _ in batches})
        context = _context(data_docs_dir)
        datasource = context.data_sources.add_pandas("raw")
        gx_run_id = RunIdentifier(run_name=run_id)
        suites: dict[str, gx.ExpectationSuite] = {}
        used: set[str] = set()
        for entity, source in batches:
            if entity not in suites:
                suites[entity] = context.suites.add(
                    build_suite(entity, stage_labels=labels, references=refs)
                )
            # one asset per source (a source feeds one entity; the suffix only if not)
            name = source if source not in used else f"{source}.{entity}"
            used.add(name)
            asset = datasource.add_dataframe_asset(name)
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(
                    name=f"{run_id}.{name}",
                    data=asset.add_batch_definition_whole_dataframe("batch"),
                    suite=suites[entity],
                )
            )
            frame = _fetch(con, entity, run_id, source, _columns(suites[entity]))
            outcome = definition.run(
                batch_parameters={"dataframe": frame}, result_format="BASIC", run_id=gx_run_id
            )
            for r in outcome.results:
                config = r.expectation_config
                assert config is not None  # set on every result of a suite validation
                raised = bool(r.exception_info and r.exception_info.get("raised_exception"))
                if raised:
                    log.warning(
                        "%s %s: %s",
                        source,
                        config.meta.get("name"),
                        r.exception_info.get("exception_message"),
                    )
                count = r.result.get("unexpected_count")
                results.append(
                    DqResult(
                        run_id=run_id,
                        source=source,
                        entity=entity,
                        expectation=str(config.meta.get("name") or config.type),
                        success=bool(r.success),
                        unexpected_count=None if count is None else int(count),
                        severity=str(
                            getattr(config.severity, "value", config.severity) or CRITICAL
                        ),
                        element_count=r.result.get("element_count"),
                        error=str(r.exception_info.get("exception_message")) if raised else None,
                    )
                )
        if data_docs_dir is not None:
            try:  # the results are what counts; broken docs must not lose them
                context.build_data_docs(site_names=[SITE_NAME])
            except Exception:
                log.exception("GX Data Docs could not be built in %s", data_docs_dir)
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
    return results
