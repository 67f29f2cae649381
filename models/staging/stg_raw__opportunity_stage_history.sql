with

source as (

    select * from {{ source('raw', 'opportunity_stage_history') }}

),

renamed as (

    select
        trim(opportunity_id) as opportunity_id,
        trim(stage) as stage_raw,
        entered_at,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
