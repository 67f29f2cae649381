"""One row per invoice that is not void: paid_amount, open_amount, paid_in_full_date and
days_late as of the latest data (the latest invoice or payment date).

Payment application (docs/kpis.md) is defined once, as of a date, in
``kpis.receivables.apply_payments`` (docs/architecture.md, "Payment application"); this
model calls it as of the latest data, the KPI step as of its own dates.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from kpis.receivables import latest_balances

    invoices = dbt.ref("int_invoices_converted").pl()
    payments = dbt.ref("int_payments_converted").pl()
    return latest_balances(invoices, payments).to_arrow()
