"""The seeded demo-data generator (salesdw.demo): reproducible, complete, realistic."""

from __future__ import annotations

import csv
import datetime as dt
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
            headers = {v for v in needed.values() if isinstance(v, str)}  # not constants
            missing = headers - set(header)
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
    revenue = targets.filter(pl.col("metric") == "revenue")
    company = revenue.filter((pl.col("level") == "company") & (pl.col("grain") == "month"))
    assert company.height == 36  # 2024-01 .. 2026-12
    # the company's quarterly revenue targets: 12 quarters, 2024-Q1 .. 2026-Q4
    quarters = revenue.filter(pl.col("grain") == "quarter")
    assert quarters.height == 12 and set(quarters["level"]) == {"company"}
    # weekly targets of one team: ISO weeks from Monday 2024-01-01 to the last full week
    # of 2026 (2026-12-21), 156 weeks
    weeks = revenue.filter(pl.col("grain") == "week")
    assert weeks["value"].unique().to_list() == [weeks["value"][0]]
    assert weeks.height == 156
    assert {p.weekday() for p in weeks["period"]} == {0}
    assert (min(weeks["period"]).date(), max(weeks["period"]).date()) == (
        dt.date(2024, 1, 1),
        dt.date(2026, 12, 21),
    )

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


def _gbk_csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(path.read_bytes().decode("gbk")), infer_schema=False)


@pytest.fixture(scope="module")
def invoices(demo: tuple[Path, dict[str, int]]) -> pl.DataFrame:
    landing, _ = demo
    return pl.read_csv(landing / "erp" / "invoices_*.csv", infer_schema=False).with_columns(
        pl.col("Invoice Date", "Due Date").str.to_date(),
        pl.col("Invoice Amount").cast(pl.Float64),
    )


@pytest.fixture(scope="module")
def payments(demo: tuple[Path, dict[str, int]]) -> pl.DataFrame:
    """ERP receipts and Fxiaoke 回款 in one frame (ERP headers)."""
    landing, _ = demo
    erp = pl.read_csv(landing / "erp" / "receipts_*.csv", infer_schema=False)
    fx = _gbk_csv(landing / "crm/fxiaoke/回款.csv").select(
        pl.col("回款编号").alias("Receipt No"),
        pl.col("回款日期").alias("Receipt Date"),
        pl.col("回款金额").alias("Receipt Amount"),
        pl.col("开票编号").alias("Invoice No"),
        pl.col("客户名称").alias("Customer No"),
        pl.col("销售订单编号").alias("Order No"),
    )
    return pl.concat([erp.drop("Currency", "Payment Method"), fx]).with_columns(
        pl.col("Receipt Date").str.to_date(), pl.col("Receipt Amount").cast(pl.Float64)
    )


def test_every_completed_order_has_one_invoice_of_its_amount(
    demo: tuple[Path, dict[str, int]], invoices: pl.DataFrame
) -> None:
    landing, counts = demo
    lines = pl.read_csv(landing / "erp" / "order_lines_*.csv", infer_schema=False)
    orders = (
        lines.filter(pl.col("Order No").str.starts_with("SO-"))
        .unique(maintain_order=True)  # the deliberate duplicate lines
        .group_by("Order No")
        .agg(
            pl.col("Status").first().alias("order_status"),
            pl.col("Line Amount").cast(pl.Float64).sum().round(2).alias("amount"),
            pl.col("Order Date").first(),
        )
    )
    assert invoices.height == counts["invoices"]
    assert invoices["Invoice No"].n_unique() == invoices.height
    assert invoices["Order No"].n_unique() == invoices.height
    joined = invoices.join(orders, on="Order No", how="inner")
    assert joined.height == invoices.height
    completed = orders.filter(pl.col("order_status") == "Completed")
    assert joined.filter(pl.col("order_status") == "Completed").height == completed.height
    # void invoices are those of cancelled orders, and only those
    by_status = joined.group_by("order_status").agg(pl.col("Status").unique().sort())
    assert sorted(by_status.rows()) == [
        ("Cancelled", ["Void"]),
        ("Completed", ["Open", "Paid"]),
    ]
    assert (joined["Invoice Amount"] - joined["amount"]).abs().max() < 0.006
    issued_after = joined.filter(pl.col("Order Date").str.contains(r"^\d{4}-\d{2}-\d{2}$")).select(
        (pl.col("Invoice Date") - pl.col("Order Date").str.to_date()).dt.total_days()
    )
    assert issued_after.to_series().min() == 0 and issued_after.to_series().max() == 3


