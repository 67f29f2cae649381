with

source as (

    select * from {{ source('raw', 'payments') }}

),

renamed as (

    select
        trim(payment_id) as payment_id,
        payment_date,
        amount,
        nullif(trim(invoice_id), '') as invoice_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(order_id), '') as order_id,
        nullif(upper(trim(currency)), '') as currency,
        nullif(trim(method), '') as method,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
