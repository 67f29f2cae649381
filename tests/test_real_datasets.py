"""Public data sets through the example configs: every input row is accounted for.

Loads the folder `shared/data` beside the repo with the configs in examples/ into a
temporary DuckDB (ingestion only; the UCI runs at the end run the whole job) and checks
the load against numbers computed independently of salesdw (Python's csv module, plain
DuckDB queries) and against the figures published in each data set's SOURCES.md. Skips
when the data is absent.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from salesdw.config import load_config
from salesdw.db import quote_str
from salesdw.ingest.loader import IngestReport, Loader
from salesdw.ingest.mapping import plan
from schemas.config import Config

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLES = REPO / "examples"

if not DATA.is_dir():
    pytest.skip(f"public data sets not found at {DATA}", allow_module_level=True)

MAVEN = DATA / "maven_crm"
UCI_DAYS = DATA / "uci_online_retail" / "by-day"
CDNOW = DATA / "cdnow_sample"


def csv_records(path: Path) -> int:
    """Data records of a CSV file (header excluded), counted by Python's csv module."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


class Loaded:
    """A data set loaded with an example config; timing kept for the report."""

    def __init__(self, config: Config, root: Path) -> None:
        self.config = config
        started = time.perf_counter()
        plans = plan(config)
        self.con = duckdb.connect(str(root / "wh.duckdb"))
        self.report: IngestReport = Loader(self.con, "test", root, progress=lambda _m: None).load(
            plans
        )
        self.seconds = time.perf_counter() - started

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    def value(self, sql: str) -> Any:
        return self.rows(sql)[0][0]

    def manifest(self, source: str) -> dict[str, tuple[int, int, int]]:
        """file → (rows_in, rows_loaded, rows_quarantined)."""
        return {
            f: (i, ld, q)
            for f, i, ld, q in self.rows(
                "select file, rows_in, rows_loaded, rows_quarantined from meta.load_manifest "
                "where source = ?", [source])
        }


def example(name: str, **changes: Any) -> Config:
    config = load_config(EXAMPLES / name / "salesdw.yml")
    assert config.landing_path.is_dir(), config.landing_path
    if changes:  # e.g. another glob for a subset of the files
        sources = [s.model_copy(update=changes) for s in config.sources]
        config = config.model_copy(update={"sources": sources})
    return config


def assert_all_accounted_for(loaded: Loaded, source: str, files: list[Path]) -> None:
    """Every file loaded once; per file rows_in = loaded + quarantined = csv records."""
    manifest = loaded.manifest(source)
    assert sorted(manifest) == sorted(str(p) for p in files)
    for path in files:
        rows_in, rows_loaded, rows_quarantined = manifest[str(path)]
        assert rows_in == rows_loaded + rows_quarantined, path.name
        assert rows_in == csv_records(path), path.name
    quarantined = loaded.rows(
        "select file, count(*) from meta.quarantine where source = ? group by 1", [source])
    assert dict(quarantined) == {f: q for f, (_, _, q) in manifest.items() if q}
    assert [f for f in loaded.report.files if f.source == source and f.status != "loaded"] == []


# --------------------------------------------------------------------------- Maven CRM


