"""The scheduled night as it runs in production: a real local Prefect server, the
deployment served by `python -m flows.deployment` (README, "Scheduling"), a run
triggered with parameters by `prefect deployment run`, awaited until Completed, and the
warehouse published as of the date the run was given."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_helpers import ROOT, query, small_project

BIN = Path(sys.executable).parent
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _wait(what: str, check: Any, timeout: float, process: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what}: the process ended with {process.returncode}")
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what}: not after {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture()
def prefect_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A Prefect server on 127.0.0.1 with its own home (database) in tmp_path."""
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        _wait("server", lambda: _get(f"{env['PREFECT_API_URL']}/health"), 180, server)
        yield env
    finally:
        _stop(server)
        log.close()


def test_the_served_deployment_completes_a_run_triggered_with_parameters(
    tmp_path: Path, prefect_env: dict[str, str]
) -> None:
    api = prefect_env["PREFECT_API_URL"]
    config = small_project(tmp_path / "project", currency="EUR")
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [str(BIN / "python"), "-m", "flows.deployment", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=prefect_env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        deployment = _wait(
            "deployment registered",
            lambda: _get(f"{api}/deployments/name/salesdw-nightly/nightly"),
            120,
            serve,
        )
        assert deployment["schedules"][0]["schedule"]["cron"] == "0 2 * * *"
        trigger = subprocess.run(
            [
                str(BIN / "prefect"),
                "deployment",
                "run",
                "salesdw-nightly/nightly",
                "--param",
                "as_of=2024-01-31",
            ],
            capture_output=True,
            text=True,
            env=prefect_env,
            timeout=120,
            check=False,
        )
        assert trigger.returncode == 0, trigger.stdout + trigger.stderr
        run_id = next(
            line.split("UUID:")[1].strip() for line in trigger.stdout.splitlines() if "UUID:" in line
        )

        def finished() -> Any:
            run = _get(f"{api}/flow_runs/{run_id}")
            return run if run["state_type"] in TERMINAL else None

        run = _wait("flow run finished", finished, 600, serve)
        assert (run["state_type"], run["state_name"]) == ("COMPLETED", "Completed"), (
            run["state"]["message"],
            (tmp_path / "serve.log").read_text(errors="replace")[-3000:],
        )
        assert run["parameters"]["as_of"] == "2024-01-31"
    finally:
        _stop(serve)
        log.close()
    db = tmp_path / "project" / "warehouse" / "sales.duckdb"
    assert query(db, "select status, as_of from meta.runs") == [
        ("success", dt.date(2024, 1, 31))
    ]
    # as of 2024-01-31 the February order is not yet data: January's revenue, in EUR
    assert query(
        db,
        "select period_start::varchar, value from kpi.kpi_values where kpi = 'revenue' "
        "and grain = 'month' and dimension = 'all'",
    ) == [("2024-01-01", 310.0)]
