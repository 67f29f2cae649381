"""Presets: an export in each CRM's own format loads with `preset:` alone, no `columns`.

Each test writes an export the way that CRM writes it (its headers, a couple of extra
columns the preset ignores, its date / amount / probability spellings and encoding) and
asserts the exact rows in raw.*. The last test checks that docs/presets.md and
docs/entities.md are the text `salesdw.docs_gen` derives from the code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from salesdw import docs_gen
from salesdw.ingest.presets import PRESETS
from tests.ingest_helpers import load, rows, write


def export(header: list[str], *records: list[str]) -> str:
    """CSV text as a CRM writes it (every field quoted where needed, CRLF line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(records)
    return buf.getvalue()


#: every canonical lead field, as the lead tests of all presets compare them
LEADS = """
    select lead_id, created_at, channel, status, owner_rep_id, converted_at,
           converted_customer_id, converted_opportunity_id
    from raw.leads order by 1"""


def source(preset: str, entity: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"name": f"{preset}_{entity}", "entity": entity, "preset": preset, "path": path,
            **extra}


def no_quarantine(con: Any) -> None:
    assert rows(con, "select source, row_number, reason from meta.quarantine") == []


# --------------------------------------------------------------------------- Salesforce


def test_salesforce_opportunities(tmp_path: Path) -> None:
    write(tmp_path / "landing/sf/opportunities_2024-04-30.csv", export(
        ["Opportunity Owner", "Account Name", "Opportunity Name", "Stage", "Fiscal Period",
         "Amount", "Opportunity Currency", "Probability (%)", "Age", "Close Date",
         "Created Date", "Next Step", "Lead Source", "Type", "Opportunity ID", "Account ID"],
        ["Jane Doe", "Acme Corp", "Acme - 200 Widgets", "Closed Won", "Q2-2024",
         "$12,500.00", "USD", "100", "56", "4/30/2024", "3/5/2024", "", "Web",
         "New Customer", "0065g00000AbCdE", "0015g00000XyZ12"],
        ["Tom Lee", "Globex", "Globex - Renewal 2024", "Negotiation/Review", "Q2-2024",
         "$1,250.50", "USD", "35", "12", "6/15/2024", "12/31/2023", "Send quote",
         "Partner Referral", "Existing Customer - Renewal", "0065g00000AbCdF",
         "0015g00000XyZ13"],
        ["Tom Lee", "Initech", "Initech - Upgrade", "Prospecting", "Q3-2024", "", "USD", "10",
         "3", "7/1/2024", "4/2/2024", "", "", "Existing Customer - Upgrade",
         "0065g00000AbCdG", "0015g00000XyZ14"],
    ))
    con, _ = load(tmp_path, [source("salesforce", "opportunities", "sf/opportunities_*.csv")])
    assert rows(con, """
        select opportunity_id, customer_id, owner_rep_id, name, stage, amount, currency,
               probability, created_at, close_date, channel, type, product_id
        from raw.opportunities order by 1""") == [
        ("0065g00000AbCdE", "0015g00000XyZ12", "Jane Doe", "Acme - 200 Widgets", "Closed Won",
         12500.0, "USD", 1.0, dt.date(2024, 3, 5), dt.date(2024, 4, 30), "Web", "new", None),
        ("0065g00000AbCdF", "0015g00000XyZ13", "Tom Lee", "Globex - Renewal 2024",
         "Negotiation/Review", 1250.5, "USD", 0.35, dt.date(2023, 12, 31),
         dt.date(2024, 6, 15), "Partner Referral", "renewal", None),
        ("0065g00000AbCdG", "0015g00000XyZ14", "Tom Lee", "Initech - Upgrade", "Prospecting",
         None, "USD", 0.1, dt.date(2024, 4, 2), dt.date(2024, 7, 1), None, "upsell", None),
    ]
    no_quarantine(con)


def test_salesforce_accounts(tmp_path: Path) -> None:
    write(tmp_path / "landing/sf/accounts.csv", export(
        ["Account ID", "Account Name", "Type", "Customer Segment", "Industry", "Annual Revenue",
         "Billing City", "Billing State/Province", "Billing Country", "Account Source",
         "Created Date", "Account Owner"],
        ["0015g00000XyZ12", "Acme Corp", "Customer - Direct", "Enterprise", "Manufacturing",
         "$350,000,000.00", "Chicago", "IL", "United States", "Web", "1/15/2023", "Jane Doe"],
        ["0015g00000XyZ13", "Globex", "Prospect", "SMB", "", "", "München", "Bayern",
         "Germany", "Trade Show", "11/2/2023", "Tom Lee"],
    ))
    con, _ = load(tmp_path, [source("salesforce", "customers", "sf/accounts.csv")])
    assert rows(con, """
        select customer_id, name, segment, industry, country, region, city, channel,
               created_at, owner_rep_id
        from raw.customers order by 1""") == [
        ("0015g00000XyZ12", "Acme Corp", "Enterprise", "Manufacturing", "United States", "IL",
         "Chicago", "Web", dt.date(2023, 1, 15), "Jane Doe"),
        ("0015g00000XyZ13", "Globex", "SMB", None, "Germany", "Bayern", "München",
         "Trade Show", dt.date(2023, 11, 2), "Tom Lee"),
    ]
    no_quarantine(con)


def test_salesforce_leads(tmp_path: Path) -> None:
    write(tmp_path / "landing/sf/leads.csv", export(
        ["Lead ID", "First Name", "Last Name", "Company", "Lead Source", "Lead Status",
         "Lead Owner", "Created Date", "Converted Date", "Converted Account ID",
         "Converted Opportunity ID"],
        ["00Q5g00000LdA01", "Ann", "Smith", "Acme Corp", "Web", "Closed - Converted",
         "Jane Doe", "2/20/2024", "3/5/2024", "0015g00000XyZ12", "0065g00000AbCdE"],
        ["00Q5g00000LdA02", "Bo", "Chen", "Hooli", "Cold Call", "Working - Contacted",
         "Tom Lee", "3/1/2024", "", "", ""],
    ))
    con, _ = load(tmp_path, [source("salesforce", "leads", "sf/leads.csv")])
    assert rows(con, LEADS) == [
        ("00Q5g00000LdA01", dt.date(2024, 2, 20), "Web", "Closed - Converted", "Jane Doe",
         dt.date(2024, 3, 5), "0015g00000XyZ12", "0065g00000AbCdE"),
        ("00Q5g00000LdA02", dt.date(2024, 3, 1), "Cold Call", "Working - Contacted", "Tom Lee",
         None, None, None),
    ]
    no_quarantine(con)


# --------------------------------------------------------------------------- HubSpot


def test_hubspot_deals(tmp_path: Path) -> None:
    write(tmp_path / "landing/hs/all-deals.csv", export(
        ["Record ID", "Deal Name", "Pipeline", "Deal Stage", "Amount", "Currency",
         "Deal probability", "Create Date", "Close Date", "Deal owner", "Deal Type",
         "Associated Company ID", "Original Traffic Source", "Last Activity Date"],
        ["15874583921", "Acme renewal", "Sales Pipeline", "closedwon", "12500", "USD", "1",
         "2024-03-05 10:22", "2024-04-30 17:03", "Jane Doe", "existingbusiness",
         "9834511201", "ORGANIC_SEARCH", "2024-04-30 17:05"],
        ["15874583922", "Globex pilot", "Sales Pipeline", "appointmentscheduled", "980.5",
         "EUR", "0.2", "2024-03-06 08:00", "", "Tom Lee", "newbusiness", "",
         "PAID_SEARCH", ""],
    ))
    con, _ = load(tmp_path, [source("hubspot", "opportunities", "hs/*.csv")])
    assert rows(con, """
        select opportunity_id, name, stage, amount, currency, probability, created_at,
               close_date, owner_rep_id, customer_id, channel, type
        from raw.opportunities order by 1""") == [
        ("15874583921", "Acme renewal", "closedwon", 12500.0, "USD", 1.0, dt.date(2024, 3, 5),
         dt.date(2024, 4, 30), "Jane Doe", "9834511201", "ORGANIC_SEARCH", "upsell"),
        ("15874583922", "Globex pilot", "appointmentscheduled", 980.5, "EUR", 0.2,
         dt.date(2024, 3, 6), None, "Tom Lee", None, "PAID_SEARCH", "new"),
    ]
    no_quarantine(con)


def test_hubspot_companies(tmp_path: Path) -> None:
    write(tmp_path / "landing/hs/companies.csv", export(
        ["Record ID", "Company name", "Company Domain Name", "Industry", "Company Tier",
         "Country/Region", "State/Region", "City", "Original Traffic Source", "Create Date",
         "Company owner", "Number of Employees"],
        ["9834511201", "Acme Corp", "acme.com", "COMPUTER_SOFTWARE", "Tier 1",
         "United States", "Illinois", "Chicago", "ORGANIC_SEARCH", "2023-01-15 09:30",
         "Jane Doe", "5000"],
        ["9834511202", "Globex", "globex.de", "", "", "Germany", "", "Berlin", "OFFLINE",
         "2023-11-02 14:05", "", ""],
    ))
    con, _ = load(tmp_path, [source("hubspot", "customers", "hs/companies.csv")])
    assert rows(con, """
        select customer_id, name, industry, segment, country, region, city, channel,
               created_at, owner_rep_id
        from raw.customers order by 1""") == [
        ("9834511201", "Acme Corp", "COMPUTER_SOFTWARE", "Tier 1", "United States",
         "Illinois", "Chicago", "ORGANIC_SEARCH", dt.date(2023, 1, 15), "Jane Doe"),
        ("9834511202", "Globex", None, None, "Germany", None, "Berlin", "OFFLINE",
         dt.date(2023, 11, 2), None),
    ]
    no_quarantine(con)


def test_hubspot_contacts(tmp_path: Path) -> None:
    write(tmp_path / "landing/hs/contacts.csv", export(
        ["Record ID", "First Name", "Last Name", "Email", "Lead Status", "Contact owner",
         "Create Date", "Original Traffic Source", "Became a Customer Date",
         "Associated Company ID"],
        ["51", "Ann", "Smith", "ann@acme.com", "CONNECTED", "Jane Doe", "2024-02-20 11:47",
         "ORGANIC_SEARCH", "2024-03-05 10:22", "9834511201"],
        ["52", "Bo", "Chen", "bo@hooli.com", "NEW", "Tom Lee", "2024-03-01 08:15",
         "SOCIAL_MEDIA", "", ""],
    ))
    con, _ = load(tmp_path, [source("hubspot", "leads", "hs/contacts.csv")])
    assert rows(con, LEADS) == [
        ("51", dt.date(2024, 2, 20), "ORGANIC_SEARCH", "CONNECTED", "Jane Doe",
         dt.date(2024, 3, 5), "9834511201", None),
        ("52", dt.date(2024, 3, 1), "SOCIAL_MEDIA", "NEW", "Tom Lee", None, None, None),
    ]
    no_quarantine(con)


# --------------------------------------------------------------------------- Zoho CRM


def test_zoho_deals(tmp_path: Path) -> None:
    write(tmp_path / "landing/zoho/Deals_2024_04_30.csv", export(
        ["Record Id", "Deal Owner", "Deal Name", "Amount", "Stage", "Probability (%)",
         "Expected Revenue", "Closing Date", "Account Name", "Contact Name", "Type",
         "Lead Source", "Created Time", "Currency"],
        ["zcrm_5725767000000412001", "Jane Doe", "Acme expansion", "12500.00", "Closed Won",
         "100", "12500.00", "2024-04-30", "Acme Corp", "Ann Smith", "Existing Business",
         "Web Download", "2024-03-05 10:22:13", "USD"],
        ["zcrm_5725767000000412002", "Tom Lee", "Globex new", "8000", "Qualification", "10",
         "800", "2024-06-30", "Globex", "", "New Business", "Cold Call",
         "2024-03-06 09:00:00", "EUR"],
        ["zcrm_5725767000000412003", "Tom Lee", "Hooli", "0", "Closed Lost", "0", "0",
         "2024-03-31", "Hooli", "", "", "", "2024-01-10 16:45:59", "USD"],
    ))
    con, _ = load(tmp_path, [source("zoho", "opportunities", "zoho/Deals_*.csv")])
    assert rows(con, """
        select opportunity_id, owner_rep_id, name, amount, stage, probability, close_date,
               customer_id, type, channel, created_at, currency
        from raw.opportunities order by 1""") == [
        ("zcrm_5725767000000412001", "Jane Doe", "Acme expansion", 12500.0, "Closed Won", 1.0,
         dt.date(2024, 4, 30), "Acme Corp", "upsell", "Web Download", dt.date(2024, 3, 5),
         "USD"),
        ("zcrm_5725767000000412002", "Tom Lee", "Globex new", 8000.0, "Qualification", 0.1,
         dt.date(2024, 6, 30), "Globex", "new", "Cold Call", dt.date(2024, 3, 6), "EUR"),
        ("zcrm_5725767000000412003", "Tom Lee", "Hooli", 0.0, "Closed Lost", 0.0,
         dt.date(2024, 3, 31), "Hooli", None, None, dt.date(2024, 1, 10), "USD"),
    ]
    no_quarantine(con)


def test_zoho_accounts(tmp_path: Path) -> None:
    write(tmp_path / "landing/zoho/Accounts.csv", export(
        ["Record Id", "Account Owner", "Account Name", "Phone", "Account Type", "Industry",
         "Billing City", "Billing State", "Billing Country", "Account Source", "Created Time"],
        ["zcrm_5725767000000300001", "Jane Doe", "Acme Corp", "+1 312 555 0100", "Customer",
         "Manufacturing", "Chicago", "IL", "USA", "Web Download", "2023-01-15 09:30:00"],
        ["zcrm_5725767000000300002", "Tom Lee", "Globex", "", "Prospect", "", "Berlin", "",
         "Germany", "", "2023-11-02 14:05:41"],
    ))
    con, _ = load(tmp_path, [source("zoho", "customers", "zoho/Accounts.csv")])
    assert rows(con, """
        select customer_id, name, segment, industry, country, region, city, channel,
               created_at, owner_rep_id
        from raw.customers order by 1""") == [
        ("Acme Corp", "Acme Corp", "Customer", "Manufacturing", "USA", "IL", "Chicago",
         "Web Download", dt.date(2023, 1, 15), "Jane Doe"),
        ("Globex", "Globex", "Prospect", None, "Germany", None, "Berlin", None,
         dt.date(2023, 11, 2), "Tom Lee"),
    ]
    no_quarantine(con)


def test_zoho_leads(tmp_path: Path) -> None:
    write(tmp_path / "landing/zoho/Leads.csv", export(
        ["Record Id", "Lead Owner", "Company", "Last Name", "Email", "Lead Source",
         "Lead Status", "Created Time", "Converted Date Time", "Converted Account",
         "Converted Deal"],
        ["zcrm_5725767000000200001", "Jane Doe", "Acme Corp", "Smith", "ann@acme.com",
         "Web Download", "Converted", "2024-02-20 11:47:02", "2024-03-05 10:22:13",
         "Acme Corp", "Acme expansion"],
        ["zcrm_5725767000000200002", "Tom Lee", "Hooli", "Chen", "", "Cold Call",
         "Attempted to Contact", "2024-03-01 08:15:00", "", "", ""],
    ))
    con, _ = load(tmp_path, [source("zoho", "leads", "zoho/Leads.csv")])
    assert rows(con, LEADS) == [
        ("zcrm_5725767000000200001", dt.date(2024, 2, 20), "Web Download", "Converted",
         "Jane Doe", dt.date(2024, 3, 5), "Acme Corp", "Acme expansion"),
        ("zcrm_5725767000000200002", dt.date(2024, 3, 1), "Cold Call", "Attempted to Contact",
         "Tom Lee", None, None, None),
    ]
    no_quarantine(con)


# --------------------------------------------------------------------------- Fxiaoke (GBK)
# Fxiaoke's export is opened and re-saved in Excel on a Chinese Windows: GBK, comma
# separated. GBK has no U+00A5 "¥", so the amounts carry the full-width "￥" (U+FFE5).


def test_fxiaoke_opportunities_gbk(tmp_path: Path) -> None:
    write(tmp_path / "landing/fx/商机_20240430.csv", export(
        ["商机编号", "商机名称", "客户名称", "负责人", "所属部门", "销售阶段", "商机金额", "币种",
         "赢率", "创建时间", "预计成交日期", "商机来源"],
        ["SJ-2024-0001", "华信ERP升级", "北京华信科技有限公司", "张伟", "华北大区", "赢单",
         "￥12,500.00", "CNY", "100%", "2024年3月5日", "2024年4月30日", "官网"],
        ["SJ-2024-0002", "远大CRM项目", "上海远大集团", "李娜", "华东大区", "方案报价",
         "￥1,280,000.50", "CNY", "35%", "2024年3月6日 14:20", "2024年6月15日", "展会"],
        ["SJ-2024-0003", "腾飞试用", "深圳腾飞", "李娜", "华南大区", "初步接洽", "", "", "10%",
         "2024年4月1日", "", ""],
    ), "gbk")
    con, _ = load(tmp_path, [source("fxiaoke", "opportunities", "fx/商机_*.csv")])
    assert rows(con, """
        select opportunity_id, name, customer_id, owner_rep_id, stage, amount, currency,
               probability, created_at, close_date, channel
        from raw.opportunities order by 1""") == [
        ("SJ-2024-0001", "华信ERP升级", "北京华信科技有限公司", "张伟", "赢单", 12500.0, "CNY",
         1.0, dt.date(2024, 3, 5), dt.date(2024, 4, 30), "官网"),
        ("SJ-2024-0002", "远大CRM项目", "上海远大集团", "李娜", "方案报价", 1280000.5, "CNY",
         0.35, dt.date(2024, 3, 6), dt.date(2024, 6, 15), "展会"),
        ("SJ-2024-0003", "腾飞试用", "深圳腾飞", "李娜", "初步接洽", None, None, 0.1,
         dt.date(2024, 4, 1), None, None),
    ]
    no_quarantine(con)


def test_fxiaoke_customers_gbk(tmp_path: Path) -> None:
    write(tmp_path / "landing/fx/客户.csv", export(
        ["客户名称", "客户级别", "行业", "国家", "省份", "城市", "详细地址", "来源", "创建时间",
         "负责人", "电话"],
        ["北京华信科技有限公司", "A类", "制造业", "中国", "北京市", "北京市", "海淀区中关村大街1号",
         "官网", "2023年1月15日", "张伟", "010-88886666"],
        ["上海远大集团", "B类", "", "中国", "上海市", "上海市", "", "展会", "2023年11月2日",
         "李娜", ""],
    ), "gbk")
    con, _ = load(tmp_path, [source("fxiaoke", "customers", "fx/客户.csv")])
    assert rows(con, """
        select customer_id, name, segment, industry, country, region, city, channel,
               created_at, owner_rep_id
        from raw.customers order by 1""") == [
        ("上海远大集团", "上海远大集团", "B类", None, "中国", "上海市", "上海市", "展会",
         dt.date(2023, 11, 2), "李娜"),
        ("北京华信科技有限公司", "北京华信科技有限公司", "A类", "制造业", "中国", "北京市", "北京市",
         "官网", dt.date(2023, 1, 15), "张伟"),
    ]
    no_quarantine(con)


def test_fxiaoke_leads_gbk(tmp_path: Path) -> None:
    write(tmp_path / "landing/fx/线索.csv", export(
        ["线索编号", "姓名", "公司名称", "线索来源", "处理状态", "负责人", "创建时间", "转换时间",
         "转换客户"],
        ["XS-0001", "王芳", "北京华信科技有限公司", "官网", "已转换", "张伟", "2024年2月20日",
         "2024年3月5日", "北京华信科技有限公司"],
        ["XS-0002", "赵磊", "杭州云启", "展会", "未处理", "李娜", "2024年3月1日", "", ""],
    ), "gbk")
    con, _ = load(tmp_path, [source("fxiaoke", "leads", "fx/线索.csv")])
    assert rows(con, LEADS) == [
        ("XS-0001", dt.date(2024, 2, 20), "官网", "已转换", "张伟", dt.date(2024, 3, 5),
         "北京华信科技有限公司", None),
        ("XS-0002", dt.date(2024, 3, 1), "展会", "未处理", "李娜", None, None, None),
    ]
    no_quarantine(con)


# --------------------------------------------------------------------------- ERP order lines


def test_erp_order_lines_feed_orders_and_lines(tmp_path: Path) -> None:
    write(tmp_path / "landing/erp/sales_lines_2024-03.csv", export(
        ["Order No", "Line No", "Order Date", "Customer No", "Status", "Channel", "Sales Rep",
         "Region", "Country", "Item No", "Item Description", "Quantity", "Unit Price",
         "Discount", "Line Amount", "Line Cost", "Currency", "Warehouse"],
        ["SO-10001", "10", "2024-03-05", "C-0042", "Shipped", "Direct", "R07", "EMEA", "DE",
         "SKU-1", "Widget, large", "2", "1,250.00", "100.00", "2,400.00", "1,500.00", "EUR",
         "WH1"],
        ["SO-10001", "20", "2024-03-05", "C-0042", "Shipped", "Direct", "R07", "EMEA", "DE",
         "SKU-2", "Cable", "10", "4.99", "", "", "", "EUR", "WH1"],
        ["SO-10002", "10", "2024-03-06", "C-0007", "Cancelled", "Web", "", "", "FR", "SKU-1",
         "Widget, large", "1", "1,250.00", "", "1,250.00", "", "EUR", "WH2"],
        ["RMA-0003", "10", "2024-03-07", "C-0042", "Returned", "Direct", "R07", "EMEA", "DE",
         "SKU-2", "Cable", "-3", "4.99", "", "(14.97)", "", "EUR", "WH1"],
    ))
    con, _ = load(tmp_path, [source("erp", "order_lines", "erp/*.csv"),
                             source("erp", "orders", "erp/*.csv")])
    assert rows(con, """
        select order_id, order_date, customer_id, status, channel, rep_id, region, country,
               currency
        from raw.orders order by 1""") == [
        ("RMA-0003", dt.date(2024, 3, 7), "C-0042", "returned", "Direct", "R07", "EMEA", "DE",
         "EUR"),
        ("SO-10001", dt.date(2024, 3, 5), "C-0042", "completed", "Direct", "R07", "EMEA", "DE",
         "EUR"),
        ("SO-10002", dt.date(2024, 3, 6), "C-0007", "cancelled", "Web", None, None, "FR",
         "EUR"),
    ]
    got = rows(con, """
        select order_id, line_id, product_id, quantity, unit_price, discount,
               round(amount, 2), cost, currency
        from raw.order_lines order by 1, 2""")
    assert got == [
        ("RMA-0003", "10", "SKU-2", -3.0, 4.99, None, -14.97, None, "EUR"),
        ("SO-10001", "10", "SKU-1", 2.0, 1250.0, 100.0, 2400.0, 1500.0, "EUR"),
        # no Line Amount: quantity × unit price − discount
        ("SO-10001", "20", "SKU-2", 10.0, 4.99, None, 49.9, None, "EUR"),
        ("SO-10002", "10", "SKU-1", 1.0, 1250.0, None, 1250.0, None, "EUR"),
    ]
    no_quarantine(con)
    assert rows(con, "select source, rows_in, rows_loaded, rows_quarantined "
                "from meta.load_manifest order by 1") == [
        ("erp_order_lines", 4, 4, 0), ("erp_orders", 4, 4, 0),
    ]


def test_every_preset_entity_has_a_test() -> None:
    """A new preset (or a new entity of one) needs a test above."""
    import sys

    module = sys.modules[__name__]
    tested = {
        ("salesforce", "opportunities"): "test_salesforce_opportunities",
        ("salesforce", "customers"): "test_salesforce_accounts",
        ("salesforce", "leads"): "test_salesforce_leads",
        ("hubspot", "opportunities"): "test_hubspot_deals",
        ("hubspot", "customers"): "test_hubspot_companies",
        ("hubspot", "leads"): "test_hubspot_contacts",
        ("zoho", "opportunities"): "test_zoho_deals",
        ("zoho", "customers"): "test_zoho_accounts",
        ("zoho", "leads"): "test_zoho_leads",
        ("fxiaoke", "opportunities"): "test_fxiaoke_opportunities_gbk",
        ("fxiaoke", "customers"): "test_fxiaoke_customers_gbk",
        ("fxiaoke", "leads"): "test_fxiaoke_leads_gbk",
        ("erp", "orders"): "test_erp_order_lines_feed_orders_and_lines",
        ("erp", "order_lines"): "test_erp_order_lines_feed_orders_and_lines",
    }
    # the receivables and activity presets are tested in test_presets_receivables.py
    import test_presets_receivables as receivables

    elsewhere = {
        ("fxiaoke", "invoices"): "test_fxiaoke_payments_invoices_and_activities_in_gbk",
        ("fxiaoke", "payments"): "test_fxiaoke_payments_invoices_and_activities_in_gbk",
        ("fxiaoke", "activities"): "test_fxiaoke_payments_invoices_and_activities_in_gbk",
        ("zoho", "invoices"): "test_zoho_invoices_and_calls",
        ("zoho", "activities"): "test_zoho_invoices_and_calls",
        ("salesforce", "activities"): "test_salesforce_task_and_event_exports",
        ("erp", "invoices"): "test_generic_erp_receivables",
        ("erp", "payments"): "test_generic_erp_receivables",
    }
    covered = {(p, e) for p, entities in PRESETS.items() for e in entities}
    assert covered == set(tested) | set(elsewhere)
    assert all(hasattr(module, name) for name in tested.values())
    assert all(hasattr(receivables, name) for name in elsewhere.values())


# --------------------------------------------------------------------------- docs


@pytest.mark.parametrize("path", sorted(docs_gen.generated()), ids=lambda p: p.name)
def test_docs_are_generated_from_the_code(path: Path) -> None:
    """docs/entities.md and docs/presets.md are derived, not written twice."""
    expected = docs_gen.generated()[path]
    assert path.is_file(), f"{path} missing: run `python -m salesdw.docs_gen`"
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path.name} is stale: run `python -m salesdw.docs_gen`"
    )


def test_presets_doc_lists_every_header() -> None:
    text = docs_gen.presets_markdown()
    for entities in PRESETS.values():
        for columns in entities.values():
            for field, header in columns.items():
                assert f"| {header} | `{field}` |" in text
