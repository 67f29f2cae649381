"""The record of every run, failed or not, and its log, kept beside the warehouse.

A run that fails publishes nothing, so the warehouse cannot be where its failure is
recorded. Each run writes its record to ``<warehouse folder>/runs/<run_id>.json`` (its
steps with their timings, rows and status, and the error of a failed run) as it goes,
and its log to ``<warehouse folder>/logs/<run_id>.log`` (with the traceback of an
unexpected error). ``salesdw runs`` reads the records, also when no warehouse was ever
published; publication copies them into ``meta.runs`` and ``meta.run_steps``
(:func:`store_records`).

A run that was killed cannot close its record: it stays ``running`` until the next run,
which holds the build lock (so the other cannot be running any more), marks it
``interrupted``.

Nothing is written through a symbolic link: the folders are opened with
``O_NOFOLLOW``, a log is created with ``O_EXCL | O_NOFOLLOW`` (never an existing file),
and a record is written to a new temporary file that is then renamed over the old one
(a rename replaces a link, it does not follow it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import logging
import os
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb

from salesdw.errors import EXIT_RUN_FAILED, SalesdwError

#: a run's status: running, then success / data_errors (published), failed, or
#: interrupted (killed or crashed: the next run found it unfinished)
RUNNING, FAILED, INTERRUPTED = "running", "failed", "interrupted"

INTERRUPTED_ERROR = "the run ended without finishing (killed or crashed)"

#: the loggers whose lines go to a run's log file (the run's own, the KPI layer's, and
#: Prefect's run loggers when the run goes through Prefect)
LOGGED = ("salesdw", "kpis", "prefect.flow_runs", "prefect.task_runs")


class UnsafePathError(SalesdwError):
    """A folder or file the run writes to is a symbolic link, or exists already."""

    exit_code = EXIT_RUN_FAILED


def runs_folder(published: Path) -> Path:
    """Where the run records of a warehouse are kept."""
    return published.parent / "runs"


def logs_folder(published: Path) -> Path:
    """Where the logs of a warehouse's runs are kept."""
    return published.parent / "logs"


def now() -> dt.datetime:
    """Local wall-clock time (the operators' clock, as DuckDB's ``current_timestamp``
    shown to them) to the millisecond, so that the steps of a small night can be
    timed."""
    moment = dt.datetime.now()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _json_value(value: object) -> str:
    """A record's value in its JSON file: times as ``2026-03-01 02:00:05.120``."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    return str(value)


@dataclass
class StepRecord:
    """One step of a run (a row of ``meta.run_steps``)."""

    step: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = RUNNING
    rows_in: int | None = None
    rows_out: int | None = None
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class RunRecord:
    """One run (a row of ``meta.runs``) with its steps."""

    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = RUNNING
    as_of: dt.date | None = None
    error: str | None = None
    log: str | None = None
    steps: list[StepRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=_json_value))  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        def when(value: str | None) -> dt.datetime | None:
            return dt.datetime.fromisoformat(value) if value else None

        steps = [
            StepRecord(
                step=s["step"],
                started_at=dt.datetime.fromisoformat(s["started_at"]),
                finished_at=when(s.get("finished_at")),
                status=s.get("status", RUNNING),
                rows_in=s.get("rows_in"),
                rows_out=s.get("rows_out"),
                error=s.get("error"),
            )
            for s in data.get("steps", [])
        ]
        return cls(
            run_id=data["run_id"],
            started_at=dt.datetime.fromisoformat(data["started_at"]),
            finished_at=when(data.get("finished_at")),
            status=data.get("status", RUNNING),
            as_of=dt.date.fromisoformat(data["as_of"]) if data.get("as_of") else None,
            error=data.get("error"),
            log=data.get("log"),
            steps=steps,
        )

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _open_folder(folder: Path) -> int:
    """A descriptor of ``folder`` (created if missing), refusing a symbolic link."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(
                f"{folder} is a symbolic link, not a folder: salesdw does not write through "
                "links; remove it"
            ) from exc
        raise


def _create(dir_fd: int, name: str, flags: int = 0) -> int:
    """Create the new file ``name`` in the folder ``dir_fd`` (never an existing file,
    never through a link)."""
    try:
        return os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | flags,
            0o644,
            dir_fd=dir_fd,
        )
    except FileExistsError as exc:
        raise UnsafePathError(f"{name} exists already; salesdw does not overwrite it") from exc


def write_record(folder: Path, record: RunRecord) -> Path:
    """Write ``record`` to ``folder/<run_id>.json`` atomically (a new file renamed over
    the old one)."""
    fd = _open_folder(folder)
    try:
        tmp = f".{record.run_id}.{uuid.uuid4().hex[:8]}.tmp"
        out = _create(fd, tmp)
        with os.fdopen(out, "w", encoding="utf-8") as fh:
            json.dump(record.to_json(), fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, f"{record.run_id}.json", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)
    return folder / f"{record.run_id}.json"


def read_records(folder: Path) -> list[RunRecord]:
    """Every run record in ``folder``, the newest first (none when it does not exist)."""
    if not folder.is_dir():
        return []
    records = []
    for path in folder.glob("*.json"):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            records.append(RunRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, KeyError, TypeError):
            continue  # not a record of ours
    return sorted(records, key=lambda r: (r.started_at, r.run_id), reverse=True)


def open_log(folder: Path, name: str) -> IO[str]:
    """A new log file ``folder/name`` for appending (never an existing file, never
    through a link)."""
    fd = _open_folder(folder)
    try:
        return os.fdopen(_create(fd, name, os.O_APPEND), "a", encoding="utf-8")
    finally:
        os.close(fd)


