-- One row per payment (回款): the amount in the reporting currency (negative: a refund),
-- the paying customer (the invoice's, else the payment's), the invoice it was applied to
-- (its own invoice_id where that names an exported invoice that is not void; else null:
-- the money goes to the customer's open invoices, oldest due date first, and what
-- exceeds them is the customer's unapplied credit; fct_invoices.paid_amount and
-- kpi.receivables_ageing show the result), and the customer's rep, team and region.
with

payments as (

    select * from {{ ref('int_payments_converted') }}

),

customers as (

    select * from {{ ref('dim_customer') }}
    where is_current

),

reps as (

    select * from {{ ref('dim_rep') }}

),

final as (

    select
        payments.payment_id,
        payments.payment_date,
        payments.customer_id,
        payments.invoice_id,
        payments.is_invoice_known,
        case when payments.is_invoice_known then payments.invoice_id end as applied_invoice_id,
        case
            when payments.is_invoice_known then 'invoice'
            when payments.customer_id is not null then 'customer'
            else 'unassigned'
        end as applied_to,
        payments.order_id,
        payments.method,
        payments.currency,
        payments.amount,
        payments.amount_local,
        payments.fx_rate,
        payments.is_refund,
        customers.owner_rep_id as rep_id,
        reps.team,
        reps.region,
        payments._loaded_at
    from payments
    left join customers
        on payments.customer_id = customers.customer_id
    left join reps
        on customers.owner_rep_id = reps.rep_id

)

select * from final
