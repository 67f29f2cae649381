with

source as (

    select * from {{ source('raw', 'activities') }}

),

renamed as (

    select
        trim(activity_id) as activity_id,
        occurred_at,
        lower(trim(type)) as type,
        nullif(trim(rep_id), '') as rep_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(lead_id), '') as lead_id,
        nullif(trim(opportunity_id), '') as opportunity_id,
        nullif(trim(subject), '') as subject,
        nullif(trim(outcome), '') as outcome,
        duration_minutes,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
