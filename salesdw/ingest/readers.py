"""Read a landing file into a DuckDB table of text columns, one row per input record.

CSV goes through DuckDB's reader (any delimiter, quoted newlines, BOM); files in
GBK / GB18030 / UTF-16 are transcoded to UTF-8 first (streamed, in chunks); ``.xlsx``
through openpyxl. Records the CSV reader rejects (too many / too few columns) are
returned separately so that they can be quarantined: no input row is lost.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from salesdw.db import quote_str, scalar
from salesdw.errors import UnreadableFileError

_CHUNK = 1 << 22
_FALLBACK_ENCODINGS = ("utf-8", "gb18030")


@dataclass
class BatchRead:
    """Files read into one table (``_file``, ``_row_number`` and the text columns)."""

    table: str
    columns: list[str]
    rows_in: dict[str, int] = field(default_factory=dict)  # per file (path as text)
    rejects: str | None = None  # table: file, row_number, reason, raw
    unreadable: dict[str, str] = field(default_factory=dict)  # file → message


def detect_encoding(path: Path, configured: str | None = None) -> str:
    """The file's text encoding: configured, BOM, UTF-8 if it decodes, else GB18030."""
    if configured:
        try:
            codecs.lookup(configured)
        except LookupError as exc:
            raise UnreadableFileError(f"{path.name}: unknown encoding '{configured}'") from exc
        if not _decodes(path, configured):
            raise UnreadableFileError(
                f"{path.name}: not valid {configured}; check the source's `encoding`"
            )
        return configured
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in _FALLBACK_ENCODINGS:
        if _decodes(path, encoding):
            return encoding
    raise UnreadableFileError(
        f"{path.name}: not readable as text (neither UTF-8 nor GBK/GB18030); "
        "set `encoding` for this source if it is another encoding"
    )


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _transcode(path: Path, encoding: str, workdir: Path) -> Path:
    """Stream the file into a UTF-8 copy (DuckDB reads UTF-8 only without extensions)."""
    target = Path(tempfile.mkstemp(suffix=".csv", dir=workdir)[1])
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(decoder.decode(chunk))
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            f"{path.name}: not valid {encoding} at byte {exc.start}; check the source's `encoding`"
        ) from exc
    return target


def _prepare_csv(path: Path, encoding: str | None, workdir: Path) -> Path:
    """The path DuckDB should read: the file itself, or a UTF-8 copy of it."""
    if path.stat().st_size == 0:
        raise UnreadableFileError(f"{path.name}: the file is empty")
    enc = detect_encoding(path, encoding)
    if enc in ("utf-8", "utf-8-sig"):
        return path
    return _transcode(path, enc, workdir)


#: the longest record DuckDB's CSV reader takes (its default, bytes); a longer one is
#: quarantined as a field too long
MAX_LINE_BYTES = 2_000_000


def _csv_options(delimiter: str | None, rejects: str, dialect: str | None = None) -> str:
    options = [
        "header = true",
        "all_varchar = true",
        "filename = '_sdw_path'",
        "store_rejects = true",
        f"rejects_table = '{rejects}'",
        f"rejects_scan = '{rejects}_scan'",
        "normalize_names = false",
    ]
    if dialect:
        options.append(dialect)
    elif delimiter:
        options.append(f"delim = {quote_str(delimiter)}")
    return ", ".join(options)


#: the column that numbers a batch's records in scan order when DuckDB's ``rowid`` cannot
#: (a file with a column of that name hides it)
_ROWID = "_sdw_rowid"


def _read_csv_batch(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    table: str,
    delimiter: str | None,
    dialect: str | None = None,
) -> None:
    """One scan over many CSV files into ``table`` with ``_sdw_path``; rejected records
    in ``{table}_rejects`` (path, line, …).

    The table keeps the scan's order (files in the given order, records in file order:
    DuckDB preserves insertion order), so a row's ``rowid`` + 1 is its number in the
    scan (:func:`_number_csv_rows`). A window ``row_number() over ()`` in the scan would
    number the rows too, but it runs on one thread and halved the read's speed
    (docs/decisions/0008); it is
    used only for files with a column called ``rowid``, which hides the table's own."""
    rejects = f"{table}_rej"
    files = "[" + ", ".join(quote_str(str(p)) for p in paths) + "]"
    con.execute(f"drop table if exists {rejects}; drop table if exists {rejects}_scan")
    con.execute(
        f"create or replace temp table {table} as "
        f"select * from read_csv({files}, {_csv_options(delimiter, rejects, dialect)})"
    )
    if any(name.lower() == "rowid" for name in _column_names(con, table)):
        con.execute(
            f"create or replace temp table {table} as "
            f"select *, row_number() over () as {_ROWID} from {table}"
        )
    con.execute(
        f"""
        create or replace temp table {table}_rejects as
        select distinct on (s.file_path, e.line)
            s.file_path as _sdw_path, e.line - 1 as rec, e.column_name,
            lower(cast(e.error_type as varchar)) as error_type, e.error_message, e.csv_line
        from {rejects} e join {rejects}_scan s using (scan_id, file_id)
        order by s.file_path, e.line
        """
    )


