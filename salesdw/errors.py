"""Exception classes with messages a sales analyst understands, and the exit statuses of
the command line (README, "Command line")."""

from __future__ import annotations

from pathlib import Path

#: success
EXIT_OK = 0
#: the run completed and published, with data errors: rows quarantined above a source's
#: threshold, unreadable files skipped
EXIT_DATA_ERRORS = 1
#: usage or config error: nothing was loaded
EXIT_USAGE = 2
#: the run failed and published nothing; the last published warehouse is unchanged
EXIT_RUN_FAILED = 3


class SalesdwError(Exception):
    """Base of every error salesdw reports without a traceback."""

    exit_code = EXIT_DATA_ERRORS
    #: the log of the failed run, when a run had started (its traceback is there)
    log_file: Path | None = None


class ConfigError(SalesdwError):
    """The config or a source mapping is wrong: nothing was loaded (exit status 2)."""

    exit_code = EXIT_USAGE


class UnreadableFileError(SalesdwError):
    """A landing file cannot be read at all (garbage, wrong encoding, empty)."""


class WarehouseNotFoundError(SalesdwError):
    """No published warehouse yet: run `salesdw run` (or `salesdw demo`) first."""

    exit_code = EXIT_USAGE


class StepFailedError(SalesdwError):
    """A pipeline step (dbt build, KPIs, publication) failed; the published file is untouched."""

    exit_code = EXIT_RUN_FAILED


class QueryRefusedError(SalesdwError):
    """A query that ``salesdw sql`` does not run: more than one statement, or a statement
    that is not a query (COPY, ATTACH, SET, …); see docs/security.md (exit status 2)."""

    exit_code = EXIT_USAGE


class RunFailedError(SalesdwError):
    """A run failed on an unexpected error; its log (``log_file``) has the traceback."""

    exit_code = EXIT_RUN_FAILED

    def __init__(self, message: str, *, log_file: Path | None = None) -> None:
        super().__init__(message)
        self.log_file = log_file
