"""Header names of common CRM / ERP exports, per preset and entity.

A source with ``preset: <name>`` and ``entity: <entity>`` needs no ``columns``: the map
below says which export header feeds which canonical field. Explicit ``columns`` in the
config override single fields. ``docs/presets.md`` lists the same headers for users.
"""

from __future__ import annotations

PRESETS: dict[str, dict[str, dict[str, str]]] = {
    "salesforce": {
        "opportunities": {
            "opportunity_id": "Opportunity ID",
            "customer_id": "Account ID",
            "owner_rep_id": "Opportunity Owner",
            "name": "Opportunity Name",
            "stage": "Stage",
            "amount": "Amount",
            "currency": "Opportunity Currency",
            "probability": "Probability (%)",
            "created_at": "Created Date",
            "close_date": "Close Date",
            "channel": "Lead Source",
            "type": "Type",
        },
        "customers": {
            "customer_id": "Account ID",
            "name": "Account Name",
            "segment": "Customer Segment",
            "industry": "Industry",
            "country": "Billing Country",
            "region": "Billing State/Province",
            "city": "Billing City",
            "channel": "Account Source",
            "created_at": "Created Date",
            "owner_rep_id": "Account Owner",
        },
        "leads": {
            "lead_id": "Lead ID",
            "created_at": "Created Date",
            "channel": "Lead Source",
            "status": "Lead Status",
            "owner_rep_id": "Lead Owner",
            "converted_at": "Converted Date",
            "converted_customer_id": "Converted Account ID",
            "converted_opportunity_id": "Converted Opportunity ID",
        },
        "activities": {
            "activity_id": "Id",
            "occurred_at": "ActivityDate",
            "type": "Type",
            "rep_id": "OwnerId",
            "customer_id": "AccountId",
            "lead_id": "WhoId",
            "opportunity_id": "WhatId",
            "subject": "Subject",
            "duration_minutes": "DurationInMinutes",
        },
    },
    "hubspot": {
        "opportunities": {
            "opportunity_id": "Record ID",
            "name": "Deal Name",
            "stage": "Deal Stage",
            "amount": "Amount",
            "currency": "Currency",
            "probability": "Deal probability",
            "created_at": "Create Date",
            "close_date": "Close Date",
            "owner_rep_id": "Deal owner",
            "customer_id": "Associated Company ID",
            "channel": "Original Traffic Source",
            "type": "Deal Type",
        },
        "customers": {
            "customer_id": "Record ID",
            "name": "Company name",
            "industry": "Industry",
            "segment": "Company Tier",
            "country": "Country/Region",
            "region": "State/Region",
            "city": "City",
            "channel": "Original Traffic Source",
            "created_at": "Create Date",
            "owner_rep_id": "Company owner",
        },
        "leads": {
            "lead_id": "Record ID",
            "created_at": "Create Date",
            "channel": "Original Traffic Source",
            "status": "Lead Status",
            "owner_rep_id": "Contact owner",
            "converted_at": "Became a Customer Date",
            "converted_customer_id": "Associated Company ID",
        },
    },
    "zoho": {
        "opportunities": {
            "opportunity_id": "Record Id",
            "owner_rep_id": "Deal Owner",
            "name": "Deal Name",
            "amount": "Amount",
            "stage": "Stage",
            "probability": "Probability (%)",
            "close_date": "Closing Date",
            "customer_id": "Account Name",
            "type": "Type",
            "channel": "Lead Source",
            "created_at": "Created Time",
            "currency": "Currency",
        },
        "customers": {
            "customer_id": "Account Name",
            "name": "Account Name",
            "segment": "Account Type",
            "industry": "Industry",
            "country": "Billing Country",
            "region": "Billing State",
            "city": "Billing City",
            "channel": "Account Source",
            "created_at": "Created Time",
            "owner_rep_id": "Account Owner",
        },
        "leads": {
            "lead_id": "Record Id",
            "created_at": "Created Time",
            "channel": "Lead Source",
            "status": "Lead Status",
            "owner_rep_id": "Lead Owner",
            "converted_at": "Converted Date Time",
            "converted_customer_id": "Converted Account",
            "converted_opportunity_id": "Converted Deal",
        },
        "invoices": {
            "invoice_id": "Invoice Number",
            "invoice_date": "Invoice Date",
            "due_date": "Due Date",
            "amount": "Grand Total",
            "customer_id": "Account Name",
            "opportunity_id": "Deal Name",
            "order_id": "Sales Order",
            "rep_id": "Invoice Owner",
            "status": "Status",
            "currency": "Currency",
        },
        "activities": {
            "activity_id": "Record Id",
            "occurred_at": "Call Start Time",
            "type": "Call Type",
            "rep_id": "Call Owner",
            "customer_id": "Account Name",
            "opportunity_id": "Deal Name",
            "subject": "Subject",
            "outcome": "Call Result",
            "duration_minutes": "Call Duration (in minutes)",
        },
    },
    "fxiaoke": {
        "opportunities": {
            "opportunity_id": "商机编号",
            "name": "商机名称",
            "customer_id": "客户名称",
            "owner_rep_id": "负责人",
            "stage": "销售阶段",
            "amount": "商机金额",
            "currency": "币种",
            "probability": "赢率",
            "created_at": "创建时间",
            "close_date": "预计成交日期",
            "channel": "商机来源",
        },
        "customers": {
            "customer_id": "客户名称",
            "name": "客户名称",
            "segment": "客户级别",
            "industry": "行业",
            "country": "国家",
            "region": "省份",
            "city": "城市",
            "channel": "来源",
            "created_at": "创建时间",
            "owner_rep_id": "负责人",
        },
        "leads": {
            "lead_id": "线索编号",
            "created_at": "创建时间",
            "channel": "线索来源",
            "status": "处理状态",
            "owner_rep_id": "负责人",
            "converted_at": "转换时间",
            "converted_customer_id": "转换客户",
        },
        "invoices": {
            "invoice_id": "开票编号",
            "invoice_date": "开票日期",
            "amount": "开票金额",
            "customer_id": "客户名称",
            "order_id": "销售订单编号",
            "due_date": "应收款日期",
            "rep_id": "负责人",
            "status": "状态",
        },
        "payments": {
            "payment_id": "回款编号",
            "payment_date": "回款日期",
            "amount": "回款金额",
            "customer_id": "客户名称",
            "order_id": "销售订单编号",
            "invoice_id": "开票编号",
            "method": "回款方式",
        },
        "activities": {
            "activity_id": "跟进记录编号",
            "occurred_at": "跟进时间",
            "type": "跟进方式",
            "rep_id": "跟进人",
            "customer_id": "客户名称",
            "opportunity_id": "商机名称",
            "lead_id": "线索编号",
            "subject": "跟进内容",
        },
    },
    "erp": {
        "orders": {
            "order_id": "Order No",
            "order_date": "Order Date",
            "customer_id": "Customer No",
            "status": "Status",
            "channel": "Channel",
            "rep_id": "Sales Rep",
            "region": "Region",
            "country": "Country",
            "currency": "Currency",
        },
        "order_lines": {
            "order_id": "Order No",
            "line_id": "Line No",
            "product_id": "Item No",
            "quantity": "Quantity",
            "unit_price": "Unit Price",
            "discount": "Discount",
            "amount": "Line Amount",
            "cost": "Line Cost",
            "currency": "Currency",
        },
        "invoices": {
            "invoice_id": "Invoice No",
            "invoice_date": "Invoice Date",
            "due_date": "Due Date",
            "amount": "Invoice Amount",
            "customer_id": "Customer No",
            "order_id": "Order No",
            "rep_id": "Sales Rep",
            "status": "Status",
            "currency": "Currency",
        },
        "payments": {
            "payment_id": "Receipt No",
            "payment_date": "Receipt Date",
            "amount": "Receipt Amount",
            "invoice_id": "Invoice No",
            "customer_id": "Customer No",
            "order_id": "Order No",
            "currency": "Currency",
            "method": "Payment Method",
        },
    },
}

