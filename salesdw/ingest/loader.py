"""Load landing files into ``raw.*``: every row loaded or quarantined, nothing doubled.

Per file, set-based inside DuckDB: read as text → map onto the entity's canonical
fields → parse (salesdw.ingest.parsers) → rows with a missing required value or a
value that does not parse go to ``meta.quarantine`` with the reason → duplicates by
natural key are resolved (the last row wins; the others are quarantined as duplicates)
→ upsert into ``raw.<entity>`` (a later export replaces the records with the same key;
order lines are replaced per order) → one ``meta.load_manifest`` row with
rows_in = rows_loaded + rows_quarantined. A file whose content hash is in the manifest
for the source is skipped. Each file is one transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from salesdw.db import quote_ident, quote_str
from salesdw.ingest import parsers
from salesdw.ingest.mapping import SourcePlan
from salesdw.ingest.meta import create_meta_tables
from salesdw.ingest.raw_tables import create_raw_tables
from salesdw.ingest.readers import read_files
from schemas.config import ColumnSpec, RowNumberColumn, SourceConfig, ValueColumn
from schemas.entities import (
    accepted_values,
    field_bounds,
    field_kind,
    fields,
    natural_key,
    required_fields,
)

log = logging.getLogger("salesdw.ingest")

_IN = "_sdw_in"
_TYPED = "_sdw_typed"


@dataclass
class FileResult:
    """The outcome of one landing file for one source."""

    source: str
    entity: str
    file: str
    status: str  # loaded / skipped (already loaded) / unreadable
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str = ""


@dataclass
class IngestReport:
    """All files of a run, and the sources whose quarantine share is above threshold."""

    files: list[FileResult] = field(default_factory=list)

    @property
    def unreadable(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "unreadable"]

    @property
    def loaded(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "loaded"]

    def breaches(self, thresholds: dict[str, float]) -> list[tuple[str, float, float]]:
        """(source, quarantined share, threshold) for sources above their threshold."""
        out = []
        for source, threshold in thresholds.items():
            rows_in = sum(f.rows_in for f in self.loaded if f.source == source)
            quarantined = sum(f.rows_quarantined for f in self.loaded if f.source == source)
            if rows_in and quarantined / rows_in > threshold:
                out.append((source, quarantined / rows_in, threshold))
        return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _raw_text_sql(spec: ColumnSpec | None) -> str:
    """SQL of the raw text feeding a field (row-number ids: `<file stem>:<row>`)."""
    if spec is None:
        return "cast(null as varchar)"
    if isinstance(spec, RowNumberColumn):
        return "parse_filename(_file, true) || ':' || cast(_row_number as varchar)"
    if isinstance(spec, ValueColumn):
        return quote_str(str(spec.value))
    return f"cast({quote_ident(spec)} as varchar)"


def _parsed_sql(entity: str, name: str, raw: str, source: SourceConfig) -> str:
    """SQL of the typed value of a field from its raw text."""
    kind = field_kind(entity, name)
    if kind == "date":
        return parsers.date_expr(raw, source.date_format, source.day_first)
    if kind == "timestamp":
        return parsers.timestamp_expr(raw, source.date_format, source.day_first)
    if kind == "number":
        return parsers.probability_expr(raw) if name == "probability" else parsers.number_expr(raw)
    if kind == "boolean":
        return parsers.boolean_expr(raw)
    if kind == "enum":
        return parsers.enum_expr(raw, name, accepted_values(entity, name))
    if name.endswith("_id") or name == "currency":
        text = parsers.id_expr(raw)
        return f"upper({text})" if name == "currency" else text
    return parsers.clean_text(raw)


def _problem_sql(entity: str, name: str, required: bool) -> str:
    """SQL of the reason a field's value is rejected, NULL when it is fine."""
    raw, typed = quote_ident(f"{name}__raw"), quote_ident(name)
    kind = field_kind(entity, name)
    what = {
        "date": "a date",
        "timestamp": "a date/time",
        "number": "a number",
        "boolean": "yes/no",
        "enum": "one of " + "/".join(accepted_values(entity, name)),
        "text": "text",
    }[kind]
    empty = f"{parsers.clean_text(raw)} is null"
    whens = []
    if required:
        whens.append(f"when {empty} then 'missing required value'")
    whens.append(
        f"when not {empty} and {typed} is null then 'cannot read ' || {raw} || ' as {what}'"
    )
    lo, hi = field_bounds(entity, name)
    if lo is not None:
        whens.append(f"when {typed} < {lo} then 'value ' || {raw} || ' below {lo}'")
    if hi is not None:
        whens.append(f"when {typed} > {hi} then 'value ' || {raw} || ' above {hi}'")
    return "case " + " ".join(whens) + " end"


