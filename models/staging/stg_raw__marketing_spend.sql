with

source as (

    select * from {{ source('raw', 'marketing_spend') }}

),

renamed as (

    select
        period_start,
        trim(channel) as channel,
        amount,
        nullif(trim(campaign), '') as campaign,
        nullif(upper(trim(currency)), '') as currency,
        _source,
        _file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
