-- One row per payment: the amount in the reporting currency (rate of the payment date)
-- and the paying customer (the payment's own, else its invoice's; the invoice's wins
-- where both are given, since the payment applies to that invoice). `is_invoice_known`:
-- the invoice_id names an exported invoice that is not void; a payment with an unknown
-- invoice is kept and applied to its customer (hygiene check payments_for_unknown_invoice).
with

payments as (

    select * from {{ ref('stg_raw__payments') }}

),

invoices as (

    select * from {{ ref('int_invoices_converted') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_resolved') }}

),

converted as (

    select
        payments.*,
        {{ rate_to_reporting('payments.currency', 'fx_rates.rate_to_reporting') }} as fx_rate
    from payments
    left join fx_rates
        on {{ fx_rate_applies('fx_rates', 'payments.currency', 'payments.payment_date') }}

),

final as (

    select
        converted.payment_id,
        converted.payment_date,
        coalesce(invoices.customer_id, converted.customer_id) as customer_id,
        converted.invoice_id,
        coalesce(invoices.invoice_id is not null and not invoices.is_void, false)
            as is_invoice_known,
        converted.order_id,
        converted.method,
        converted.currency,
        converted.amount * converted.fx_rate as amount,
        converted.amount as amount_local,
        converted.fx_rate,
        converted.amount < 0 as is_refund,
        converted._loaded_at
    from converted
    left join invoices
        on converted.invoice_id = invoices.invoice_id

)

select * from final