def _defaults_sql(entity: str, columns: dict[str, ColumnSpec]) -> dict[str, str]:
    """Derived values of fields the source leaves empty (SPEC §2 defaults)."""
    if entity != "order_lines":
        return {}
    out = {
        "amount": "coalesce(amount, quantity * unit_price - coalesce(discount, 0))",
    }
    if "line_id" not in columns:
        out["line_id"] = "cast(_row_number as varchar)"
    return out


def _dedupe_partition(entity: str, columns: dict[str, ColumnSpec]) -> list[str] | None:
    """Columns whose equal values make two rows of one file the same record.

    None for `orders`: a header entity fed from a line-level file repeats the order on
    every line; those rows collapse into one order without quarantine.
    """
    if entity == "orders":
        return None
    if any(isinstance(columns.get(k), RowNumberColumn) for k in natural_key(entity)):
        return None  # ids made from the row: every row is its own record
    if entity == "order_lines" and "line_id" not in columns:
        return ["_row_hash"]
    return list(natural_key(entity))


_NewFile = tuple[Path, dict[str, ColumnSpec], tuple[str, ...] | None, str]


class Loader:
    """Loads the files of the planned sources into an open warehouse connection.

    The new files of a source are read and checked together (one scan, one set of
    queries), and written in one transaction: many small daily exports cost little more
    than one large file.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        workdir: Path,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.con = con
        self.run_id = run_id
        self.workdir = workdir
        self.progress = progress or (lambda msg: log.info(msg))
        self._row_json = "to_json({})"  # set per batch by _type_rows
        create_raw_tables(con)
        create_meta_tables(con)

    def load(self, plans: list[SourcePlan]) -> IngestReport:
        report = IngestReport()
        for plan in plans:
            report.files.extend(self.load_source(plan))
        return report

    def _new_files(self, plan: SourcePlan) -> tuple[list[FileResult], list[_NewFile]]:
        """Files already loaded (same content for this source) and the new ones."""
        known = {
            r[0]
            for r in self.con.execute(
                "select distinct sha256 from meta.load_manifest where source = ?",
                [plan.source.name],
            ).fetchall()
        }
        skipped: list[FileResult] = []
        new: list[_NewFile] = []
        for path, columns, header in plan.files:
            sha = file_sha256(path)
            if sha in known:
                skipped.append(
                    FileResult(
                        plan.source.name,
                        plan.source.entity,
                        path.name,
                        "skipped",
                        message="already loaded (same content)",
                    )
                )
            else:
                known.add(sha)
                new.append((path, columns, header, sha))
        return skipped, new

    def load_source(self, plan: SourcePlan) -> list[FileResult]:
        source = plan.source
        results, new = self._new_files(plan)
        if results:
            self.progress(f"{source.name}: {len(results)} file(s) already loaded, skipped")
        # one batch per header layout (exports of one source usually share it);
        # files whose header could not be read go alone, so that the reader names them
        groups: dict[str, list[_NewFile]] = {}
        for i, item in enumerate(new):
            key = repr(item[2]) + repr(sorted(item[1].items())) if item[2] else f"alone{i}"
            groups.setdefault(key, []).append(item)
        for items in groups.values():
            results.extend(self._load_batch(source, items))
        return results

    def _load_batch(self, source: SourceConfig, items: list[_NewFile]) -> list[FileResult]:
        columns = items[0][1]
        shas = {str(p): sha for p, _, _, sha in items}
        in_transaction = False
        try:
            read = read_files(
                self.con,
                [p for p, _, _, _ in items],
                _IN,
                file_format=source.format,
                delimiter=source.delimiter,
                encoding=source.encoding,
                sheet=source.sheet,
                workdir=self.workdir,
            )
            self.con.execute("begin transaction")
            in_transaction = True
            results: list[FileResult] = []
            for file, message in read.unreadable.items():
                self.con.execute(
                    "insert into meta.file_errors values (?, ?, ?, ?, current_timestamp)",
                    [self.run_id, source.name, file, message],
                )
                results.append(
                    FileResult(
                        source.name, source.entity, Path(file).name, "unreadable", message=message
                    )
                )
            if read.rows_in:
                self._type_rows(source, read.columns, columns)
                quarantined = self._quarantine(source, read.rejects)
                self._upsert(source)
                for file, rows_in in sorted(read.rows_in.items()):
                    n_q = quarantined.get(file, 0)
                    self.con.execute(
                        "insert into meta.load_manifest values "
                        "(?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                        [
                            self.run_id,
                            source.name,
                            source.entity,
                            file,
                            shas[file],
                            rows_in,
                            rows_in - n_q,
                            n_q,
                        ],
                    )
                    results.append(
                        FileResult(
                            source.name,
                            source.entity,
                            Path(file).name,
                            "loaded",
                            rows_in,
                            rows_in - n_q,
                            n_q,
                        )
                    )
            self.con.execute("commit")
        except Exception:
            if in_transaction:
                self.con.execute("rollback")
            raise
        finally:
            for table in (_IN, _TYPED, f"{_IN}_rejects"):
                self.con.execute(f"drop table if exists {table}")
        for r in results:
            if r.status == "loaded":
                self.progress(
                    f"{source.name}: {r.file}: {r.rows_in:,} rows in, {r.rows_loaded:,} loaded, "
                    f"{r.rows_quarantined:,} quarantined"
                )
            else:
                self.progress(f"{source.name}: {r.file}: {r.status} — {r.message}")
        return results

    def _type_rows(
        self, source: SourceConfig, header: list[str], columns: dict[str, ColumnSpec]
    ) -> None:
        """_TYPED: per input row the raw text and the typed value of every field, the
        row's problems, a hash of the whole input row and the row as JSON."""
        entity = source.entity
        required = set(required_fields(entity))
        raw_cols = [
            f"{_raw_text_sql(columns.get(name))} as {quote_ident(name + '__raw')}"
            for name in fields(entity)
        ]
        typed_cols = [
            f"{_parsed_sql(entity, name, quote_ident(name + '__raw'), source)} as {quote_ident(name)}"
            for name in fields(entity)
        ]
        problems = ", ".join(
            f"{{'field': {quote_str(name)}, 'reason': {_problem_sql(entity, name, name in required)}}}"
            for name in fields(entity)
        )
        input_cols = [quote_ident(c) for c in header]
        # the row as JSON is made only for the quarantined rows (see _quarantine)
        self._row_json = (
            "to_json(struct_pack(" + ", ".join(f"{c} := {c}" for c in input_cols) + "))"
        )
        row_hash = (
            "md5(concat_ws(chr(31), "
            + ", ".join(f"coalesce(cast({c} as varchar), chr(30))" for c in input_cols)
            + "))"
        )
        self.con.execute(
            f"""
            create or replace temp table {_TYPED} as
            with raw_text as (
                select _file, _row_number, {row_hash} as _row_hash,
                       {", ".join(raw_cols)}
                from {_IN}
            ), typed as (
                select *, {", ".join(typed_cols)} from raw_text
            )
            select *,
                list_filter([{problems}], lambda p: p.reason is not null) as _problems
            from typed
            """
        )
        defaults = _defaults_sql(entity, columns)
        if defaults:
            replace = ", ".join(f"{v} as {quote_ident(k)}" for k, v in defaults.items())
            self.con.execute(
                f"create or replace temp table {_TYPED} as "
                f"select * replace ({replace}) from {_TYPED}"
            )
        partition = _dedupe_partition(entity, columns)
        if partition is not None:
            keys_only = (
                ", ".join(quote_ident(k) for k in partition if k != "_row_hash") or "1 as _no_key"
            )
            keys = ", ".join(["_file", *(quote_ident(k) for k in partition)])
            key_names = ", ".join(partition)
            label = "row" if partition[0] == "_row_hash" else partition[0]
            self.con.execute(
                f"""
                create or replace temp table {_TYPED} as
                with valid as (
                    select _file, _row_number, {keys_only}, _row_hash,
                        min(_row_number) over (partition by {keys}, _row_hash) as _first_same
                    from {_TYPED}
                    where len(_problems) = 0
                ), distinct_rows as (
                    select _file, _row_number,
                        last_value(_row_number) over (
                            partition by {keys} order by _row_number
                            rows between unbounded preceding and unbounded following
                        ) as _kept_row
                    from valid
                    where _first_same = _row_number
                )
                select t.* replace (
                    case
                        when v._first_same <> t._row_number then
                            [{{'field': {quote_str(label)},
                               'reason': 'duplicate of row ' || v._first_same}}]
                        when d._kept_row <> t._row_number then
                            [{{'field': {quote_str(label)},
                               'reason': 'superseded by row ' || d._kept_row
                                         || ' with the same {key_names}'}}]
                        else t._problems
                    end as _problems)
                from {_TYPED} t
                left join valid v using (_file, _row_number)
                left join distinct_rows d using (_file, _row_number)
                """
            )

    def _quarantine(self, source: SourceConfig, rejects: str | None) -> dict[str, int]:
        """Write failing and unreadable rows to meta.quarantine; return counts per file."""
        self.con.execute(
            f"""
            insert into meta.quarantine
            with failing as (
                select _file, _row_number, _problems from {_TYPED} where len(_problems) > 0
            ), raw_rows as (
                select _file, _row_number, {self._row_json} as _raw_json
                from {_IN} semi join failing using (_file, _row_number)
            )
            select ?, ?, failing._file, failing._row_number, failing._problems[1].field,
                   array_to_string(
                       list_transform(failing._problems, lambda p: p.field || ': ' || p.reason),
                       '; '),
                   raw_rows._raw_json
            from failing join raw_rows using (_file, _row_number)
            order by failing._file, failing._row_number
            """,
            [self.run_id, source.name],
        )
        counts = dict(
            self.con.execute(
                f"select _file, count(*) from {_TYPED} where len(_problems) > 0 group by _file"
            ).fetchall()
        )
        if rejects:
            self.con.execute(
                f"""
                insert into meta.quarantine
                select ?, ?, _file, _row_number, column_name,
                       'unreadable row (' || error_type || '): ' || error_message,
                       to_json({{'line': csv_line}})
                from {rejects}
                """,
                [self.run_id, source.name],
            )
            for file, n in self.con.execute(
                f"select _file, count(*) from {rejects} group by _file"
            ).fetchall():
                counts[file] = counts.get(file, 0) + n
        return {k: int(v) for k, v in counts.items()}

    def _upsert(self, source: SourceConfig) -> None:
        """Replace the batch's records in raw.<entity>; within the batch the newest file
        (by name) wins, within a file the last row (duplicates were quarantined)."""
        entity = source.entity
        names = fields(entity)
        cols = ", ".join(quote_ident(n) for n in names)
        valid = f"(select * from {_TYPED} where len(_problems) = 0)"
        if entity == "orders":  # header rows repeated per line: the first row of the newest file
            batch = f"(select distinct on (order_id) * from {valid} order by order_id, _file desc, _row_number)"
        elif entity == "order_lines":  # all lines of an order come from its newest file
            batch = (
                f"(select * from {valid} qualify _file = max(_file) over (partition by order_id))"
            )
        else:
            keys = ", ".join(quote_ident(k) for k in natural_key(entity))
            batch = f"(select distinct on ({keys}) * from {valid} order by {keys}, _file desc, _row_number desc)"
        if entity in ("orders", "order_lines"):
            self.con.execute(
                f"delete from raw.{entity} where order_id in (select order_id from {valid})"
            )
        else:
            cond = " and ".join(
                f"r.{quote_ident(k)} is not distinct from b.{quote_ident(k)}"
                for k in natural_key(entity)
            )
            self.con.execute(
                f"delete from raw.{entity} r where exists (select 1 from {valid} b where {cond})"
            )
        self.con.execute(
            f"""
            insert into raw.{entity}
            select {cols}, ?, _file, _row_number, ?, current_timestamp from {batch}
            """,
            [source.name, self.run_id],
        )
