with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        trim(product_id) as product_id,
        nullif(trim(name), '') as name,
        nullif(trim(category), '') as category,
        list_price,
        unit_cost,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
