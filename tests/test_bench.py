"""Smoke test of the benchmark helpers (benchmarks/bench.py) on the small demo-scale data set.

Marked ``bench``: out of the default suite; run with ``pytest -m bench tests/test_bench.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from benchmarks import bench

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    base = tmp_path_factory.mktemp("bench") / "demo"
    stamp = bench.ensure_generated("demo", base, say=lambda _m: None)
    return base, stamp


def test_generate_once_then_reuse(generated: tuple[Path, dict[str, object]]) -> None:
    base, stamp = generated
    counts = stamp["counts"]
    assert isinstance(counts, dict) and counts["order_lines"] > 0
    assert json.loads((base / "generated.json").read_text(encoding="utf-8")) == stamp
    messages: list[str] = []
    again = bench.ensure_generated("demo", base, say=messages.append)
    assert again == stamp
    assert messages and messages[0].startswith("reusing")


def test_configs_point_at_the_landing_folders(generated: tuple[Path, dict[str, object]]) -> None:
    from salesdw.config import load_config

    base, _ = generated
    full, empty = bench.write_configs(base)
    assert load_config(full).landing_path == (base / "landing").resolve()
    cfg = load_config(empty)
    assert cfg.landing_path.is_dir() and not any(cfg.landing_path.iterdir())
    assert cfg.warehouse_path.parent.parent == empty.parent


def _landing(
    generated: tuple[Path, dict[str, object]],
) -> tuple[Path, dict[str, int], dict[str, object]]:
    """The generated landing folder, its row counts and its stamp."""
    base, stamp = generated
    counts = stamp["counts"]
    assert isinstance(counts, dict)
    return base / "landing", counts, stamp


def test_delta_files_are_one_percent_and_removable(
    generated: tuple[Path, dict[str, object]],
) -> None:
    landing, counts, stamp = _landing(generated)
    try:
        delta = bench.write_delta(landing, counts)
        files = list(landing.rglob(f"*{bench.DELTA_TAG}*"))
        assert len(files) == 2
        lines = delta["order_lines_changed"] + delta["order_lines_new"]
        assert 0.008 * counts["order_lines"] <= lines <= 0.015 * counts["order_lines"]
        erp = pl.read_csv(next(f for f in files if f.parent.name == "erp"), infer_schema=False)
        last = sorted((landing / "erp").glob("order_lines_2026-10.csv"))[0]
        existing = set(pl.read_csv(last, infer_schema=False)["Order No"].to_list())
        ids = set(erp["Order No"].to_list())
        assert len(ids & existing) == delta["orders_changed"]
        assert len(ids - existing) == delta["orders_new"]
        assert delta["opportunities_changed"] >= 1
        # the deals the night marks won were won that night: closed on 2026-11-01 (in
        # the export's M/D/YYYY), not on their expected close dates, which lie ahead
        sf = next(f for f in files if f.parent.name == "salesforce")
        assert sf.name == "opportunities_2026-11-01_bench_delta.csv"
        won = pl.read_csv(sf, infer_schema=False)
        assert won.height == delta["opportunities_changed"]
        assert set(won["Stage"]) == {"Closed Won"}
        assert set(won["Close Date"]) == {"11/1/2026"}
        before = pl.read_csv(
            landing / "crm" / "salesforce" / "opportunities_2026-10-31.csv", infer_schema=False
        ).filter(pl.col("Opportunity ID").is_in(won["Opportunity ID"].implode()))
        assert before.height == won.height  # existing deals, only these columns changed
        changed_columns = ["Stage", "Probability (%)", "Close Date"]
        assert (
            won.drop(changed_columns)
            .sort("Opportunity ID")
            .equals(before.drop(changed_columns).sort("Opportunity ID"))
        )
        assert (before["Stage"] != "Closed Won").all()
        # open deals expected to close after the night: what the delta used to keep
        expected = before["Close Date"].str.strptime(pl.Date, "%m/%d/%Y")
        assert (expected > dt.date(2026, 11, 1)).any()
        # the stamp ignores the delta files, and removing them restores the data set
        assert bench.landing_files(landing) == stamp["files"]
    finally:
        bench.remove_delta_files(landing)
    assert not list(landing.rglob(f"*{bench.DELTA_TAG}*"))


def test_a_second_night_changes_other_rows_and_can_open_a_month(
    generated: tuple[Path, dict[str, object]],
) -> None:
    landing, counts, stamp = _landing(generated)
    last = bench.order_line_exports(landing)[-1]
    assert last.name == "order_lines_2026-10.csv"
    assert bench.data_last_day(last) == dt.date(2026, 10, 31)
    opens = bench.next_month_start(bench.data_last_day(last))
    assert opens == dt.date(2026, 11, 1)
    assert bench.next_month_start(dt.date(2026, 12, 31)) == dt.date(2027, 1, 1)
    assert bench.next_month_start(dt.date(2026, 1, 31)) == dt.date(2026, 2, 1)
    with pytest.raises(ValueError, match="night must be 1 or more"):
        bench.write_delta(landing, counts, night=0)
    try:
        first = bench.write_delta(landing, counts)
        second = bench.write_delta(landing, counts, night=2, new_orders_on=opens)
        assert (first["exported_on"], second["exported_on"]) == ("2026-11-01", "2026-11-02")
        erp = landing / "erp"
        one = pl.read_csv(erp / "order_lines_2026-11-01_bench_delta.csv", infer_schema=False)
        two = pl.read_csv(erp / "order_lines_2026-11-02_bench_delta.csv", infer_schema=False)
        existing = set(pl.read_csv(last, infer_schema=False)["Order No"].to_list())
        ids_one, ids_two = set(one["Order No"]), set(two["Order No"])
        assert not ids_one & ids_two  # other orders changed, other numbers for new ones
        new_one, new_two = ids_one - existing, ids_two - existing
        assert len(new_two) == second["orders_new"]
        assert len(ids_two & existing) == second["orders_changed"]
        assert min(new_two) > max(new_one) > max(existing)
        # the new orders open November; the changed ones keep their October dates
        dates = two.group_by(pl.col("Order No").is_in(list(new_two)).alias("new")).agg(
            pl.col("Order Date").unique()
        )
        by_new = {row["new"]: set(row["Order Date"]) for row in dates.iter_rows(named=True)}
        assert by_new[True] == {"2026-11-01"}
        assert all(d.startswith("2026-10") or "/" in d for d in by_new[False])
        sf = landing / "crm" / "salesforce"
        won_one = pl.read_csv(sf / "opportunities_2026-11-01_bench_delta.csv", infer_schema=False)
        won_two = pl.read_csv(sf / "opportunities_2026-11-02_bench_delta.csv", infer_schema=False)
        assert won_two.height == second["opportunities_changed"] >= 1
        assert not set(won_one["Opportunity ID"]) & set(won_two["Opportunity ID"])
        assert set(won_two["Close Date"]) == {"11/2/2026"}
        assert bench.landing_files(landing) == stamp["files"]
    finally:
        bench.remove_delta_files(landing)


def test_floor_loads_every_file(generated: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    base, _ = generated
    floor = bench.measure_floor(base / "landing", tmp_path / "floor.duckdb", say=lambda _m: None)
    assert floor["floor_s"] > 0 and floor["xlsx_s"] > 0 and floor["transcode_s"] > 0
    # the files were read once before the clock started, outside the floor
    assert floor["warmup_read_s"] > 0
    assert floor["floor_s"] >= floor["csv_s"] + floor["xlsx_s"] + floor["transcode_s"]
    assert not (tmp_path / "floor.duckdb").exists()


def test_goals_and_percentile() -> None:
    assert bench.percentile([float(i) for i in range(1, 101)], 95) == 95.0
    g = bench.goals(
        {
            "floor_s": 10.0,
            "overhead_s": 5.0,
            "full_s": 30.0,
            "incremental_s": 8.0,
            "peak_rss_mb": 5000.0,
            "query_p95_ms": 50.0,
        }
    )
    assert g["full_minus_overhead_le_3x_floor"]["met"] is True
    assert g["incremental_minus_overhead_le_15pct_of_full"]["met"] is True  # 3 <= 3.75
    assert g["peak_rss_le_4gib"]["met"] is False
    assert g["query_p95_le_200ms"]["met"] is True
    assert len(bench.ANALYST_QUERIES) == 20
