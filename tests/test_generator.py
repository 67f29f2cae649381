"""The seeded demo-data generator (salesdw.demo): reproducible, complete, realistic."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from salesdw.demo import UnknownScaleError, config_sources, generate
from salesdw.demo.config import config_text
from salesdw.ingest.presets import preset_columns

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    landing = tmp_path_factory.mktemp("landing")
    return landing, generate(landing, scale="demo", seed=42)


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _header(path: Path, encoding: str = "utf-8-sig") -> list[str]:
    with path.open(encoding=encoding, newline="") as f:
        return next(csv.reader(f))


@pytest.fixture(scope="module")
def revenue_by_month(demo: tuple[Path, dict[str, int]]) -> dict[str, float]:
    """Revenue (not cancelled, returns netted) per month in USD, at monthly mean FX rates."""
    landing, _ = demo
    rows = duckdb.sql(f"""
        with fx as (
            select strftime("Date"::date, '%Y-%m') as month, "Currency" as currency,
                   avg("Rate to USD") as rate
            from read_csv('{landing}/fx/fx_rates.csv') group by all
        ),
        lines as (
            select substr("Order Date", 1, 7) as month, "Currency" as currency,
                   sum("Line Amount"::double) as amount
            from read_csv('{landing}/erp/order_lines_*.csv', all_varchar = true)
            where "Status" <> 'Cancelled' and "Order Date" like '20__-__-__'
            group by all
        )
        select lines.month, sum(amount * coalesce(rate, 1.0))
        from lines left join fx using (month, currency)
        group by 1
    """).fetchall()
    return dict(rows)


def test_same_seed_gives_identical_files(demo: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    landing, counts = demo
    again = generate(tmp_path / "again", scale="demo", seed=42)
    assert again == counts
    assert _hashes(tmp_path / "again") == _hashes(landing)


def test_other_seed_gives_other_data(demo: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    landing, _ = demo
    generate(tmp_path / "other", scale="demo", seed=7)
    a = (landing / "erp" / "order_lines_2025-01.csv").read_bytes()
    b = (tmp_path / "other" / "erp" / "order_lines_2025-01.csv").read_bytes()
    assert a != b


def test_demo_counts_match_the_files(demo: tuple[Path, dict[str, int]]) -> None:
    landing, counts = demo
    assert counts["customers"] >= 5_000
    assert counts["reps"] >= 40
    assert 60_000 <= counts["order_lines"] <= 100_000
    assert counts["products"] == 30
    erp_rows = pl.read_csv(landing / "erp" / "order_lines_*.csv", infer_schema=False)
    assert erp_rows.height == counts["order_lines"]
    assert erp_rows["Order No"].n_unique() == counts["orders"]
    customers = (
        pl.read_csv(landing / "crm/salesforce/accounts.csv", infer_schema=False).height
        + pl.read_csv(landing / "crm/hubspot/companies.csv", infer_schema=False).height
        + pl.read_csv(
            io.StringIO((landing / "crm/fxiaoke/客户.csv").read_bytes().decode("gbk")),
            infer_schema=False,
        ).height
    )
    assert customers == counts["customers"]
    assert len(list((landing / "erp").glob("order_lines_*.csv"))) == 34  # 2024-01 .. 2026-10


def test_fxiaoke_files_are_gbk_with_the_preset_headers(demo: tuple[Path, dict[str, int]]) -> None:
    landing, _ = demo
    for name, entity in (("客户", "customers"), ("线索", "leads"), ("商机", "opportunities")):
        raw = (landing / "crm" / "fxiaoke" / f"{name}.csv").read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")  # really GBK, not UTF-8
        header = raw.decode("gbk").splitlines()[0].split(",")
        assert set(preset_columns("fxiaoke", entity).values()) <= set(header)
    deals = (landing / "crm/fxiaoke/商机.csv").read_bytes().decode("gbk")
    assert "赢单" in deals and "年" in deals and "%" in deals


def test_every_source_file_has_the_headers_its_source_needs(
    demo: tuple[Path, dict[str, int]],
) -> None:
    landing, _ = demo
    for source in config_sources():
        paths = sorted(landing.glob(source["path"]))
        assert paths, source["name"]
        needed = (
            dict(preset_columns(source["preset"], source["entity"])) if "preset" in source else {}
        )
        needed.update(source.get("columns", {}))
        for path in paths:
            if source.get("format") == "xlsx":
                sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
                header = [c.value for c in next(sheet.iter_rows(max_row=1))]
            else:
                header = _header(path, source.get("encoding", "utf-8-sig"))
            missing = set(needed.values()) - set(header)
            assert not missing, (source["name"], path.name, missing)


def test_targets_workbooks_are_95_to_110_percent_of_actual_revenue(
    demo: tuple[Path, dict[str, int]], revenue_by_month: dict[str, float]
) -> None:
    landing, _ = demo
    books = sorted((landing / "targets").glob("targets_*.xlsx"))
    assert [b.name for b in books] == [
        "targets_2024.xlsx",
        "targets_2025.xlsx",
        "targets_2026.xlsx",
    ]
    rows = []
    for book in books:
        wb = openpyxl.load_workbook(book)
        sheet = wb.worksheets[0]
        assert sheet.title == "Targets"
        values = list(sheet.iter_rows(values_only=True))
        assert values[0] == ("Period", "Grain", "Metric", "Level", "Level Value", "Target")
        rows += values[1:]
    targets = pl.DataFrame(
        rows, schema=["period", "grain", "metric", "level", "value", "target"], orient="row"
    )
    assert set(targets["level"]) == {"company", "region", "team", "rep"}
    assert targets.filter(pl.col("metric") == "bookings")["grain"].unique().to_list() == ["quarter"]
    company = targets.filter((pl.col("level") == "company") & (pl.col("metric") == "revenue"))
    assert company.height == 36  # 2024-01 .. 2026-12

    ratios = [
        target / revenue_by_month[period.strftime("%Y-%m")]
        for period, target in company.select("period", "target").iter_rows()
        if period.strftime("%Y-%m") in revenue_by_month
    ]
    assert len(ratios) == 34
    assert min(ratios) >= 0.94 and max(ratios) <= 1.11


def test_revenue_has_q4_peak_august_dip_and_growth(revenue_by_month: dict[str, float]) -> None:
    by_month = revenue_by_month
    for year in (2024, 2025):
        q4_monthly = sum(by_month[f"{year}-{m}"] for m in ("10", "11", "12")) / 3
        months = [by_month[f"{year}-{m:02d}"] for m in range(1, 13)]
        assert q4_monthly > 1.4 * by_month[f"{year}-08"]
        assert by_month[f"{year}-08"] == min(months)
    assert by_month["2026-10"] > by_month["2026-08"]
    year_2024 = sum(v for k, v in by_month.items() if k.startswith("2024"))
    year_2025 = sum(v for k, v in by_month.items() if k.startswith("2025"))
    assert 1.10 < year_2025 / year_2024 < 1.40


def test_referrals_convert_better_than_paid_search(demo: tuple[Path, dict[str, int]]) -> None:
    landing, _ = demo
    leads = pl.read_csv(landing / "crm/salesforce/leads.csv", infer_schema=False)
    rate = dict(
        leads.group_by("Lead Source")
        .agg(pl.col("Converted Account ID").is_not_null().mean())
        .iter_rows()
    )
    assert rate["Referral"] > 2.5 * rate["Paid Search"]
    assert 0.2 < rate["Referral"] < 0.4 and 0.04 < rate["Paid Search"] < 0.12
    # converted leads point at real accounts and opportunities
    accounts = set(
        pl.read_csv(landing / "crm/salesforce/accounts.csv", infer_schema=False)["Account ID"]
    )
    deals = pl.read_csv(landing / "crm/salesforce/opportunities_2026-10-31.csv", infer_schema=False)
    converted = leads.filter(pl.col("Converted Account ID").is_not_null())
    assert set(converted["Converted Account ID"]) <= accounts
    assert set(converted["Converted Opportunity ID"]) <= set(deals["Opportunity ID"])


def test_every_erp_customer_is_in_a_crm(demo: tuple[Path, dict[str, int]]) -> None:
    landing, _ = demo
    ids = set(
        pl.read_csv(landing / "crm/salesforce/accounts.csv", infer_schema=False)["Account ID"]
    )
    ids |= set(pl.read_csv(landing / "crm/hubspot/companies.csv", infer_schema=False)["Record ID"])
    gbk = (landing / "crm/fxiaoke/客户.csv").read_bytes().decode("gbk")
    ids |= set(pl.read_csv(io.StringIO(gbk), infer_schema=False)["客户名称"])
    erp = pl.read_csv(landing / "erp" / "order_lines_*.csv", infer_schema=False)
    assert set(erp["Customer No"]) <= ids
    status = erp.unique("Order No")["Status"].value_counts(normalize=True)
    share = dict(status.iter_rows())
    assert 0.02 < share["Cancelled"] < 0.04 and 0.01 < share["Returned"] < 0.03
    returns = erp.filter(pl.col("Status") == "Returned")
    assert (returns["Quantity"].cast(pl.Int64) < 0).all()


def test_later_salesforce_export_advances_open_deals(demo: tuple[Path, dict[str, int]]) -> None:
    landing, _ = demo
    early = pl.read_csv(landing / "crm/salesforce/opportunities_2026-09-30.csv", infer_schema=False)
    late = pl.read_csv(landing / "crm/salesforce/opportunities_2026-10-31.csv", infer_schema=False)
    assert set(early["Opportunity ID"]) < set(late["Opportunity ID"])
    both = early.join(late, on="Opportunity ID", suffix="_late")
    open_then = both.filter(~pl.col("Stage").str.starts_with("Closed"))
    assert open_then.filter(pl.col("Stage_late").str.starts_with("Closed")).height > 10
    closed_then = both.filter(pl.col("Stage").str.starts_with("Closed"))
    assert (closed_then["Stage"] == closed_then["Stage_late"]).all()


def test_documented_defects_are_present(demo: tuple[Path, dict[str, int]]) -> None:
    landing, _ = demo
    for export in ("2026-09-30", "2026-10-31"):
        deals = pl.read_csv(
            landing / f"crm/salesforce/opportunities_{export}.csv", infer_schema=False
        )
        assert (deals["Stage"] == "Stalled").sum() == 3
        assert deals["Opportunity Owner"].is_null().sum() == 2
        assert (deals["Opportunity Owner"] == "Jordan Blake").sum() == 2
    reps = pl.read_csv(landing / "master/reps.csv", infer_schema=False)
    assert "Jordan Blake" not in set(reps["Full Name"])
    assert (reps["Active"] == "false").sum() >= 2
    accounts = pl.read_csv(landing / "crm/salesforce/accounts.csv", infer_schema=False)
    assert accounts.height - accounts["Account Name"].n_unique() == 4
    leads = pl.read_csv(landing / "crm/salesforce/leads.csv", infer_schema=False)
    assert sorted(leads.filter(~pl.col("Created Date").str.contains("/20"))["Created Date"]) == [
        "n/a"
    ]
    assert (leads["Created Date"] == "31/02/2025").sum() == 2
    march = pl.read_csv(landing / "erp/order_lines_2025-03.csv", infer_schema=False)
    assert march.height - march.unique().height == 5
    erp = pl.read_csv(landing / "erp" / "order_lines_*.csv", infer_schema=False)
    assert sorted(erp.filter(~pl.col("Order Date").str.starts_with("20"))["Order Date"]) == [
        "31/02/2025",
        "n/a",
    ]


def test_committed_config_is_the_written_config() -> None:
    committed = (REPO / "salesdw.yml").read_text(encoding="utf-8")
    assert committed == config_text("data/warehouse/sales.duckdb", "data/landing")


def test_unknown_scale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownScaleError, match="XL"):
        generate(tmp_path, scale="XL")
