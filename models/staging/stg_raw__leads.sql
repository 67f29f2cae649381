with

source as (

    select * from {{ source('raw', 'leads') }}

),

renamed as (

    select
        trim(lead_id) as lead_id,
        created_at,
        nullif(trim(channel), '') as channel,
        nullif(trim(status), '') as status,
        nullif(trim(owner_rep_id), '') as owner_rep_id,
        converted_at,
        nullif(trim(converted_customer_id), '') as converted_customer_id,
        nullif(trim(converted_opportunity_id), '') as converted_opportunity_id,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
