with

source as (

    select * from {{ source('raw', 'invoices') }}

),

renamed as (

    select
        trim(invoice_id) as invoice_id,
        invoice_date,
        amount,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(order_id), '') as order_id,
        nullif(trim(opportunity_id), '') as opportunity_id,
        due_date,
        nullif(upper(trim(currency)), '') as currency,
        nullif(trim(rep_id), '') as rep_id,
        coalesce(nullif(lower(trim(status)), ''), 'open') as status,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
