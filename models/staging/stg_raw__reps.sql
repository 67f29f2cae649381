with

source as (

    select * from {{ source('raw', 'reps') }}

),

renamed as (

    select
        trim(rep_id) as rep_id,
        nullif(trim(name), '') as name,
        nullif(trim(manager), '') as manager,
        nullif(trim(team), '') as team,
        nullif(trim(region), '') as region,
        hire_date,
        active,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
