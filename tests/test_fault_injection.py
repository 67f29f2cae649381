"""A run killed (SIGKILL, as a scheduler or the out-of-memory killer does) inside any
step leaves nothing that disturbs the next run: no process of it survives, the
published warehouse stays as it was until a run publishes, and the next run, started at
once, succeeds with every row accounted for and none doubled: the same marts and KPIs as
a run that was never interrupted."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from salesdw.demo import generate
from salesdw.run_records import read_records
from tests.e2e_helpers import ROOT, SALESDW, copy_project, env, query, salesdw

#: the steps of a run, by the names of their log lines (``Step '<name>' - Beginning``).
#: Each case costs two runs (about 30 s): the default suite kills the run during the dbt
#: build (validation's and the KPIs' processes are alive then, and dbt's), the others
#: run with the slow tests (`make test-all`)
STEPS = [
    pytest.param("ingest", marks=pytest.mark.slow),
    pytest.param("validate", marks=pytest.mark.slow),
    "dbt-build",
    pytest.param("kpis", marks=pytest.mark.slow),
    pytest.param("publish", marks=pytest.mark.slow),
    pytest.param("report", marks=pytest.mark.slow),
]

MARTS = "select table_name from duckdb_tables() where schema_name = 'marts' order by table_name"
KPI_VALUES = (
    "select kpi, grain, period_start, dimension, dimension_value, value from kpi.kpi_values "
    "order by all"
)
MANIFEST = (
    "select source, regexp_extract(file, '[^/]+$') as name, sha256, rows_in, rows_loaded, "
    "rows_quarantined from meta.load_manifest order by all"
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _new_exports(folder: Path) -> None:
    """New ERP order-line exports of another generated company: the night's new files."""
    other = folder.parent / (folder.name + "_more")
    generate(other, scale="demo", seed=7)
    for src in sorted((other / "erp").glob("order_lines_*.csv"))[-2:]:
        name = src.name.replace("order_lines_", "order_lines_zz_")
        (folder / "landing/erp" / name).write_bytes(src.read_bytes())


def _state(db: Path) -> dict[str, object]:
    """What a run leaves for analysts: every mart's row count, the KPI values, and the
    load manifest (without run ids and times)."""
    tables = [t for (t,) in query(db, MARTS)]
    return {
        "marts": {t: query(db, f"select count(*) from marts.{t}")[0][0] for t in tables},
        "kpi_values": query(db, KPI_VALUES),
        "manifest": query(db, MANIFEST),
    }


def _same_kpis(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> bool:
    """Equal KPI rows; values equal up to the last digits of parallel sums."""
    return len(a) == len(b) and all(
        x[:5] == y[:5]
        and (
            x[5] == y[5]
            or (x[5] is not None and y[5] is not None and math.isclose(x[5], y[5], rel_tol=1e-9))  # type: ignore[arg-type]
        )
        for x, y in zip(a, b, strict=True)
    )


@pytest.fixture(scope="module")
def uninterrupted(
    demo_baseline: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """The state after a run on the night's new files that nobody killed."""
    config = copy_project(demo_baseline, tmp_path_factory.mktemp("reference") / "p")
    _new_exports(config.parent)
    done = salesdw("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    return _state(config.parent / "warehouse/sales.duckdb")


def _group(pgid: int) -> list[int]:
    """The live processes of a process group (from /proc; zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _kill_inside(config: Path, step: str) -> tuple[int, str, str]:
    """Start `salesdw run`, SIGKILL it (the run's process only, not its children) as soon
    as its log says that ``step`` began; return its pid, its run id and its log."""
    run = subprocess.Popen(
        [SALESDW, "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
        start_new_session=True,  # its own process group: its children are found by it
    )
    assert run.stderr is not None
    seen, run_id = [], ""
    for line in run.stderr:
        seen.append(line)
        if not run_id and "| run " in line:
            run_id = line.split("| run ", 1)[1].split(":", 1)[0]
        if f"Step '{step}' - Beginning" in line:
            os.kill(run.pid, signal.SIGKILL)
            break
    run.wait(timeout=60)
    run.stderr.close()
    log = "".join(seen)
    assert run.returncode == -signal.SIGKILL, f"step {step!r} never began:\n{log[-3000:]}"
    return run.pid, run_id, log


@pytest.mark.parametrize("step", STEPS)
def test_a_run_killed_inside_a_step_leaves_nothing_that_disturbs_the_next(
    step: str, demo_baseline: Path, uninterrupted: dict[str, object], tmp_path: Path
) -> None:
    config = copy_project(demo_baseline, tmp_path / "p")
    folder = config.parent / "warehouse"
    db = folder / "sales.duckdb"
    _new_exports(config.parent)
    before = _sha256(db)
    pid, killed, log = _kill_inside(config, step)
    # the published warehouse is as it was, unless the killed run had published it
    # (killed in its report, or in publication after the swap): then it is the killed
    # run's complete warehouse
    if step in ("publish", "report") and _sha256(db) != before:
        assert query(db, f"select status from meta.runs where run_id = '{killed}'") == [
            ("success",)
        ]
    else:
        assert _sha256(db) == before, log[-3000:]
        assert step != "report"
    # the next run starts at once, while the killed run's processes are ending
    following = subprocess.Popen(
        [SALESDW, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
    )
    try:
        # no process of the killed run survives it (they die with it, within moments)
        deadline = time.monotonic() + 10
        while (left := _group(pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], [Path(f"/proc/{p}/cmdline").read_text() for p in left]
        _, err = following.communicate(timeout=900)
    finally:
        if following.poll() is None:
            following.kill()
            following.wait()
    assert following.returncode == 0, err[-3000:]
    # every row accounted for, none doubled: what a run nobody killed leaves
    state = _state(db)
    assert state["marts"] == uninterrupted["marts"]
    assert state["manifest"] == uninterrupted["manifest"]
    assert _same_kpis(state["kpi_values"], uninterrupted["kpi_values"])  # type: ignore[arg-type]
    assert query(
        db,
        "select count(*) from meta.load_manifest where rows_in <> rows_loaded + rows_quarantined",
    ) == [(0,)]
    # the killed run is on record: interrupted, in the records and in meta.runs
    records = {r.run_id: r for r in read_records(folder / "runs")}
    assert records[killed].status == "interrupted"
    assert query(db, f"select status from meta.runs where run_id = '{killed}'") == [
        ("interrupted",)
    ]
    assert step in [s.step for s in records[killed].steps]
    # its work folder is gone; the next run's own too
    assert list((folder / ".build/runs").iterdir()) == []
