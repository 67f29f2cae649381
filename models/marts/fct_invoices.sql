-- One row per invoice: amounts in the reporting currency, the due date (given, else the
-- invoice date + var `payment_terms_days`), the rep (the invoice's, else the customer's
-- owner) with the rep's team and region, the customer's segment, channel and country,
-- and as of the latest data the paid and open amounts, the paid-in-full date and the
-- days late (int_invoices_paid: kpis.receivables applies the payments). Void invoices
-- are kept, flagged, with null paid columns: they count nowhere.
with

invoices as (

    select * from {{ ref('int_invoices_converted') }}

),

paid as (

    select * from {{ ref('int_invoices_paid') }}

),

customers as (

    select * from {{ ref('dim_customer') }}
    where is_current

),

reps as (

    select * from {{ ref('dim_rep') }}

),

with_rep as (

    select
        invoices.*,
        coalesce(invoices.rep_id, customers.owner_rep_id) as credited_rep_id,
        customers.segment,
        customers.channel,
        customers.country
    from invoices
    left join customers
        on invoices.customer_id = customers.customer_id

),

final as (

    select
        with_rep.invoice_id,
        with_rep.invoice_date,
        with_rep.due_date,
        with_rep.is_default_due_date,
        with_rep.customer_id,
        with_rep.order_id,
        with_rep.opportunity_id,
        with_rep.credited_rep_id as rep_id,
        reps.team,
        reps.region,
        with_rep.segment,
        with_rep.channel,
        with_rep.country,
        with_rep.status,
        with_rep.is_void,
        with_rep.currency,
        with_rep.amount,
        with_rep.amount_local,
        with_rep.fx_rate,
        paid.paid_amount,
        paid.open_amount,
        paid.paid_in_full_date,
        paid.days_late,
        with_rep._loaded_at
    from with_rep
    left join reps
        on with_rep.credited_rep_id = reps.rep_id
    left join paid
        on with_rep.invoice_id = paid.invoice_id

)

select * from final
