-- Two rates for one currency on one date would make conversion ambiguous.
with

fx_rates as (

    select * from {{ ref('stg_raw__fx_rates') }}

),

final as (

    select
        currency,
        rate_date,
        count(*) as rate_count
    from fx_rates
    group by
        currency,
        rate_date
    having count(*) > 1

)

select * from final