def test_payment_terms_follow_the_segment(
    demo: tuple[Path, dict[str, int]], invoices: pl.DataFrame
) -> None:
    landing, _ = demo
    segments = pl.concat(
        [
            pl.read_csv(landing / "crm/salesforce/accounts.csv", infer_schema=False).select(
                pl.col("Account ID").alias("id"), pl.col("Customer Segment").alias("segment")
            ),
            pl.read_csv(landing / "crm/hubspot/companies.csv", infer_schema=False).select(
                pl.col("Record ID").alias("id"), pl.col("Company Tier").alias("segment")
            ),
            _gbk_csv(landing / "crm/fxiaoke/客户.csv").select(
                pl.col("客户名称").alias("id"), pl.col("客户级别").alias("segment")
            ),
        ]
    ).unique("id")
    terms = (
        invoices.join(segments, left_on="Customer No", right_on="id")
        .group_by("segment")
        .agg((pl.col("Due Date") - pl.col("Invoice Date")).dt.total_days().unique().alias("d"))
        .sort("segment")
    )
    assert terms.rows() == [("Enterprise", [60]), ("Mid-Market", [45]), ("SMB", [30])]


def test_payments_are_late_sometimes_missing_sometimes_and_a_few_twice(
    demo: tuple[Path, dict[str, int]], invoices: pl.DataFrame, payments: pl.DataFrame
) -> None:
    _, counts = demo
    assert payments.height == counts["payments"]
    assert payments["Receipt No"].n_unique() == payments.height
    # every payment is for an invoice's customer and order, never before the invoice
    check = payments.join(invoices, on="Order No", how="left")
    assert check["Invoice No_right"].null_count() == 0
    assert (check["Customer No"] == check["Customer No_right"]).all()
    assert (check["Receipt Date"] >= check["Invoice Date"]).all()
    referenced = check.filter(pl.col("Invoice No").is_not_null())
    assert (referenced["Invoice No"] == referenced["Invoice No_right"]).all()
    unreferenced = payments["Invoice No"].null_count() / payments.height
    assert 0.10 <= unreferenced <= 0.14
    # per invoice due before 2026-06 (time to be paid): paid late / never / twice
    per_invoice = (
        check.group_by("Invoice No_right")
        .agg(
            pl.col("Receipt Amount").sum().alias("paid"),
            pl.col("Receipt Date").filter(pl.col("Receipt Amount") > 0).max().alias("last"),
            (pl.col("Receipt Amount") < 0).any().alias("refunded"),
        )
        .rename({"Invoice No_right": "Invoice No"})
    )
    due = invoices.filter(
        (pl.col("Due Date") < pl.date(2026, 6, 1)) & (pl.col("Status") != "Void")
    ).join(per_invoice, on="Invoice No", how="left")
    never = due["paid"].null_count() / due.height
    late = due.filter(pl.col("last") > pl.col("Due Date")).height / due.height
    assert 0.005 <= never <= 0.03
    assert 0.15 <= late <= 0.35
    over = due.filter(pl.col("paid") > pl.col("Invoice Amount") + 0.005)
    assert 5 <= over.height <= 100  # paid twice and not refunded
    assert (over["paid"] - over["Invoice Amount"] * 2).abs().max() < 0.006
    refunds = payments.filter(pl.col("Receipt Amount") < 0)
    assert refunds.height >= 2 and refunds["Invoice No"].null_count() == 0
    # void invoices are never paid; the status says what the payments did by 2026-10-31
    statuses = (
        invoices.join(per_invoice, on="Invoice No", how="left")
        .group_by("Status")
        .agg(
            (pl.col("paid").fill_null(0) >= pl.col("Invoice Amount") - 0.005).all().alias("full"),
            (pl.col("paid").fill_null(0) < pl.col("Invoice Amount") - 0.005).all().alias("part"),
        )
        .sort("Status")
    )
    assert statuses.rows() == [("Open", False, True), ("Paid", True, False), ("Void", False, True)]


