"""Which source column feeds which canonical field, and the pre-flight config check.

A config error (unknown preset entity, a required field without a column, a column that
the file lacks) is found here, before anything is loaded, naming source, file and field.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from salesdw.errors import ConfigError
from salesdw.ingest.presets import PRESETS
from schemas.config import (
    ColumnSpec,
    Config,
    RowNumberColumn,
    SourceConfig,
    ValueColumn,
)
from schemas.entities import required_fields

_HEADER_SAMPLE = 1 << 16


@dataclass(frozen=True)
class SourcePlan:
    """A source with the files its glob matches now, each with its column map.

    A preset's optional field whose header a file lacks is left out for that file
    (exports differ in the columns users pick); a required field's column, or one
    named explicitly under `columns`, must be there.
    """

    source: SourceConfig
    columns: dict[str, ColumnSpec]
    files: list[tuple[Path, dict[str, ColumnSpec], tuple[str, ...] | None]]  # + header


def resolve_columns(source: SourceConfig) -> dict[str, ColumnSpec]:
    """The preset's header map for the entity, overridden field by field by `columns`."""
    columns: dict[str, ColumnSpec] = {}
    if source.preset:
        preset = PRESETS[source.preset]
        if source.entity not in preset:
            raise ConfigError(
                f"source '{source.name}': preset '{source.preset}' has no '{source.entity}' "
                f"export (it covers: {', '.join(preset)})"
            )
        columns.update(preset[source.entity])
    columns.update(source.columns)
    missing = [f for f in required_fields(source.entity) if f not in columns]
    if missing:
        raise ConfigError(
            f"source '{source.name}': required field(s) {', '.join(missing)} of "
            f"'{source.entity}' have no column; add them under `columns`"
        )
    return columns


def source_files(config: Config, source: SourceConfig) -> list[Path]:
    """Files matching the source's glob in the landing folder, in name order
    (exports named by date load oldest first, so that the newest export wins).

    A source reads only inside the landing folder: a match that resolves outside it
    (through ``..`` or a symbolic link) is a ConfigError naming the source and the
    match, and nothing of the file is read."""
    landing = config.landing_path.resolve()
    files = sorted(p for p in landing.glob(source.path) if p.is_file())
    outside = [p for p in files if not p.resolve().is_relative_to(landing)]
    if outside:
        shown = ", ".join(os.path.relpath(p, landing) for p in outside[:3])
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        raise ConfigError(
            f"source '{source.name}': path '{source.path}' matches {shown}{more}, outside "
            f"the landing folder {landing} (a link or '..'); a source reads only files "
            "inside the landing folder"
        )
    return files


def read_header(path: Path, source: SourceConfig) -> list[str] | None:
    """The header row of a file, or None when it cannot be read (the load reports it)."""
    fmt = source.format or ("xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv")
    try:
        if fmt == "xlsx":
            import openpyxl

            wb = openpyxl.load_workbook(path, read_only=True)
            try:
                ws = wb[source.sheet] if source.sheet else wb.worksheets[0]
                first = next(ws.iter_rows(values_only=True, max_row=1), None)
            finally:
                wb.close()
            return [str(v).strip() for v in first if v is not None] if first else None
        with path.open("rb") as fh:
            sample = fh.read(_HEADER_SAMPLE)
        text = _decode_sample(sample, source.encoding)
        if text is None:
            return None
        first_line = next(iter(text.splitlines()), "")
        if not first_line.strip():
            return None
        delimiter = source.delimiter or _sniff_delimiter(first_line)
        return [h.strip() for h in next(csv.reader(io.StringIO(first_line), delimiter=delimiter))]
    except Exception:
        return None


def _decode_sample(sample: bytes, encoding: str | None) -> str | None:
    candidates = [encoding] if encoding else []
    if sample.startswith(codecs.BOM_UTF8):
        candidates.append("utf-8-sig")
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.append("utf-16")
    candidates += ["utf-8", "gb18030"]
    for enc in candidates:
        decoder = codecs.getincrementaldecoder(enc)(errors="strict")
        try:
            return str(decoder.decode(sample))  # not final: a cut character is fine
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _sniff_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def plan(config: Config) -> list[SourcePlan]:
    """Resolve every source and check its files' headers; raise ConfigError on the first
    problem, before anything is loaded."""
    plans: list[SourcePlan] = []
    problems: list[str] = []
    for source in config.sources:
        columns = resolve_columns(source)
        must_have = set(required_fields(source.entity)) | set(source.columns)
        files: list[tuple[Path, dict[str, ColumnSpec], tuple[str, ...] | None]] = []
        for path in source_files(config, source):
            header = read_header(path, source)
            if header is None:  # unreadable: the load step reports it and skips the file
                files.append((path, columns, None))
                continue
            lacking = {
                f for f, spec in columns.items() if isinstance(spec, str) and spec not in header
            }
            for field in sorted(lacking & must_have):
                problems.append(
                    f"source '{source.name}', file {path.name}: field '{field}' expects a "
                    f"column '{columns[field]}', which the file lacks "
                    f"(columns: {', '.join(header[:30])})"
                )
            kept = {f: c for f, c in columns.items() if f not in lacking}
            files.append((path, kept, tuple(header)))
        plans.append(SourcePlan(source, columns, files))
    if problems:
        raise ConfigError("\n".join(problems))
    return plans


def is_column(spec: ColumnSpec) -> bool:
    return isinstance(spec, str)


def is_constant(spec: ColumnSpec) -> bool:
    return isinstance(spec, ValueColumn)


def is_row_number(spec: ColumnSpec) -> bool:
    return isinstance(spec, RowNumberColumn)
