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
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from salesdw.db import quote_ident, quote_str, scalar
from salesdw.ingest import parsers
from salesdw.ingest.mapping import SourcePlan
from salesdw.ingest.meta import create_meta_tables
from salesdw.ingest.raw_tables import create_raw_tables
from salesdw.ingest.readers import BatchRead, read_files, release
from schemas.config import ColumnSpec, RowNumberColumn, SourceConfig, ValueColumn
from schemas.entities import (
    accepted_values,
    date_order,
    field_bounds,
    field_kind,
    fields,
    natural_key,
    required_fields,
)

log = logging.getLogger("salesdw.ingest")

_IN = "_sdw_in"
_TYPED = "_sdw_typed"
_DUPS = "_sdw_dups"
_FAILING = "_sdw_failing"  # rejected rows with reasons and the input row

#: new files of a source are loaded in chunks of about this many bytes (in file-name
#: order, so that the newest export still wins), to keep memory bounded
CHUNK_BYTES = int(float(os.environ.get("SALESDW_INGEST_CHUNK_MB", "256")) * (1 << 20))


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


def _parsed_sql(entity: str, name: str, text: str, source: SourceConfig) -> str:
    """SQL of the typed value of a field from its clean text (``parsers.clean_text`` of
    the raw text, computed once per row: see _typed_sql)."""
    kind = field_kind(entity, name)
    if kind == "date":
        return parsers.date_expr(text, source.date_format, source.day_first, clean=True)
    if kind == "timestamp":
        return parsers.timestamp_expr(text, source.date_format, source.day_first, clean=True)
    if kind == "number":
        if name == "probability":
            return parsers.probability_expr(text, clean=True)
        return parsers.number_expr(text, clean=True)
    if kind == "boolean":
        return parsers.boolean_expr(text, clean=True)
    if kind == "enum":
        return parsers.enum_expr(
            text, name, accepted_values(entity, name), clean=True, entity=entity
        )
    if name.endswith("_id") or name == "currency":
        out = parsers.id_expr(text, clean=True)
        return f"upper({out})" if name == "currency" else out
    return text


#: the amount fields whose currency mark (``¥1,000``) must agree with the row's
#: ``currency`` (docs/data_quality.md, "Amounts")
MONEY_FIELDS = ("amount", "unit_price", "discount", "cost")


def _checks_currency(entity: str, name: str) -> bool:
    return name in MONEY_FIELDS and "currency" in fields(entity)


def _ok_sql(entity: str, name: str, required: bool) -> str:
    """SQL that is true exactly when _problem_sql is NULL (the field's value is fine):
    the same tests as plain conditions, cheaper than building the reason per row."""
    text, typed = quote_ident(f"{name}__txt"), quote_ident(name)
    conds = [f"{text} is not null"] if required else []
    conds.append(f"({text} is null or {typed} is not null)")
    if _checks_currency(entity, name):
        conflict = parsers.currency_conflict_expr(text, quote_ident("currency"), clean=True)
        conds.append(f"not {conflict}")
    for earlier, later in date_order(entity):
        if name == later:
            conds.append(f"not coalesce({typed} < {quote_ident(earlier)}, false)")
    lo, hi = field_bounds(entity, name)
    if lo is not None:
        conds.append(f"not coalesce({typed} < {lo}, false)")
    if hi is not None:
        conds.append(f"not coalesce({typed} > {hi}, false)")
    return " and ".join(conds)


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
    empty = f"{quote_ident(name + '__txt')} is null"
    whens = []
    if required:
        whens.append(f"when {empty} then 'missing required value'")
    if kind == "number":
        not_finite = parsers.not_finite_expr(quote_ident(name + "__txt"), clean=True)
        whens.append(
            f"when not {empty} and {typed} is null and {not_finite} "
            f"then 'value ' || {raw} || ' is not a finite number'"
        )
    whens.append(
        f"when not {empty} and {typed} is null then 'cannot read ' || {raw} || ' as {what}'"
    )
    if _checks_currency(entity, name):
        txt = quote_ident(name + "__txt")
        currency = quote_ident("currency")
        whens.append(
            f"when {parsers.currency_conflict_expr(txt, currency, clean=True)} "
            f"then 'currency symbol ' || {parsers.currency_mark_expr(txt, clean=True)} "
            f"|| ' in ' || {raw} || ' contradicts the row''s currency ' || {currency}"
        )
    for earlier, later in date_order(entity):
        if name == later:
            whens.append(
                f"when {typed} < {quote_ident(earlier)} then '{later} ' || {raw} "
                f"|| ' is before {earlier} ' || {quote_ident(earlier + '__raw')}"
            )
    lo, hi = field_bounds(entity, name)
    if lo is not None:
        whens.append(f"when {typed} < {lo} then 'value ' || {raw} || ' below {lo}'")
    if hi is not None:
        whens.append(f"when {typed} > {hi} then 'value ' || {raw} || ' above {hi}'")
    return "case " + " ".join(whens) + " end"


