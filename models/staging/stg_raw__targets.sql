with

source as (

    select * from {{ source('raw', 'targets') }}

),

renamed as (

    select
        period_start,
        lower(trim(grain)) as grain,
        lower(trim(metric)) as metric,
        lower(trim(level)) as level,
        nullif(trim(level_value), '') as level_value,
        target_value,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
