with

source as (

    select * from {{ source('raw', 'fx_rates') }}

),

renamed as (

    select
        "date" as rate_date,
        upper(trim(currency)) as currency,
        rate_to_reporting,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
