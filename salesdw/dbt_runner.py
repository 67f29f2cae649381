"""Run the dbt project (repo root) on a warehouse build file.

dbt runs in a child process: its connection to the build file is closed for sure when
the process ends (dbt-duckdb keeps it open otherwise), and a failure cannot leave state
behind in the caller.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from salesdw.errors import StepFailedError

PROJECT_DIR = Path(__file__).resolve().parent.parent


def dbt_executable() -> str:
    """The dbt command of this environment."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str],
    db_path: Path,
    *,
    dbt_vars: dict[str, object] | None = None,
    work_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> None:
    """``dbt <args>`` on ``db_path``; raise StepFailedError with dbt's errors on failure."""
    work_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        dbt_executable(),
        *args,
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
        cmd += ["--vars", json.dumps(dbt_vars, default=str)]
    env = {
        **os.environ,
        "SALESDW_DB_PATH": str(db_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
        "DBT_PARTIAL_PARSE": "true",
    }
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        lines.append(line)
        if progress and (
            " OK " in line
            or "ERROR" in line
            or "WARN" in line
            or "Done." in line
            or "Completed" in line
            or "Finished" in line
        ):
            progress(line.split(" ", 1)[-1] if line[:2].isdigit() else line)
    if proc.wait() != 0:
        errors = [ln for ln in lines if "ERROR" in ln or "Error" in ln or "FAIL" in ln]
        raise StepFailedError(f"dbt {args[0]} failed:\n" + "\n".join((errors or lines)[-25:]))
