with

source as (

    select * from {{ source('raw', 'orders') }}

),

renamed as (

    select
        trim(order_id) as order_id,
        order_date,
        nullif(trim(customer_id), '') as customer_id,
        coalesce(nullif(lower(trim(status)), ''), 'completed') as status,
        nullif(trim(channel), '') as channel,
        nullif(trim(rep_id), '') as rep_id,
        nullif(trim(region), '') as region,
        nullif(trim(country), '') as country,
        nullif(upper(trim(currency)), '') as currency,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