#: Per preset and entity, where the headers come from and which could not be confirmed
#: against a real export (docs/presets.md shows these notes under the tables).
PRESET_NOTES: dict[tuple[str, str], str] = {
    ("salesforce", "activities"): (
        "A Data Loader (or Workbench) export of the Task or Event object, whose headers "
        "are the API field names of Salesforce's object reference (Id, ActivityDate, "
        "Type, OwnerId, AccountId, WhoId, WhatId, Subject; DurationInMinutes on Events "
        "only). WhoId is a lead or a contact and WhatId an opportunity or another record: "
        "ids that are not leads or opportunities do not resolve (a warning of the GX "
        "suite). A report export labels the same fields differently (Assigned, Date, "
        "Related To): name those under `columns`."
    ),
    ("zoho", "invoices"): (
        "The fields of Zoho CRM's Invoices module (Invoice Number, Invoice Date, Due Date, "
        "Account Name, Deal Name, Sales Order, Invoice Owner, Grand Total, Status: "
        "Created, Approved, Delivered, Cancelled), as Zoho's API documentation and "
        "connector field lists name them; the export's exact header spelling was not "
        "checked against a real file."
    ),
    ("zoho", "activities"): (
        "The Calls export (Call Type: Outbound / Inbound / Missed, all read as `call`). "
        "Meetings and Tasks exports have no type column: give it as a constant, "
        "`type: {value: meeting}` (Meetings: `occurred_at: From`, `rep_id: Host`) or "
        "`type: {value: task}` (Tasks: `occurred_at: Due Date`, `rep_id: Task Owner`). "
        "Header spellings not checked against a real export."
    ),
    ("fxiaoke", "invoices"): (
        "Not confirmed: no public sample of Fxiaoke's 开票 export was found (searched "
        "public code and documentation for the headers); the names follow the CRM's "
        "field labels as its users quote them. Check the headers of your export and "
        "override under `columns` where they differ."
    ),
    ("fxiaoke", "payments"): (
        "Not confirmed: no public sample of Fxiaoke's 回款 export was found; 回款编号, "
        "回款日期, 回款金额, 回款方式 are the labels Chinese CRMs commonly use (public code "
        "shows 回款日期 / 回款金额 / 回款方式 columns, not from Fxiaoke itself)."
    ),
    ("fxiaoke", "activities"): (
        "Not confirmed: the 跟进记录 (销售记录) export's headers could not be found in "
        "public sources; 跟进方式 values such as 电话, 拜访, 微信, 邮件 are read as "
        "activity types (docs/entities.md)."
    ),
    ("erp", "invoices"): "A generic receivables export of an ERP (open items list).",
    ("erp", "payments"): "A generic receipts (cash application) export of an ERP.",
}


def preset_columns(preset: str, entity: str) -> dict[str, str]:
    """The header map of a preset for an entity (KeyError when not covered)."""
    return dict(PRESETS[preset][entity])
