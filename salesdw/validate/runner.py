"""Run the GX suites over the batches of a run (docs/data_quality.md) → ``meta.dq_results``.

The batches come as Arrow files written by ingestion's process
(:mod:`salesdw.validate.batches`); :func:`validate_batches` reads each as one pandas
frame and validates it with GX's pandas execution engine (vectorised; GX 1.24's SQL
datasource over duckdb-engine fails with a MetricResolutionError, so the SQL datasource
is not used). It does not open the warehouse: the nightly job runs it while dbt builds,
and stores the results afterwards. :func:`validate_run` exports, validates and stores in
one call.

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
import tempfile
from pathlib import Path

import duckdb
import great_expectations as gx
import pandas as pd
import pyarrow as pa
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.execution_engine import pandas_execution_engine

from salesdw.validate.batches import (
    Batch,
    BatchExport,
    DqResult,
    export_batches,
    store_results,
)
from salesdw.validate.expectations import build_suite
from salesdw.validate.rules import CRITICAL

__all__ = ["DqResult", "validate_batches", "validate_run"]

log = logging.getLogger("salesdw.validate")

SITE_NAME = "salesdw"

# GX fingerprints every pandas batch below HASH_THRESHOLD bytes (1 GB; Arrow strings keep
# even 10 M order lines below it) by hashing all of its values: a batch marker that
# nothing here reads, and most of GX's time on a large batch (L benchmark: 43 of 49 s on
# the order headers and lines went to 13 s without it). Batches are identified by run,
# source and entity instead (meta.dq_results).
pandas_execution_engine.HASH_THRESHOLD = 0


def _context(data_docs_dir: Path | None) -> AbstractDataContext:
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


def _arrow_strings(kind: pa.DataType) -> pd.ArrowDtype | None:
    """Text columns stay Arrow strings in pandas (a fraction of the memory of Python
    string objects, and no conversion); other types take pandas' default."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pd.ArrowDtype(kind)
    return None


def _read(batch: Batch) -> pd.DataFrame:
    """The batch as a pandas frame, read from its memory-mapped Arrow file (which holds
    the columns the entity's rules look at, ``rules.rule_columns``). Text stays Arrow strings; dates become datetime64[ns],
    which GX compares vectorised (for any other type, such as datetime64[ms], it calls a
    Python function per value)."""
    # not closed here: the frame's Arrow strings are the mapped buffers, which keep the
    # mapping alive until the frame is dropped
    table = pa.ipc.open_file(pa.memory_map(str(batch.path))).read_all()
    return table.to_pandas(
        date_as_object=False, coerce_temporal_nanoseconds=True, types_mapper=_arrow_strings
    )


def validate_batches(export: BatchExport, data_docs_dir: Path | None = None) -> list[DqResult]:
    """Validate every batch of ``export`` with its entity's suite and, if
    ``data_docs_dir`` is given, render GX Data Docs there. Returns one result per
    expectation and batch (stored by :func:`salesdw.validate.batches.store_results`)."""
    results: list[DqResult] = []
    if not export.batches:
        return results
    labels = None if export.stage_labels is None else set(export.stage_labels)
    if labels is None:
        log.warning("no stage seed found: stage labels are not validated")
    refs = set(export.references)
    context = _context(data_docs_dir)
    datasource = context.data_sources.add_pandas("raw")
    gx_run_id = RunIdentifier(run_name=export.run_id)
    suites: dict[str, gx.ExpectationSuite] = {}
    used: set[str] = set()
    for batch in export.batches:
        entity, source = batch.entity, batch.source
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
                name=f"{export.run_id}.{name}",
                data=asset.add_batch_definition_whole_dataframe("batch"),
                suite=suites[entity],
            )
        )
        frame = _read(batch)
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
                    run_id=export.run_id,
                    source=source,
                    entity=entity,
                    expectation=str(config.meta.get("name") or config.type),
                    success=bool(r.success),
                    unexpected_count=None if count is None else int(count),
                    severity=str(getattr(config.severity, "value", config.severity) or CRITICAL),
                    element_count=r.result.get("element_count"),
                    error=str(r.exception_info.get("exception_message")) if raised else None,
                )
            )
    if data_docs_dir is not None:
        try:  # the results are what counts; broken docs must not lose them
            context.build_data_docs(site_names=[SITE_NAME])
        except Exception:
            log.exception("GX Data Docs could not be built in %s", data_docs_dir)
    return results


def validate_run(
    con: duckdb.DuckDBPyConnection, run_id: str, data_docs_dir: Path | None = None
) -> list[DqResult]:
    """Validate every batch loaded in ``run_id``; store the results in ``meta.dq_results``
    (rows of an earlier validation of the same run are replaced) and, if
    ``data_docs_dir`` is given, render GX Data Docs there. Returns the results."""
    with tempfile.TemporaryDirectory(prefix="salesdw-batches-") as folder:
        results = validate_batches(export_batches(con, run_id, Path(folder)), data_docs_dir)
    store_results(con, run_id, results)
    return results