def read_files(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    table: str,
    *,
    file_format: str | None,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    workdir: Path,
) -> BatchRead:
    """Read landing files of one source into ``table``: text columns plus ``_file``
    (the landing path) and ``_row_number`` (1-based record number in the file, header
    excluded). Files that cannot be read at all are listed in ``unreadable``."""
    result = BatchRead(table, [])
    csv_paths: dict[str, Path] = {}  # path read by DuckDB → landing path
    parts: list[str] = []
    for path in paths:
        fmt = file_format or ("xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv")
        try:
            if fmt == "xlsx":
                part = f"{table}_x{len(parts)}"
                result.rows_in[str(path)] = read_xlsx(con, path, part, sheet=sheet)
                parts.append(part)
            else:
                csv_paths[str(_prepare_csv(path, encoding, workdir))] = path
        except UnreadableFileError as exc:
            result.unreadable[str(path)] = str(exc)
    good = list(csv_paths)
    csv_parts: list[str] = []
    if good:
        long_lines: dict[str, str] = {}
        try:
            _read_csv_batch(con, [Path(p) for p in good], f"{table}_c", delimiter)
        except duckdb.Error:
            good, long_lines = _isolate_bad_csv(
                con, csv_paths, f"{table}_c", delimiter, result, workdir
            )
        if good:
            _number_csv_rows(con, f"{table}_c", csv_paths, result)
            csv_parts.append(f"{table}_c")
        for i, (tmp, dialect) in enumerate(long_lines.items()):
            part = f"{table}_l{i}"
            _read_csv_batch(con, [Path(tmp)], part, delimiter, dialect)
            _number_csv_rows(con, part, {tmp: csv_paths[tmp]}, result)
            csv_parts.append(part)
        parts += csv_parts
    for tmp, original in csv_paths.items():
        if tmp != str(original):
            Path(tmp).unlink(missing_ok=True)
    # ``table`` is a view: over the CSV scan itself in the common case (no copy)
    if not parts:
        con.execute(f"create or replace temp table {table}_e (_file varchar, _row_number bigint)")
        con.execute(f"create or replace temp view {table} as select * from {table}_e")
    elif parts == [f"{table}_c"]:
        scan = f"{table}_c_v" if _exists_view(con, f"{table}_c_v") else f"{table}_c"
        con.execute(f"create or replace temp view {table} as select * from {scan}")
    else:
        union = " union all by name ".join(
            f"select * from {p}_v" if _exists_view(con, f"{p}_v") else f"select * from {p}"
            for p in parts
        )
        con.execute(f"create or replace temp table {table}_u as {union}")
        con.execute(f"create or replace temp view {table} as select * from {table}_u")
    result.columns = [c for c in _column_names(con, table) if c not in ("_file", "_row_number")]
    rejected = [f"{p}_rejects" for p in csv_parts if _exists(con, f"{p}_rejects")]
    if rejected:
        union = " union all ".join(f"select * from {r}" for r in rejected)
        con.execute(f"create or replace temp table {table}_rejects as {union}")
        for r in rejected:
            con.execute(f"drop table {r}")
        if scalar(con, f"select count(*) from {table}_rejects"):
            result.rejects = f"{table}_rejects"
    return result


