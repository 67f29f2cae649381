"""`salesdw run` exit statuses: a scheduler tells a failed run (3) from a run with data
errors (1) and from a config error (2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flows import steps
from salesdw import cli
from salesdw.errors import (
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    ConfigError,
    StepFailedError,
)


def _run_with(
    monkeypatch: pytest.MonkeyPatch, failure: BaseException, config: Path | None = None
) -> Any:
    def failing(**_: Any) -> Any:
        raise failure

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(steps, "nightly_direct", failing)
    return CliRunner().invoke(cli.main, ["run", *(["--config", str(config)] if config else [])])


def test_a_failed_step_exits_with_the_failed_run_status(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run_with(monkeypatch, StepFailedError("dbt build failed:\nFAIL 1 fct_orders"))
    assert result.exit_code == EXIT_RUN_FAILED == 3
    assert "the run failed: dbt build failed" in result.output
    assert "published warehouse is unchanged" in result.output


def test_an_unexpected_exception_exits_with_the_failed_run_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An error before the run started (no run record yet): the traceback goes to a new
    file in the logs folder beside the warehouse, which the message names."""
    config = tmp_path / "salesdw.yml"
    config.write_text("warehouse: wh/sales.duckdb\nsources: []\n", encoding="utf-8")
    result = _run_with(monkeypatch, RuntimeError("disk full"), config)
    assert result.exit_code == EXIT_RUN_FAILED
    assert "the run failed (RuntimeError: disk full)" in result.output
    assert "Traceback" not in result.output
    [log] = (tmp_path / "wh/logs").iterdir()
    assert f"Details: {log}" in result.output
    assert "RuntimeError: disk full" in log.read_text(encoding="utf-8")


def test_a_config_error_keeps_the_usage_status(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run_with(monkeypatch, ConfigError("source 'crm': unknown entity 'deals'"))
    assert result.exit_code == EXIT_USAGE == 2
    assert "unknown entity 'deals'" in result.output
    assert "the run failed" not in result.output


def test_run_help_lists_every_exit_status() -> None:
    text = CliRunner().invoke(cli.main, ["run", "--help"]).output
    for line in ("0  success", "1  data errors", "2  usage or config error", "3  the run failed"):
        assert line in text