def _problems_sql(entity: str) -> dict[str, str]:
    """Field -> SQL of the reason its value is rejected (NULL when fine), every field."""
    required = set(required_fields(entity))
    return {name: _problem_sql(entity, name, name in required) for name in fields(entity)}


def _defaults_sql(entity: str, columns: dict[str, ColumnSpec]) -> dict[str, str]:
    """Derived values of fields the source leaves empty (docs/entities.md defaults)."""
    if entity != "order_lines":
        return {}
    out = {
        "amount": "coalesce(amount, quantity * unit_price - coalesce(discount, 0))",
    }
    if "line_id" not in columns:
        out["line_id"] = "cast(_row_number as varchar)"
    return out


def _header_columns(entity: str, columns: dict[str, ColumnSpec]) -> list[str] | None:
    """The input columns of an order header, which are typed once per distinct header
    (a header entity fed from line-level files repeats the order on every line); None
    for other entities, or when an id is made from the row number (every row differs)."""
    if entity != "orders" or any(isinstance(c, RowNumberColumn) for c in columns.values()):
        return None
    return sorted({c for c in columns.values() if isinstance(c, str)})


def _dedupe_partition(entity: str, columns: dict[str, ColumnSpec]) -> list[str] | None:
    """Columns whose equal values make two rows of one file the same record.

    None for `orders`: a header entity fed from a line-level file repeats the order on
    every line; those rows collapse into one order without quarantine. None for order
    lines without a line number: within one file, two identical lines of an order are
    two lines (the item was scanned twice; docs/entities.md); each is numbered by its row, and a
    later export replaces all lines of its orders together (the hygiene check
    ``identical_order_lines`` shows them).
    """
    if entity == "orders":
        return None
    if any(isinstance(columns.get(k), RowNumberColumn) for k in natural_key(entity)):
        return None  # ids made from the row: every row is its own record
    if entity == "order_lines" and "line_id" not in columns:
        return None
    return list(natural_key(entity))


_NewFile = tuple[Path, dict[str, ColumnSpec], tuple[str, ...] | None, str]


def _share_reads(plans: list[SourcePlan]) -> list[list[SourcePlan]]:
    """Sources grouped by the files they read and how (e.g. ERP orders and order lines
    from the same line files), in the configured order of each group's first source."""
    groups: dict[tuple[object, ...], list[SourcePlan]] = {}
    for plan in plans:
        s = plan.source
        key: tuple[object, ...] = (
            (tuple(p for p, _, _ in plan.files), s.format, s.encoding, s.delimiter, s.sheet)
            if plan.files
            else (s.name,)
        )
        groups.setdefault(key, []).append(plan)
    return list(groups.values())


