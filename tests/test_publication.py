"""Publication: readers never see a partial build; a killed run leaves the published
warehouse intact and the next run completes."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import duckdb
import pytest

from salesdw.demo import generate
from tests.e2e_helpers import (
    KPI_FINGERPRINT,
    REVENUE_FINGERPRINT,
    copy_project,
    query,
    salesdw,
    start_run,
)


@pytest.fixture()
def baseline(demo_baseline: Path) -> Path:
    """The test run's published demo project (copied by each test)."""
    return demo_baseline


def _add_new_exports(folder: Path) -> None:
    """A second generated company (other seed) lands as new ERP files: new numbers."""
    other = folder.parent / (folder.name + "_more")
    generate(other, scale="demo", seed=7)
    for src in sorted((other / "erp").glob("order_lines_*.csv"))[-3:]:
        (folder / "landing/erp" / src.name.replace("order_lines_", "order_lines_zz_")).write_bytes(
            src.read_bytes()
        )


def test_readers_never_see_a_partial_build(baseline: Path, tmp_path: Path) -> None:
    config = copy_project(baseline, tmp_path / "p")
    db = config.parent / "warehouse/sales.duckdb"
    before = query(db, REVENUE_FINGERPRINT)
    _add_new_exports(config.parent)
    seen: set[tuple[object, ...]] = set()
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                con = duckdb.connect(str(db), read_only=True)
                try:
                    orders = con.execute(REVENUE_FINGERPRINT).fetchall()[0]
                    # a consistent snapshot: the KPIs were computed on these very orders
                    consistent = con.execute(
                        "select abs((select value from kpi.kpi_values where kpi = 'revenue' "
                        "and grain = 'all' and dimension = 'all') - (select sum(net_amount) "
                        "from marts.fct_orders where not is_cancelled)) < 0.01"
                    ).fetchall()
                    runs = con.execute("select count(*) from meta.runs").fetchall()
                finally:
                    con.close()
                seen.add((*orders, consistent[0][0], runs[0][0]))
            except Exception as exc:
                errors.append(repr(exc))
            time.sleep(0.02)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        run = salesdw("run", "--config", str(config))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert run.returncode == 0, run.stderr
    after = query(db, REVENUE_FINGERPRINT)
    assert errors == []
    assert after != before
    # readers saw the old warehouse, then the new one: nothing in between
    assert seen <= {(*before[0], True, 1), (*after[0], True, 2)}
    assert (*before[0], True, 1) in seen


KILL_POINTS = [
    ("during ingest", "erp_orders:"),
    ("during dbt build", "model marts.fct_order_lines"),
    ("during publication", "publish: exporting"),
]


def _run_and_kill(config: Path, marker: str) -> str:
    proc = start_run(config)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything left of the group
    return "".join(seen)


def test_killed_runs_leave_the_published_warehouse_intact(baseline: Path, tmp_path: Path) -> None:
    config = copy_project(baseline, tmp_path / "p")
    db = config.parent / "warehouse/sales.duckdb"
    before = (query(db, REVENUE_FINGERPRINT), query(db, KPI_FINGERPRINT))
    _add_new_exports(config.parent)
    states = []
    for label, marker in KILL_POINTS:
        log = _run_and_kill(config, marker)
        if marker not in log:  # the run finished before reaching the marker
            pytest.fail(f"kill point {label!r} never reached:\n{log[-2000:]}")
        # the published file opens and holds a complete warehouse
        states.append((label, (query(db, REVENUE_FINGERPRINT), query(db, KPI_FINGERPRINT))))
    done = salesdw("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    after = (query(db, REVENUE_FINGERPRINT), query(db, KPI_FINGERPRINT))
    assert after[0] != before[0]
    for label, state in states:
        if label == "during publication":
            # killed while swapping: the old warehouse, or the new one if the rename had
            # happened, never anything in between
            assert state in (before, after), label
        else:  # killed before publication: the previous numbers
            assert state == before, label
    assert query(db, "select count(*) from meta.runs where status = 'success'") in ([(2,)], [(3,)])
    # the killed runs loaded nothing that stayed: the new files are in the manifest once
    assert query(
        db,
        "select count(*), count(distinct sha256) from meta.load_manifest where file like '%zz_%'",
    ) == [(6, 3)]