def _column_names(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [str(r[0]) for r in con.execute(f"describe {table}").fetchall()]


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(scalar(con, "select count(*) from duckdb_tables() where table_name = ?", [table]))


def _exists_view(con: duckdb.DuckDBPyConnection, view: str) -> bool:
    return bool(scalar(con, "select count(*) from duckdb_views() where view_name = ?", [view]))


def release(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop the temporary views and tables of a batch read into ``table``."""
    for (view,) in con.execute(
        "select view_name from duckdb_views() where temporary and starts_with(view_name, ?)",
        [table],
    ).fetchall():
        con.execute(f"drop view if exists {view}")
    for (name,) in con.execute(
        "select table_name from duckdb_tables() where temporary and starts_with(table_name, ?)",
        [table],
    ).fetchall():
        con.execute(f"drop table if exists {name}")


def _isolate_bad_csv(
    con: duckdb.DuckDBPyConnection,
    csv_paths: dict[str, Path],
    table: str,
    delimiter: str | None,
    result: BatchRead,
    workdir: Path,
) -> tuple[list[str], dict[str, str]]:
    """A batch read failed: read file by file to find the unreadable ones, then the rest.
    Returns the good files (read into ``table``) and the files that read only with their
    dialect given (:func:`_dialect_of_short_lines`: a record too long for DuckDB's
    sniffer), with that dialect."""
    good, long_lines = [], {}
    for tmp, original in csv_paths.items():
        try:
            _read_csv_batch(con, [Path(tmp)], f"{table}_probe", delimiter)
            good.append(tmp)
        except duckdb.Error as exc:
            dialect = _dialect_of_short_lines(con, Path(tmp), delimiter, workdir)
            if dialect is not None:
                try:
                    _read_csv_batch(con, [Path(tmp)], f"{table}_probe", delimiter, dialect)
                    long_lines[tmp] = dialect
                    continue
                except duckdb.Error:
                    pass
            first = str(exc).splitlines()[0]
            result.unreadable[str(original)] = f"{original.name}: not a readable CSV file ({first})"
    for t in ("", "_rejects", "_rej", "_rej_scan"):
        con.execute(f"drop table if exists {table}_probe{t}")
    if good:
        _read_csv_batch(con, [Path(p) for p in good], table, delimiter)
    return good, long_lines


#: how many of a file's first records (within the line limit) the dialect is sniffed on
_SNIFF_RECORDS = 20_000


def _dialect_of_short_lines(
    con: duckdb.DuckDBPyConnection, path: Path, delimiter: str | None, workdir: Path
) -> str | None:
    """``read_csv`` options that replace DuckDB's sniffing of ``path`` (delimiter, quote,
    escape, the header's columns as text), sniffed on its first lines that are within
    :data:`MAX_LINE_BYTES`; None when it has no line longer than that.

    DuckDB's sniffer fails on a record above its line limit and the whole file is then
    rejected ("CSV Error on Line: 1"), while the reader proper sets such a record aside
    (``line size over maximum``: quarantined as a field too long) and reads the others.
    A file with such a record in its first records is therefore read with the dialect
    given, sniffed on a copy of its lines without the long ones."""
    fd, name = tempfile.mkstemp(suffix=".csv", dir=workdir)
    os.close(fd)
    sample = Path(name)
    long = False
    try:
        with path.open("rb") as src, sample.open("wb") as dst:
            kept = 0
            while kept < _SNIFF_RECORDS and (line := src.readline(MAX_LINE_BYTES + 1)):
                if len(line) > MAX_LINE_BYTES:  # skip the rest of the long line
                    long = True
                    while line and not line.endswith(b"\n"):
                        line = src.readline(1 << 20)
                    continue
                dst.write(line)
                kept += 1
        if not long:
            return None
        sniffed = con.execute(
            "select Delimiter, Quote, Escape, HasHeader, Columns from sniff_csv(?, all_varchar = true)",
            [str(sample)],
        ).fetchall()
    except (OSError, duckdb.Error):
        return None
    finally:
        sample.unlink(missing_ok=True)
    delim, quote, escape, header, columns = sniffed[0]
    delim = delimiter or delim
    if not header or not columns:
        return None
    quote = "\"" if quote in ("(empty)", "") else quote
    escape = "\"" if escape in ("(empty)", "") else escape
    names = ", ".join(f"{quote_str(c['name'])}: 'VARCHAR'" for c in columns)
    return (
        f"auto_detect = false, delim = {quote_str(delim)}, quote = {quote_str(quote)}, "
        f"escape = {quote_str(escape)}, columns = {{{names}}}"
    )


def _number_csv_rows(
    con: duckdb.DuckDBPyConnection, table: str, csv_paths: dict[str, Path], result: BatchRead
) -> None:
    """Replace the read path by the landing path and number the records per file:
    good rows keep their order; rejected records sit at the record the reader reported.

    The table holds the rows in scan order (:func:`_read_csv_batch`), so a row's number
    in its file is its scan number minus the file's first one, plus the records rejected
    before it; the per-file part is computed on the small table of files only.
    """
    numbered = _ROWID in _column_names(con, table)
    scan_number = f"c.{_ROWID}" if numbered else "(c.rowid + 1)"
    helper = f"_sdw_path, {_ROWID}" if numbered else "_sdw_path"
    mapping = (
        "map(["
        + ", ".join(quote_str(k) for k in csv_paths)
        + "], ["
        + ", ".join(quote_str(str(v)) for v in csv_paths.values())
        + "])"
    )
    con.execute(
        f"""
        create or replace temp table {table}_rejects as
        select {mapping}[_sdw_path] as _file, rec as _row_number, column_name,
               error_type, error_message, csv_line
        from {table}_rejects
        """
    )
    con.execute(
        f"""
        create or replace temp table {table}_files as
        select _sdw_path, {mapping}[_sdw_path] as _file, min({scan_number}) - 1 as _before,
               count(*) as n
        from {table} c group by _sdw_path
        """
    )
    if scalar(con, f"select count(*) from {table}_rejects"):
        con.execute(
            f"""
            create or replace temp table {table} as
            with good as (
                select f._file, {scan_number} - f._before as k, c.* exclude ({helper})
                from {table} c join {table}_files f using (_sdw_path)
            ), rej as (
                select _file, _row_number - row_number() over (partition by _file order by _row_number)
                       as good_before
                from {table}_rejects
            )
            select good.* exclude (k),
                   good.k + (select count(*) from rej where rej._file = good._file
                             and rej.good_before < good.k) as _row_number
            from good
            """
        )
    else:  # the common case: no rejected record, no rewrite of the table
        con.execute(
            f"""
            create or replace temp view {table}_v as
            select c.* exclude ({helper}), f._file,
                   {scan_number} - f._before as _row_number
            from {table} c join {table}_files f using (_sdw_path)
            """
        )
    counts = con.execute(
        f"""
        select _file, sum(n) from (
            select _file, n from {table}_files
            union all select _file, count(*) from {table}_rejects group by _file
        ) group by _file
        """
    ).fetchall()
    for path in csv_paths.values():
        result.rows_in.setdefault(str(path), 0)
    for path, n in counts:
        result.rows_in[path] = int(n)


def _check_header(path: Path, columns: list[str]) -> None:
    if not columns or all(c.startswith("column") for c in columns):
        raise UnreadableFileError(f"{path.name}: no header row found")


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_xlsx(con: duckdb.DuckDBPyConnection, path: Path, table: str, *, sheet: str | None) -> int:
    """Load the first (or the named) sheet of an .xlsx workbook as text columns into
    ``table`` with ``_file`` and ``_row_number``; return the number of records."""
    import openpyxl  # heavy import, only needed for workbooks

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken zip/xml
        raise UnreadableFileError(f"{path.name}: not a readable .xlsx workbook ({exc})") from exc
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise UnreadableFileError(
                f"{path.name}: no sheet '{sheet}' (sheets: {', '.join(wb.sheetnames)})"
            )
        ws = wb[sheet] if sheet else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise UnreadableFileError(f"{path.name}: the sheet is empty")
        names = [str(h).strip() if h is not None else f"column{i}" for i, h in enumerate(header)]
        _check_header(path, names)
        cols: list[list[str | None]] = [[] for _ in names]
        numbers: list[int] = []
        for n, row in enumerate(rows, start=1):  # openpyxl yields rows; workbooks are small
            if row is None or all(v is None for v in row):
                continue
            numbers.append(n)
            for i in range(len(names)):
                cols[i].append(_cell_text(row[i]) if i < len(row) else None)
    finally:
        wb.close()
    data = {n: pa.array(c, type=pa.string()) for n, c in zip(names, cols, strict=True)}
    data["_row_number"] = pa.array(numbers, type=pa.int64())
    arrow = pa.table(data)
    con.register(f"{table}_arrow", arrow)
    con.execute(
        f"create or replace temp table {table} as select {quote_str(str(path))} as _file, * "
        f"from {table}_arrow"
    )
    con.unregister(f"{table}_arrow")
    return len(numbers)