@pytest.fixture(scope="module")
def maven(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    loaded = Loaded(example("maven_crm"), tmp_path_factory.mktemp("maven"))
    print(f"\nMaven CRM: {loaded.value('select sum(rows_in) from meta.load_manifest'):,} rows "
          f"loaded in {loaded.seconds:.1f} s")
    return loaded


@pytest.mark.parametrize(("source", "file", "records"), [
    ("maven_opportunities", "sales_pipeline.csv", 8800),
    ("maven_accounts", "accounts.csv", 85),
    ("maven_products", "products.csv", 7),
    ("maven_sales_teams", "sales_teams.csv", 35),
])
def test_maven_every_row_loaded(maven: Loaded, source: str, file: str, records: int) -> None:
    assert_all_accounted_for(maven, source, [MAVEN / file])
    assert maven.manifest(source)[str(MAVEN / file)] == (records, records, 0)


def test_maven_nothing_quarantined(maven: Loaded) -> None:
    assert maven.rows("select source, row_number, reason from meta.quarantine") == []
    assert maven.rows("select count(*) from raw.opportunities") == [(8800,)]
    assert maven.rows("select count(*) from raw.customers") == [(85,)]
    assert maven.rows("select count(*) from raw.products") == [(7,)]
    assert maven.rows("select count(*) from raw.reps") == [(35,)]


def test_maven_figures_from_sources_md(maven: Loaded) -> None:
    assert maven.rows("select stage, count(*) from raw.opportunities group by 1 order by 2 desc") == [
        ("Won", 4238), ("Lost", 2473), ("Engaging", 1589), ("Prospecting", 500),
    ]
    won = maven.value("select sum(amount) from raw.opportunities where stage = 'Won'")
    assert won == 10_005_534
    assert maven.value("select sum(amount) from raw.opportunities where stage = 'Lost'") == 0
    # engage_date is empty for the 500 Prospecting deals, close_date only on Won / Lost
    assert maven.rows("select stage, count(*) from raw.opportunities where created_at is null "
                      "group by 1") == [("Prospecting", 500)]
    assert maven.value("select count(close_date) from raw.opportunities") == 6711
    assert maven.rows("select min(created_at), max(created_at), min(close_date), max(close_date) "
                      "from raw.opportunities") == [
        (dt.date(2016, 10, 20), dt.date(2017, 12, 27), dt.date(2017, 3, 1), dt.date(2017, 12, 31))]
    # account empty on 1,425 open deals, never on closed ones
    assert maven.rows("select stage, count(*) from raw.opportunities where customer_id is null "
                      "group by 1 order by 1") == [("Engaging", 1088), ("Prospecting", 337)]
    assert maven.value("select count(distinct owner_rep_id) from raw.opportunities") == 30
    assert maven.rows("select region, count(*) from raw.reps group by 1 order by 1") == [
        ("Central", 11), ("East", 12), ("West", 12)]
    assert maven.value("select count(distinct manager) from raw.reps") == 6


def test_maven_quirks_are_kept_visible(maven: Loaded) -> None:
    # "GTXPro" in the pipeline vs "GTX Pro" in products.csv: 1,480 deals whose product is
    # not in the product list (dim_product shows them as unknown; the data is not fixed up)
    assert maven.rows("""
        select o.product_id, count(*) from raw.opportunities o
        anti join raw.products p using (product_id) group by 1""") == [("GTXPro", 1480)]
    assert maven.rows(
        "select product_id from raw.products where product_id like 'GTX%Pro' order by 1"
    ) == [("GTX Plus Pro",), ("GTX Pro",)]
    # the sector typo is loaded as written
    assert maven.value("select count(*) from raw.customers where industry = 'technolgy'") > 0
    # every deal's agent is in the sales team list, every closed deal's account in accounts
    assert maven.value("select count(*) from raw.opportunities o anti join raw.reps r "
                       "on o.owner_rep_id = r.rep_id") == 0
    assert maven.value("select count(*) from raw.opportunities o anti join raw.customers c "
                       "using (customer_id) where o.customer_id is not null") == 0


# --------------------------------------------------------------------------- UCI Online Retail

UCI_FILES = sorted(UCI_DAYS.glob("*.csv"))
UCI_SUBSET = "by-day/2011-01-*.csv"  # 24 trading days, for a quick check of the same rules


def check_uci(loaded: Loaded, files: list[Path]) -> None:
    records = {str(p): csv_records(p) for p in files}
    listing = "[" + ", ".join(quote_str(str(p)) for p in files) + "]"
    for source in ("retail_orders", "retail_lines"):
        assert_all_accounted_for(loaded, source, files)
        assert loaded.value(f"select sum(rows_in) from meta.load_manifest "
                            f"where source = '{source}'") == sum(records.values())
    # orders collapse the repeated header of each line: one order per invoice, none lost
    assert loaded.value(
        "select count(*) from meta.quarantine where source = 'retail_orders'") == 0
    invoices = loaded.value(
        f"select count(distinct InvoiceNo) from read_csv({listing}, header = true, "
        "all_varchar = true)")
    assert loaded.value("select count(*) from raw.orders") == invoices
    # identical lines of an invoice (an item scanned twice) are separate lines: nothing
    # is quarantined, every input row is a line
    assert loaded.manifest("retail_lines") == {
        str(f): (n, n, 0) for f, n in records.items()
    }
    assert loaded.value("select count(*) from raw.order_lines") == sum(records.values())
    # revenue = quantity × unit price of every row of the export, cancellations negative
    expected = loaded.value(f"""
        select sum(Quantity::decimal(18, 3) * UnitPrice::decimal(18, 3))
        from read_csv({listing}, header = true, all_varchar = true)""")
    revenue = loaded.value("select sum(amount) from raw.order_lines")
    assert revenue == pytest.approx(float(expected), abs=0.005)
    assert loaded.value("select count(*) from raw.order_lines where order_id like 'C%' "
                        "and quantity >= 0") == 0
    # CustomerID 17850.0 → 17850; empty stays empty (guest orders)
    assert loaded.value("select count(*) from raw.orders where customer_id like '%.%'") == 0
    assert loaded.value("select count(*) from raw.orders where currency <> 'GBP'") == 0


@pytest.fixture(scope="module")
def uci(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    loaded = Loaded(example("uci_online_retail"), tmp_path_factory.mktemp("uci"))
    rows_in = loaded.value(
        "select sum(rows_in) from meta.load_manifest where source = 'retail_lines'")
    print(f"\nUCI Online Retail: {len(UCI_FILES)} files, {rows_in:,} rows, read for orders "
          f"and for lines, in {loaded.seconds:.1f} s")
    return loaded


def test_uci_subset_every_row_accounted_for(tmp_path: Path) -> None:
    loaded = Loaded(example("uci_online_retail", path=UCI_SUBSET), tmp_path)
    files = sorted(UCI_DAYS.parent.glob(UCI_SUBSET))
    assert len(files) == 24
    check_uci(loaded, files)


@pytest.mark.slow
def test_uci_full_every_row_accounted_for(uci: Loaded) -> None:
    assert len(UCI_FILES) == 305
    check_uci(uci, UCI_FILES)
    # the figures of SOURCES.md
    assert uci.value("select sum(rows_in) from meta.load_manifest "
                     "where source = 'retail_lines'") == 541_909
    assert uci.value("select count(*) from raw.orders") == 25_900
    assert uci.value("select count(distinct customer_id) from raw.orders") == 4_372
    assert uci.value("select count(distinct country) from raw.orders") == 38
    assert uci.value("select count(*) from meta.quarantine where source = 'retail_lines'") == 0
    # 5,268 lines repeat another line of their invoice exactly: kept, and shown by the
    # hygiene check identical_order_lines
    assert uci.rows("select min(order_date), max(order_date) from raw.orders") == [
        (dt.date(2010, 12, 1), dt.date(2011, 12, 9))]


@pytest.mark.slow
def test_uci_cancellations_lower_revenue_as_returns(uci: Loaded) -> None:
    # 9,288 input lines are cancellations ("C" invoices, negative quantities); there is no
    # status column, so they load as orders whose net amount is negative: returns (docs/kpis.md)
    cancel_lines = uci.value("select count(*) from raw.order_lines where order_id like 'C%'")
    assert cancel_lines == 9_288
    assert uci.value("""
        select count(*) from (select order_id, sum(amount) as net from raw.order_lines
                              where order_id like 'C%' group by 1) where net >= 0""") == 0
    assert uci.value("select count(*) from raw.orders where status is not null") == 0


# --------------------------------------------------------------------------- CDNOW


def test_cdnow_every_purchase_has_its_line(tmp_path: Path) -> None:
    loaded = Loaded(example("cdnow"), tmp_path)
    assert loaded.manifest("cdnow_orders") == {str(CDNOW / "cdnowElog.csv"): (6919, 6919, 0)}
    assert loaded.value("select count(*) from raw.orders anti join raw.order_lines "
                        "using (order_id)") == 0
    assert loaded.manifest("cdnow_lines") == {str(CDNOW / "cdnowElog.csv"): (6919, 6919, 0)}


def test_cdnow_orders(tmp_path: Path) -> None:
    loaded = Loaded(example("cdnow"), tmp_path)
    assert_all_accounted_for(loaded, "cdnow_orders", [CDNOW / "cdnowElog.csv"])
    assert_all_accounted_for(loaded, "cdnow_lines", [CDNOW / "cdnowElog.csv"])
    assert loaded.rows("select count(*), count(distinct customer_id), min(order_date), "
                       "max(order_date) from raw.orders") == [
        (6919, 2357, dt.date(1997, 1, 1), dt.date(1998, 6, 30))]
    assert loaded.rows("select order_id, customer_id, order_date from raw.orders "
                       "where order_id in ('cdnowElog:1', 'cdnowElog:2') order by 1") == [
        ("cdnowElog:1", "4", dt.date(1997, 1, 1)), ("cdnowElog:2", "4", dt.date(1997, 1, 18))]
    # ids made from the row: identical purchase rows are distinct purchases, none is
    # quarantined as a duplicate
    assert loaded.value("select count(*) from meta.quarantine where source = 'cdnow_lines'") == 0


# --------------------------------------------------------------------------- UCI, full runs


def uci_run(folder: Path, days: str, with_currency: bool) -> Path:
    """`salesdw run` on the UCI files matching ``days`` with the example's mapping
    (reporting currency GBP), with or without `currency: {value: GBP}` on the sources;
    returns the published warehouse."""
    import yaml

    from tests.e2e_helpers import salesdw

    config = yaml.safe_load((EXAMPLES / "uci_online_retail" / "salesdw.yml").read_text())
    config.update(warehouse=str(folder / "sales.duckdb"), reports=str(folder / "reports"),
                  landing=str(UCI_DAYS.parent))
    for source in config["sources"]:
        source["path"] = days
        if not with_currency:
            del source["columns"]["currency"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "salesdw.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    run = salesdw("run", "--config", str(path))
    assert run.returncode == 0, run.stdout + run.stderr
    return folder / "sales.duckdb"


def check_uci_monthly_revenue(db: Path, days: str) -> None:
    """Monthly revenue = Σ Quantity × UnitPrice of every row of the export (cancellations
    negative), to the penny; every row accounted for, none quarantined."""
    files = sorted(UCI_DAYS.parent.glob(days))
    listing = "[" + ", ".join(quote_str(str(p)) for p in files) + "]"
    with duckdb.connect() as con:
        expected = dict(con.execute(f"""
            select strftime(strptime(InvoiceDate, '%Y-%m-%d %H:%M:%S'), '%Y-%m'),
                   sum(Quantity::decimal(18, 3) * UnitPrice::decimal(18, 3))
            from read_csv({listing}, header = true, all_varchar = true)
            group by 1""").fetchall())
    with duckdb.connect(str(db), read_only=True) as con:
        revenue = dict(con.execute("""
            select strftime(period_start, '%Y-%m'), value from kpi.kpi_values
            where kpi = 'revenue' and grain = 'month' and dimension = 'all'""").fetchall())
        manifest = con.execute("""
            select source, sum(rows_in), sum(rows_loaded), sum(rows_quarantined)
            from meta.load_manifest group by 1 order by 1""").fetchall()
    assert revenue.keys() == expected.keys()
    for month, total in expected.items():
        assert round(revenue[month], 2) == round(float(total), 2), month
    rows = sum(csv_records(p) for p in files)
    assert manifest == [("retail_lines", rows, rows, 0), ("retail_orders", rows, rows, 0)]


UCI_TWO_MONTHS = "by-day/2011-0[12]-*.csv"


def test_uci_run_with_a_currency_column_gives_the_same_revenue(tmp_path: Path) -> None:
    """Two months with the example's `currency: {value: GBP}`: the export's own total
    to the penny, as the full run without it below."""
    db = uci_run(tmp_path, UCI_TWO_MONTHS, with_currency=True)
    check_uci_monthly_revenue(db, UCI_TWO_MONTHS)


def test_uci_full_run_monthly_revenue_equals_the_export(tmp_path: Path) -> None:
    """All 305 files with the simplest mapping (no currency column), reporting in GBP."""
    db = uci_run(tmp_path, "by-day/*.csv", with_currency=False)
    check_uci_monthly_revenue(db, "by-day/*.csv")
    with duckdb.connect(str(db), read_only=True) as con:
        # 2010-12 as the export totals it
        assert con.execute("""
            select round(value, 2) from kpi.kpi_values where kpi = 'revenue'
            and grain = 'month' and dimension = 'all'
            and period_start = date '2010-12-01'""").fetchall() == [(748_957.02,)]
        # the lines that repeat another line of their invoice are kept, and shown
        assert con.execute("""
            select count from meta.hygiene where "check" = 'identical_order_lines'
            """).fetchall() == [(5_271,)]
