with

source as (

    select * from {{ source('raw', 'order_lines') }}

),

renamed as (

    select
        trim(order_id) as order_id,
        nullif(trim(line_id), '') as line_id,
        nullif(trim(product_id), '') as product_id,
        quantity,
        unit_price,
        discount,
        coalesce(amount, quantity * unit_price - coalesce(discount, 0)) as amount,
        cost,
        nullif(upper(trim(currency)), '') as currency,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
