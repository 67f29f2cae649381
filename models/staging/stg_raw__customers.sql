with

source as (

    select * from {{ source('raw', 'customers') }}

),

renamed as (

    select
        trim(customer_id) as customer_id,
        nullif(trim(name), '') as name,
        nullif(trim(segment), '') as segment,
        nullif(trim(industry), '') as industry,
        nullif(trim(country), '') as country,
        nullif(trim(region), '') as region,
        nullif(trim(city), '') as city,
        nullif(trim(channel), '') as channel,
        created_at,
        nullif(trim(owner_rep_id), '') as owner_rep_id,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