def test_fxiaoke_huikuan_and_genjin_are_gbk_with_chinese_values(
    demo: tuple[Path, dict[str, int]],
) -> None:
    landing, _ = demo
    for name in ("回款", "跟进记录"):
        with pytest.raises(UnicodeDecodeError):
            (landing / "crm/fxiaoke" / f"{name}.csv").read_bytes().decode("utf-8")
    huikuan = _gbk_csv(landing / "crm/fxiaoke/回款.csv")
    assert set(preset_columns("fxiaoke", "payments").values()) <= set(huikuan.columns)
    assert set(huikuan["回款方式"].unique()) == {"银行转账", "承兑汇票", "支付宝", "现金"}
    china = set(_gbk_csv(landing / "crm/fxiaoke/客户.csv")["客户名称"])
    assert set(huikuan["客户名称"]) <= china
    genjin = _gbk_csv(landing / "crm/fxiaoke/跟进记录.csv")
    assert set(genjin["跟进方式"].unique()) == {
        "电话",
        "上门拜访",
        "邮件",
        "会议",
        "产品演示",
        "微信",
    }
    assert set(genjin["跟进内容"].unique()) == {"首次联系", "商机跟进", "售后回访"}


def _all_activities(landing: Path) -> pl.DataFrame:
    """The three CRMs' activity exports in one frame: time, rep, customer, lead, deal."""
    sf = pl.read_csv(landing / "crm/salesforce/tasks.csv", infer_schema=False).select(
        pl.col("CompletedDateTime").str.slice(0, 16).str.replace("T", " ").alias("at"),
        pl.col("Owner.Name").alias("rep"),
        pl.col("AccountId").alias("customer"),
        pl.col("WhoId").alias("lead"),
        pl.col("WhatId").alias("deal"),
    )
    hs = pl.read_csv(landing / "crm/hubspot/activities.csv", infer_schema=False).select(
        pl.col("Activity date").alias("at"),
        pl.col("Activity assigned to").alias("rep"),
        pl.col("Associated Company ID").alias("customer"),
        pl.col("Associated Contact ID").alias("lead"),
        pl.col("Associated Deal ID").alias("deal"),
    )
    fx = _gbk_csv(landing / "crm/fxiaoke/跟进记录.csv").select(
        pl.col("跟进时间").alias("at"),
        pl.col("跟进人").alias("rep"),
        pl.col("客户名称").alias("customer"),
        pl.col("线索编号").alias("lead"),
        pl.col("商机编号").alias("deal"),
    )
    return pl.concat([sf, hs, fx]).with_columns(pl.col("at").str.to_datetime("%Y-%m-%d %H:%M"))


def test_activities_are_by_known_reps_about_known_records(
    demo: tuple[Path, dict[str, int]],
) -> None:
    landing, counts = demo
    acts = _all_activities(landing)
    assert acts.height == counts["activities"]
    reps = set(pl.read_csv(landing / "master/reps.csv", infer_schema=False)["Full Name"])
    assert set(acts["rep"]) <= reps
    assert acts["at"].max().date().isoformat() <= "2026-10-31"
    assert acts["at"].min().date().isoformat() >= "2024-01-01"
    # each activity concerns a lead, a deal or a customer
    assert acts.filter(pl.all_horizontal(pl.col("customer", "lead", "deal").is_null())).is_empty()
    deals = set(
        pl.read_csv(landing / "crm/salesforce/opportunities_2026-10-31.csv", infer_schema=False)[
            "Opportunity ID"
        ]
    )
    deals |= set(pl.read_csv(landing / "crm/hubspot/deals.csv", infer_schema=False)["Record ID"])
    deals |= set(_gbk_csv(landing / "crm/fxiaoke/商机.csv")["商机编号"])
    assert set(acts["deal"].drop_nulls()) <= deals


def test_most_leads_are_touched_within_days(demo: tuple[Path, dict[str, int]]) -> None:
    landing, _ = demo
    leads = pl.concat(
        [
            pl.read_csv(landing / "crm/salesforce/leads.csv", infer_schema=False).select(
                pl.col("Lead ID").alias("lead")
            ),
            pl.read_csv(landing / "crm/hubspot/contacts.csv", infer_schema=False).select(
                pl.col("Record ID").alias("lead")
            ),
            _gbk_csv(landing / "crm/fxiaoke/线索.csv").select(pl.col("线索编号").alias("lead")),
        ]
    )
    touched = _all_activities(landing)["lead"].drop_nulls().unique()
    share = leads["lead"].is_in(touched.implode()).mean()
    assert share is not None and 0.85 <= share <= 0.93
