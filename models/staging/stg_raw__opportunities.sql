with

source as (

    select * from {{ source('raw', 'opportunities') }}

),

renamed as (

    select
        trim(opportunity_id) as opportunity_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(lead_id), '') as lead_id,
        nullif(trim(owner_rep_id), '') as owner_rep_id,
        nullif(trim(name), '') as name,
        trim(stage) as stage_raw,
        amount,
        nullif(upper(trim(currency)), '') as currency,
        probability,
        created_at,
        close_date,
        nullif(trim(channel), '') as channel,
        nullif(trim(product_id), '') as product_id,
        nullif(lower(trim(type)), '') as type,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