class RunRecorder:
    """Keeps one run's record and log: :meth:`begin` (under the build lock),
    :meth:`step_started` / :meth:`step_finished` for each step, then :meth:`finish` or
    :meth:`fail`; :meth:`close` detaches the log."""

    def __init__(self, published: Path, run_id: str, as_of: dt.date | None) -> None:
        self.folder = runs_folder(published)
        self.logs = logs_folder(published)
        self.record = RunRecord(run_id=run_id, started_at=now(), as_of=as_of)
        self._lock = threading.Lock()
        self._begun = False
        self._handler: logging.Handler | None = None
        self._levels: dict[str, int] = {}
        self._log: IO[str] | None = None

    @property
    def log_path(self) -> Path:
        return self.logs / f"{self.record.run_id}.log"

    @property
    def log_file(self) -> Path | None:
        """The run's log, once it was created."""
        return self.log_path if self._log is not None else None

    def begin(self) -> None:
        """Mark the runs that never finished as interrupted, write this run's record
        and start its log."""
        for other in read_records(self.folder):
            if other.status == RUNNING and other.run_id != self.record.run_id:
                other.status, other.error = INTERRUPTED, INTERRUPTED_ERROR
                for step in other.steps:
                    if step.status == RUNNING:
                        step.status = INTERRUPTED
                write_record(self.folder, other)
        self._begun = True
        self._save()
        self._log = open_log(self.logs, self.log_path.name)
        self.record.log = str(self.log_path)
        handler = logging.StreamHandler(self._log)
        handler.setFormatter(
            logging.Formatter("%(asctime)s | %(levelname)-7s | %(message)s", "%Y-%m-%d %H:%M:%S")
        )
        handler.setLevel(logging.INFO)
        for name in LOGGED:
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            if logger.getEffectiveLevel() > logging.INFO:
                self._levels[name] = logger.level
                logger.setLevel(logging.INFO)
        self._handler = handler
        self._save()

    def step_started(self, name: str) -> StepRecord:
        step = StepRecord(step=name, started_at=now())
        with self._lock:
            self.record.steps.append(step)
            self._save()
        return step

    def step_finished(
        self,
        step: StepRecord,
        error: BaseException | None = None,
        rows_in: int | None = None,
        rows_out: int | None = None,
    ) -> None:
        with self._lock:
            step.finished_at = now()
            step.status = FAILED if error is not None else "completed"
            step.error = describe(error) if error is not None else None
            step.rows_in, step.rows_out = rows_in, rows_out
            self._save()

    def finish(self, status: str, as_of: dt.date | None) -> None:
        with self._lock:
            self.record.status, self.record.as_of = status, as_of
            self.record.finished_at = now()
            self._save()

    def fail(self, error: BaseException) -> None:
        """Record the run as failed with ``error``; its traceback goes to the log."""
        with self._lock:
            self.record.status, self.record.error = FAILED, describe(error)
            self.record.finished_at = now()
            with contextlib.suppress(OSError, SalesdwError):  # the error itself matters
                self._save()
        if self._log is not None:
            self._log.write("".join(traceback.format_exception(error)))
            self._log.flush()

    def close(self) -> None:
        """Detach the log from the loggers and close it."""
        if self._handler is not None:
            for name in LOGGED:
                logging.getLogger(name).removeHandler(self._handler)
            for name, level in self._levels.items():
                logging.getLogger(name).setLevel(level)
            self._handler = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _save(self) -> None:
        if self._begun:  # the record is written from then on
            write_record(self.folder, self.record)


def describe(error: BaseException) -> str:
    """The error as an operator reads it: salesdw's own message, else the exception's
    type and first line."""
    if isinstance(error, SalesdwError):
        return str(error)
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def store_records(con: duckdb.DuckDBPyConnection, records: list[RunRecord]) -> None:
    """Copy ``records`` into ``meta.runs`` and ``meta.run_steps`` (replacing the rows of
    the same runs; runs recorded only in the warehouse stay). The tables exist
    (``salesdw.ingest.meta``)."""
    ids = [r.run_id for r in records]
    con.execute("delete from meta.runs where run_id in (select unnest(?))", [ids])
    con.execute("delete from meta.run_steps where run_id in (select unnest(?))", [ids])
    steps = [(r.run_id, s) for r in records for s in r.steps]
    con.execute(
        """
        insert into meta.runs (run_id, started_at, finished_at, status, as_of, error)
        select unnest($ids), unnest($started::timestamp[]), unnest($finished::timestamp[]),
               unnest($status), unnest($as_of::date[]), unnest($error)
        """,
        {
            "ids": ids,
            "started": [r.started_at for r in records],
            "finished": [r.finished_at for r in records],
            "status": [r.status for r in records],
            "as_of": [r.as_of for r in records],
            "error": [r.error for r in records],
        },
    )
    con.execute(
        """
        insert into meta.run_steps
            (run_id, step, started_at, finished_at, rows_in, rows_out, status, error)
        select unnest($ids), unnest($step), unnest($started::timestamp[]),
               unnest($finished::timestamp[]), unnest($rows_in::bigint[]),
               unnest($rows_out::bigint[]), unnest($status), unnest($error)
        """,
        {
            "ids": [run_id for run_id, _ in steps],
            "step": [s.step for _, s in steps],
            "started": [s.started_at for _, s in steps],
            "finished": [s.finished_at for _, s in steps],
            "rows_in": [s.rows_in for _, s in steps],
            "rows_out": [s.rows_out for _, s in steps],
            "status": [s.status for _, s in steps],
            "error": [s.error for _, s in steps],
        },
    )
