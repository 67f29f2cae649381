"""Run the dbt project (repo root) on a warehouse build file.

dbt runs in a child process: its connection to the build file is closed for sure when
the process ends (dbt-duckdb keeps it open otherwise), and a failure cannot leave state
behind in the caller.

The child is ``python -m salesdw.dbt_runner``: it imports dbt, then reads requests (JSON
lines) from its standard input and runs the command with dbt's programmatic entry point
(``dbtRunner``), printing dbt's usual log lines. Importing dbt alone takes 3–4 CPU
seconds and parsing the project 1 (unchanged project) to 10 (first parse) more, so the
nightly job starts this process at the beginning of the run (:class:`DbtProcess`) with
the build file, vars and folders it will use: the child imports dbt and parses the
project (``dbt parse``, which does not open the warehouse) while ingestion and
validation run, and the build then starts on that manifest at once.

The child dies with the run that started it (``salesdw.parent_death``): a killed run
leaves no dbt process behind. It ends as soon as its command is done (:func:`_end`): it closes dbt-duckdb's
connection to the build file (DuckDB checkpoints it), flushes its logs and output and
exits without the interpreter's teardown of dbt's thousands of objects, which took
0.5–0.6 s after every build, waited for by the run (docs/decisions/0002).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from salesdw.errors import StepFailedError
from salesdw.parent_death import PARENT_PID_ENV, die_with_parent

PROJECT_DIR = Path(__file__).resolve().parent.parent

#: the environment of every dbt command (the warehouse path comes with the request)
DBT_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_USE_COLORS": "false",
    "DBT_PARTIAL_PARSE": "true",
    "PYTHONUNBUFFERED": "1",  # dbt's log lines reach the parent as they are written
}


def dbt_args(
    args: list[str], *, work_dir: Path, dbt_vars: dict[str, object] | None = None
) -> list[str]:
    """``args`` with the project, profile, target and log locations (and the vars)."""
    return [*args, *_common_args(work_dir, dbt_vars)]


def _common_args(work_dir: Path, dbt_vars: dict[str, object] | None) -> list[str]:
    """The options every command of a run shares (a parse with them serves them all)."""
    full = [
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    if dbt_vars:
        full += ["--vars", json.dumps(dbt_vars, default=str)]
    return full


def _relayed(line: str) -> bool:
    """Whether a dbt log line goes to the run's progress (results, not chatter)."""
    return any(word in line for word in (" OK ", "ERROR", "WARN", "Done.", "Completed", "Finished"))


class DbtProcess:
    """One dbt command in a child process that may be started before the command is
    known: :meth:`start` spawns it (it imports dbt meanwhile), :meth:`run` sends the
    command and waits for it. A process that is closed without a command is killed."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None

    def start(
        self,
        db_path: Path | None = None,
        *,
        work_dir: Path | None = None,
        dbt_vars: dict[str, object] | None = None,
    ) -> DbtProcess:
        """Spawn the child now (no-op when it is already running). With ``db_path`` and
        ``work_dir`` (those of the command to come) it also parses the project ahead."""
        if self._proc is None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "salesdw.dbt_runner"],
                cwd=PROJECT_DIR,
                env={**os.environ, **DBT_ENV, PARENT_PID_ENV: str(os.getpid())},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if db_path is not None and work_dir is not None:
                work_dir.mkdir(parents=True, exist_ok=True)
                # no manifest.json: the command gets the parsed manifest and writes its
                # own (the partial-parse file is written either way)
                self._send(
                    _request(["parse", "--quiet", "--no-write-json"], db_path, work_dir, dbt_vars)
                )
        return self

    def _send(self, request: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()

    def run(
        self,
        args: list[str],
        db_path: Path,
        *,
        dbt_vars: dict[str, object] | None = None,
        work_dir: Path,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """``dbt <args>`` on ``db_path`` in the child (started now if it was not);
        raise StepFailedError with dbt's errors on failure. The process ends with it."""
        work_dir.mkdir(parents=True, exist_ok=True)
        proc = self.start()._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        self._proc = None  # one command per process
        lines: list[str] = []
        try:
            proc.stdin.write(json.dumps(_request(args, db_path, work_dir, dbt_vars)) + "\n")
            proc.stdin.close()
            for line in proc.stdout:
                line = line.rstrip()
                lines.append(line)
                if progress and _relayed(line):
                    progress(line.split(" ", 1)[-1] if line[:2].isdigit() else line)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if code != 0:
            errors = [ln for ln in lines if "ERROR" in ln or "Error" in ln or "FAIL" in ln]
            raise StepFailedError(f"dbt {args[0]} failed:\n" + "\n".join((errors or lines)[-25:]))

    def close(self) -> None:
        """Kill the child if it is still waiting for a command."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
            self._proc = None

    def __enter__(self) -> DbtProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _request(
    args: list[str], db_path: Path, work_dir: Path, dbt_vars: dict[str, object] | None
) -> dict[str, Any]:
    return {
        "args": args,
        "common": _common_args(work_dir, dbt_vars),
        "env": {"SALESDW_DB_PATH": str(db_path)},
    }


def run_dbt(
    args: list[str],
    db_path: Path,
    *,
    dbt_vars: dict[str, object] | None = None,
    work_dir: Path,
    progress: Callable[[str], None] | None = None,
    process: DbtProcess | None = None,
) -> None:
    """``dbt <args>`` on ``db_path`` in a child process (``process``, when one was
    started ahead, else a new one); raise StepFailedError with dbt's errors on failure."""
    with process or DbtProcess() as dbt:
        dbt.run(args, db_path, dbt_vars=dbt_vars, work_dir=work_dir, progress=progress)


def _serve() -> int:
    """The child: import dbt, then run the requests read from standard input: a ``parse``
    first (optional, its log quiet), whose manifest the command then uses when its
    options and environment are the parse's. Exit status as dbt's own command line: 0
    success, 1 failure, 2 dbt raised."""
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    manifest: Manifest | None = None
    parsed_for: tuple[Any, Any] | None = None
    while line := sys.stdin.readline():
        request = json.loads(line)
        os.environ.update(request["env"])
        if request["args"][0] == "parse":
            parsed = dbtRunner().invoke([*request["args"], *request["common"]])
            # a failed parse is left to the command, which parses again and reports it
            if parsed.success and isinstance(parsed.result, Manifest):
                manifest, parsed_for = parsed.result, (request["common"], request["env"])
            continue
        ahead = manifest if parsed_for == (request["common"], request["env"]) else None
        result = dbtRunner(manifest=ahead).invoke([*request["args"], *request["common"]])
        if result.exception is not None:
            print(f"ERROR: dbt raised {type(result.exception).__name__}:")
            for text in str(result.exception).splitlines():  # each line passes the filter
                print(f"ERROR:   {text}")
            return 2
        return 0 if result.success else 1
    return 0  # closed without a command


def _end(status: int) -> None:
    """End the child with ``status`` as soon as its command is done: close dbt-duckdb's
    connection to the build file (which DuckDB checkpoints), flush the logs and the
    output the parent reads, then ``os._exit``, skipping the interpreter's teardown of
    dbt (0.5–0.6 s at every command). When the connection cannot be closed that way
    (another dbt-duckdb version), the interpreter's usual exit closes it instead."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        environment = DuckDBConnectionManager._ENV
        if environment is not None:
            environment.close()
    except Exception:  # anything unexpected: the slow exit, which closes everything
        sys.exit(status)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    if PARENT_PID_ENV in os.environ:  # started by a run: dies with it
        die_with_parent(int(os.environ[PARENT_PID_ENV]))
    _end(_serve())