def _chunks(paths: list[Path], limit: int | None = None) -> list[slice]:
    """Consecutive runs of files of about ``limit`` bytes (at least one file each)."""
    limit = CHUNK_BYTES if limit is None else limit
    out: list[slice] = []
    start, size = 0, 0
    for i, path in enumerate(paths):
        file_size = path.stat().st_size
        if i > start and size + file_size > limit:
            out.append(slice(start, i))
            start, size = i, 0
        size += file_size
    if paths:
        out.append(slice(start, len(paths)))
    return out


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
        self._sha: dict[tuple[str, int, int], str] = {}
        #: per batch: SQL of the hash that groups repeated order headers (None: per row)
        self._grouped: str | None = None
        #: per batch with grouped headers: the (quoted) input column of the order id
        self._group_key = ""
        create_raw_tables(con)
        create_meta_tables(con)

    def load(self, plans: list[SourcePlan]) -> IngestReport:
        report = IngestReport()
        for group in _share_reads(plans):
            report.files.extend(self.load_sources(group))
        return report

    def _file_sha(self, path: Path) -> str:
        """The file's sha256: from ``meta.file_hashes`` while its size and modification
        time are those it was hashed with (landing folders keep years of exports; they are
        not read again every night), else computed and remembered."""
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key in self._sha:
            return self._sha[key]
        known = self.con.execute(
            "select sha256 from meta.file_hashes where file = ? and size = ? and mtime_ns = ?",
            [str(path), stat.st_size, stat.st_mtime_ns],
        ).fetchall()
        if known:
            sha = str(known[0][0])
        else:
            sha = file_sha256(path)
            self.con.execute(
                "insert or replace into meta.file_hashes values (?, ?, ?, ?)",
                [str(path), stat.st_size, stat.st_mtime_ns, sha],
            )
        self._sha[key] = sha
        return sha

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
            sha = self._file_sha(path)
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

    def load_sources(self, plans: list[SourcePlan]) -> list[FileResult]:
        """Load the new files of sources that read the same files: each chunk of files
        is read once and typed, checked and upserted for every source."""
        results: list[FileResult] = []
        batches: dict[str, list[tuple[SourcePlan, list[_NewFile]]]] = {}
        for plan in plans:
            skipped, new = self._new_files(plan)
            results.extend(skipped)
            if skipped:
                self.progress(f"{plan.source.name}: {len(skipped)} file(s) already loaded, skipped")
            # one batch per header layout (exports of one source usually share it);
            # files whose header could not be read go alone, so that the reader names them
            for i, item in enumerate(new):
                key = repr(item[2]) if item[2] else f"alone{i}"
                per_source = batches.setdefault(key, [])
                if per_source and per_source[-1][0] is plan:
                    per_source[-1][1].append(item)
                else:
                    per_source.append((plan, [item]))
        for per_source in batches.values():
            paths = [[item[0] for item in items] for _, items in per_source]
            if all(p == paths[0] for p in paths):  # the same files for every source: read once
                for chunk in _chunks(paths[0]):
                    results.extend(
                        self._load_batch([(plan, items[chunk]) for plan, items in per_source])
                    )
            else:
                for plan, items in per_source:
                    for chunk in _chunks([item[0] for item in items]):
                        results.extend(self._load_batch([(plan, items[chunk])]))
        return results

    def _load_batch(self, batch: list[tuple[SourcePlan, list[_NewFile]]]) -> list[FileResult]:
        """Read the files once, then for each source: type, quarantine, upsert and record
        them, in one transaction per source."""
        first = batch[0][0].source
        paths = [p for p, _, _, _ in batch[0][1]]
        results: list[FileResult] = []
        try:
            read = read_files(
                self.con,
                paths,
                _IN,
                file_format=first.format,
                delimiter=first.delimiter,
                encoding=first.encoding,
                sheet=first.sheet,
                workdir=self.workdir,
            )
            for plan, items in batch:
                results.extend(self._load_read(plan.source, items, read))
        finally:
            release(self.con, _IN)
        return results

    def _load_read(
        self, source: SourceConfig, items: list[_NewFile], read: BatchRead
    ) -> list[FileResult]:
        columns = items[0][1]
        shas = {str(p): sha for p, _, _, sha in items}
        in_transaction = False
        try:
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
            for table in (_TYPED, _DUPS, f"{_DUPS}_keys", _FAILING, f"{_FAILING}_keys"):
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
        """_TYPED: per input row the typed value of every field (with the defaults of docs/entities.md)
        and whether the row passes (``_ok``); _DUPS: the duplicate and superseded rows of
        a file (few); _FAILING: every rejected row with its reasons and the input row.

        The reasons are worked out only for the rows that fail (usually a handful): the
        typing pass over all rows computes one flag per row, not a list of reasons.
        """
        entity = source.entity
        partition = _dedupe_partition(entity, columns)
        input_cols = [quote_ident(c) for c in header]
        defaults = _defaults_sql(entity, columns)
        replace = (
            " replace (" + ", ".join(f"{v} as {quote_ident(k)}" for k, v in defaults.items()) + ")"
            if defaults
            else ""
        )
        grouped = _header_columns(entity, columns)
        rows = _IN
        if grouped is not None:  # order headers repeated on every line: typed once
            self._grouped = "hash(_file, " + ", ".join(quote_ident(c) for c in grouped) + ")"
            # the hash of a group is computed on the grouped rows (fewer than the input
            # rows), from the same values: the same number as on any of its input rows
            rows = (
                f"(select *, {self._grouped} as _grp from (select _file, "
                f"min(_row_number) as _row_number, "
                f"{', '.join(quote_ident(c) for c in grouped)} from {_IN} group by all))"
            )
        else:
            self._grouped = None
        keep = []
        if grouped is not None:
            # the input column of the order id (else the first): its text narrows the
            # input rows searched for the lines of a failing header (_collect_failing)
            key = columns.get("order_id")
            self._group_key = quote_ident(key if isinstance(key, str) else grouped[0])
            keep = ["_grp", f"{self._group_key} as _grp_key"]
        typed = self._typed_sql(source, columns, rows, ", ".join(keep))
        required = set(required_fields(entity))
        ok = " and ".join(f"({_ok_sql(entity, n, n in required)})" for n in fields(entity))
        raw_names = ", ".join(
            quote_ident(name + suffix) for name in fields(entity) for suffix in ("__raw", "__txt")
        )
        self.con.execute(
            f"""
            create or replace temp table {_TYPED} as
            select * exclude ({raw_names}){replace},
                {ok} as _ok
            from ({typed})
            """
        )
        self._find_duplicates(partition, input_cols)
        self._collect_failing(source, columns, input_cols)

    def _typed_sql(
        self, source: SourceConfig, columns: dict[str, ColumnSpec], rows: str, keep: str = ""
    ) -> str:
        """Select of ``_file``, ``_row_number``, the columns ``keep`` of ``rows``, each
        field's raw text (``<field>__raw``), its clean text (``<field>__txt``: trimmed,
        NULL when empty; computed once for the typed value and the checks) and its typed
        value, from ``rows``."""
        entity = source.entity
        raw_cols = [
            f"{_raw_text_sql(columns.get(name))} as {quote_ident(name + '__raw')}"
            for name in fields(entity)
        ]
        text_cols = [
            f"{parsers.clean_text(quote_ident(name + '__raw'))} as {quote_ident(name + '__txt')}"
            for name in fields(entity)
        ]
        typed_cols = [
            f"{_parsed_sql(entity, name, quote_ident(name + '__txt'), source)} "
            f"as {quote_ident(name)}"
            for name in fields(entity)
        ]
        return (
            f"select *, {', '.join(typed_cols)} from ("
            f"select *, {', '.join(text_cols)} from ("
            f"select _file, _row_number, {keep + ', ' if keep else ''}{', '.join(raw_cols)} "
            f"from {rows}))"
        )

    def _find_duplicates(self, partition: list[str] | None, input_cols: list[str]) -> None:
        """_DUPS (``_file``, ``_row_number``, ``_problems``): valid rows that repeat an
        earlier row of their file (duplicate) or whose key a later row of the file
        carries (superseded). Only the keys that occur more than once in a file are
        looked at: an aggregate finds them, the windows then run over their rows only."""
        self.con.execute(
            f"create or replace temp table {_DUPS} "
            "(_file varchar, _row_number bigint, _problems struct(field varchar, reason varchar)[])"
        )
        if partition is None:
            return
        key_cols = ", ".join(quote_ident(k) for k in partition)
        self.con.execute(
            f"""
            create or replace temp table {_DUPS}_keys as
            select _file, {key_cols} from {_TYPED} where _ok group by all having count(*) > 1
            """
        )
        if not scalar(self.con, f"select count(*) from {_DUPS}_keys"):
            return
        match = " and ".join(
            ["t._file = k._file"]
            + [f"t.{quote_ident(c)} is not distinct from k.{quote_ident(c)}" for c in partition]
        )
        # a hash of the whole input row tells exact duplicates from superseded records
        hashed = "hash(" + ", ".join(f"i.{c}" for c in input_cols) + ")"
        source_rows = f"{_TYPED} t join {_IN} i using (_file, _row_number)"
        keys_only = ", ".join(f"t.{quote_ident(k)}" for k in partition)
        part = ", ".join(["_file", *(quote_ident(k) for k in partition)])
        key_names = ", ".join(partition)
        label = partition[0]
        self.con.execute(
            f"""
            insert into {_DUPS}
            with key_rows as (
                select t._file, t._row_number, {keys_only}, {hashed} as _row_hash
                from {source_rows} semi join {_DUPS}_keys k on {match}
                where t._ok
            ), valid as (
                select *, min(_row_number) over (partition by {part}, _row_hash) as _first_same
                from key_rows
            ), distinct_rows as (
                select _file, _row_number,
                    last_value(_row_number) over (
                        partition by {part} order by _row_number
                        rows between unbounded preceding and unbounded following
                    ) as _kept_row
                from valid
                where _first_same = _row_number
            )
            select v._file, v._row_number,
                case
                    when v._first_same <> v._row_number then
                        [{{'field': {quote_str(label)},
                           'reason': 'duplicate of row ' || v._first_same}}]
                    else
                        [{{'field': {quote_str(label)},
                           'reason': 'superseded by row ' || d._kept_row
                                     || ' with the same {key_names}'}}]
                end as _problems
            from valid v
            left join distinct_rows d using (_file, _row_number)
            where v._first_same <> v._row_number or d._kept_row <> v._row_number
            """
        )

    def _collect_failing(
        self, source: SourceConfig, columns: dict[str, ColumnSpec], input_cols: list[str]
    ) -> None:
        """_FAILING: the rejected rows (``_ok`` false, or in _DUPS) with their reasons,
        re-typed from the input (so only they pay for the reasons) and as JSON."""
        entity = source.entity
        # rows of a failing group of order headers are found by the group's hash; the
        # reasons worked out below then tell (exactly) which of them fail
        if self._grouped is not None:  # no duplicates among headers (see _dedupe_partition)
            keys = "_file, _grp"
            failing = f"select {keys}, _grp_key from {_TYPED} where not _ok"
        else:
            keys = "_file, _row_number"
            failing = (
                f"select {keys} from {_TYPED} where not _ok union all select {keys} from {_DUPS}"
            )
        self.con.execute(f"create or replace temp table {_FAILING}_keys as {failing}")
        self.con.execute(
            f"create or replace temp table {_FAILING} (_file varchar, _row_number bigint, "
            "_problems struct(field varchar, reason varchar)[], _raw_json json)"
        )
        if not scalar(self.con, f"select count(*) from {_FAILING}_keys"):
            return
        problems = ", ".join(
            f"{{'field': {quote_str(name)}, 'reason': {reason}}}"
            for name, reason in _problems_sql(entity).items()
        )
        row_json = "to_json(struct_pack(" + ", ".join(f"{c} := {c}" for c in input_cols) + "))"
        rows = _IN
        if self._grouped is not None:
            # only the input rows with a failing header's order id text can be its lines:
            # that test (a join on one column, which DuckDB also pushes into the scan)
            # comes before the hash of every header column
            key = self._group_key
            near = f"{key} in (select _grp_key from {_FAILING}_keys)"
            if scalar(self.con, f"select count(*) from {_FAILING}_keys where _grp_key is null"):
                near = f"({near} or {key} is null)"
            rows = f"(select *, {self._grouped} as _grp from {_IN} where {near})"
        failing_rows = (
            f"(select *, {row_json} as _raw_json "
            f"from {rows} semi join {_FAILING}_keys using ({keys}))"
        )
        self.con.execute(
            f"""
            insert into {_FAILING}
            with typed as ({self._typed_sql(source, columns, failing_rows, "_raw_json")}),
            reasons as (
                select typed._file, typed._row_number,
                    coalesce(
                        d._problems,
                        list_filter([{problems}], lambda p: p.reason is not null)
                    ) as _reasons,
                    typed._raw_json
                from typed left join {_DUPS} d using (_file, _row_number)
            )
            select _file, _row_number, _reasons, _raw_json from reasons where len(_reasons) > 0
            """
        )

    def _quarantine(self, source: SourceConfig, rejects: str | None) -> dict[str, int]:
        """Write failing and unreadable rows to meta.quarantine; return counts per file."""
        counts: dict[str, int] = {}
        if scalar(self.con, f"select count(*) from {_FAILING}"):
            self.con.execute(
                f"""
                insert into meta.quarantine
                select ?, ?, _file, _row_number, _problems[1].field,
                       array_to_string(
                           list_transform(_problems, lambda p: p.field || ': ' || p.reason),
                           '; '),
                       _raw_json
                from {_FAILING}
                order by _file, _row_number
                """,
                [self.run_id, source.name],
            )
            counts = dict(
                self.con.execute(
                    f"select _file, count(*) from {_FAILING} group by _file"
                ).fetchall()
            )
        if rejects:
            self.con.execute(
                f"""
                insert into meta.quarantine
                select ?, ?, _file, _row_number, column_name,
                       case when error_type = 'line size over maximum'
                            then 'field too long: ' || error_message
                            else 'unreadable row (' || error_type || '): ' || error_message
                       end,
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
        (by name) wins, within a file the last row (duplicates were quarantined).

        The batch is not copied: the records to replace are found on the valid rows'
        keys, and the rows to insert are selected from _TYPED in the insert itself. The
        windows that pick the newest file's record run only when a key occurs more than
        once among the batch's valid rows (order headers: one row per distinct header;
        order lines: in more than one file of the batch)."""
        entity = source.entity
        names = fields(entity)
        cols = ", ".join(quote_ident(n) for n in names)
        valid = f"(select {cols}, _file, _row_number from {_TYPED} where _ok)"
        if scalar(self.con, f"select count(*) from {_DUPS}"):
            valid = (
                f"(select {cols}, _file, _row_number from {_TYPED} "
                f"anti join {_DUPS} using (_file, _row_number) where _ok)"
            )
        key = ["order_id"] if entity in ("orders", "order_lines") else list(natural_key(entity))
        key_cols = ", ".join(quote_ident(k) for k in key)
        if not scalar(
            self.con,
            f"select count(*) from (select {key_cols} from {valid} group by all "
            f"having {'count(distinct _file) > 1' if entity == 'order_lines' else 'count(*) > 1'})",
        ):
            batch = valid  # every key comes from one file (and one row) of the batch
            if entity == "orders":
                # the distinct headers come out of a hash aggregate in no order: stored
                # in file and row order (the export's, like the lines), a night's
                # changed orders sit in few row groups (fewer to rewrite when deleted)
                batch = f"(select * from {valid} order by _file, _row_number)"
        elif entity == "orders":  # header rows repeated per line: the first row of the newest file
            batch = (
                f"(select * from {valid} qualify row_number() over "
                f"(partition by order_id order by _file desc, _row_number) = 1)"
            )
        elif entity == "order_lines":  # all lines of an order come from its newest file
            batch = (
                f"(select * from {valid} qualify _file = max(_file) over (partition by order_id))"
            )
        else:
            batch = (
                f"(select * from {valid} qualify row_number() over "
                f"(partition by {key_cols} order by _file desc, _row_number desc) = 1)"
            )
        if scalar(self.con, f"select count(*) from (select 1 from raw.{entity} limit 1)"):
            if entity in ("orders", "order_lines"):
                self.con.execute(
                    f"delete from raw.{entity} where order_id in (select order_id from {valid})"
                )
            else:
                cond = " and ".join(
                    f"r.{quote_ident(k)} is not distinct from b.{quote_ident(k)}" for k in key
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
