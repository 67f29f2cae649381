"""Exception classes with messages a sales analyst understands."""

from __future__ import annotations


class SalesdwError(Exception):
    """Base of every error salesdw reports without a traceback."""

    exit_code = 1


class ConfigError(SalesdwError):
    """The config or a source mapping is wrong: nothing was loaded (exit status 2)."""

    exit_code = 2


class UnreadableFileError(SalesdwError):
    """A landing file cannot be read at all (garbage, wrong encoding, empty)."""


class WarehouseNotFoundError(SalesdwError):
    """No published warehouse yet: run `salesdw run` (or `salesdw demo`) first."""

    exit_code = 2


class StepFailedError(SalesdwError):
    """A pipeline step (dbt build, KPIs, publication) failed; the published file is untouched."""


class QueryRefusedError(SalesdwError):
    """A query that ``salesdw sql`` does not run: more than one statement, or a statement
    that is not a query (COPY, ATTACH, SET, …); see docs/security.md (exit status 2)."""

    exit_code = 2
