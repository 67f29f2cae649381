"""The read-only sandbox of analysts' SQL on the published warehouse (docs/security.md).

:func:`connect` opens the published file read-only, with DuckDB's access to other files
and the network off (``enable_external_access``: no ``read_csv``, ``COPY … TO``,
``ATTACH``, ``INSTALL`` or ``LOAD``), extensions neither installed nor loaded
automatically, and the configuration locked (no ``SET``, ``RESET`` or ``PRAGMA`` can
turn any of it back on). :func:`check_query` admits exactly one statement, and only a
query: ``SELECT``, ``WITH``, ``VALUES``, ``FROM``-first, ``TABLE``, ``DESCRIBE``,
``SHOW``, ``SUMMARIZE``, ``PIVOT``/``UNPIVOT`` with their values listed, and ``EXPLAIN``
(``EXPLAIN ANALYZE`` too, which runs its statement) of such a query. The statements
are classified by DuckDB's own parser.

``salesdw sql`` runs its query through both; the Python API (``kpis.api.connect``,
``kpis.api.query``) and ``salesdw kpi`` read through :func:`connect`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from salesdw.errors import QueryRefusedError

#: DuckDB settings of a sandboxed connection, applied when the file is opened
SANDBOX_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
}

#: the statement types DuckDB's parser gives a query (DESCRIBE, SHOW, SUMMARIZE, VALUES,
#: FROM-first and TABLE are SELECT statements to it)
_QUERY_TYPES = frozenset({duckdb.StatementType.SELECT})


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A sandboxed read-only connection to the warehouse file at ``path``."""
    con = duckdb.connect(str(path), read_only=True, config=SANDBOX_CONFIG)
    try:
        con.execute("set enable_progress_bar = false")
        con.execute("set lock_configuration = true")  # last: nothing changes after it
    except BaseException:
        con.close()
        raise
    return con


def check_query(sql: str) -> str:
    """``sql`` if it is exactly one query (see the module's docstring); raises
    :class:`QueryRefusedError` naming what it is otherwise."""
    statements = _parse(sql)
    if not statements:
        raise QueryRefusedError("the query is empty; write one SELECT statement")
    if len(statements) > 1:
        raise QueryRefusedError(
            f"the query holds {len(statements)} statements; salesdw sql runs exactly one "
            "(remove the ';' between them)"
        )
    (statement,) = statements
    if statement.type == duckdb.StatementType.EXPLAIN:
        explained = _explained(statement.query)
        if explained is None or explained.type not in _QUERY_TYPES:
            raise QueryRefusedError(
                "EXPLAIN is allowed of a query only (EXPLAIN [ANALYZE] SELECT …)"
            )
    elif statement.type not in _QUERY_TYPES:
        raise QueryRefusedError(
            f"{_kind(statement)} statements are not allowed: the published warehouse takes "
            "queries only (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN)"
        )
    return sql


def _parse(sql: str) -> list[duckdb.Statement]:
    try:
        return list(duckdb.extract_statements(sql))
    except duckdb.Error as exc:
        raise QueryRefusedError(f"the query does not parse: {str(exc).splitlines()[0]}") from exc


def _kind(statement: duckdb.Statement) -> str:
    """The statement's type as a user writes it (``COPY``, ``ATTACH``, ``INSTALL/LOAD``)."""
    name = statement.type.name
    return {"LOAD": "INSTALL/LOAD", "MULTI": "multi-part (PIVOT without IN)"}.get(
        name, name.replace("_", " ")
    )


def _explained(text: str) -> duckdb.Statement | None:
    """The statement an ``EXPLAIN [ANALYZE]`` statement explains, or None when what
    follows the keywords is not a single statement (EXPLAIN's options, for instance).
    DuckDB's tokenizer finds where the keywords end."""
    tokens = duckdb.tokenize(text)
    ends = [start for start, _ in tokens[1:]] + [len(text)]
    words = [
        (start, text[start:end].strip().lower())
        for (start, kind), end in zip(tokens, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]
    position = 1  # the first word is EXPLAIN
    if len(words) > position and words[position][1] in ("analyze", "analyse"):
        position += 1
    if len(words) <= position:
        return None
    try:
        statements = duckdb.extract_statements(text[words[position][0] :])
    except duckdb.Error:
        return None
    return statements[0] if len(statements) == 1 else None
