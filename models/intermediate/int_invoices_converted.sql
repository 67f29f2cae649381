-- One row per invoice: the amount in the reporting currency (rate of the invoice date),
-- the due date (given, else the invoice date + var `payment_terms_days`: docs/kpis.md) and
-- whether it is void (a void invoice counts nowhere).
with

invoices as (

    select * from {{ ref('stg_raw__invoices') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_resolved') }}

),

converted as (

    select
        invoices.*,
        {{ rate_to_reporting('invoices.currency', 'fx_rates.rate_to_reporting') }} as fx_rate
    from invoices
    left join fx_rates
        on {{ fx_rate_applies('fx_rates', 'invoices.currency', 'invoices.invoice_date') }}

),

final as (

    select
        invoice_id,
        invoice_date,
        coalesce(
            due_date,
            cast({{ dbt.dateadd('day', var('payment_terms_days'), 'invoice_date') }} as date)
        ) as due_date,
        due_date is null as is_default_due_date,
        customer_id,
        order_id,
        opportunity_id,
        rep_id,
        status,
        status = 'void' as is_void,
        currency,
        amount * fx_rate as amount,
        amount as amount_local,
        fx_rate,
        _loaded_at
    from converted

)

select * from final
