-- One row per (currency, rate date) with the interval [valid_from, valid_to) in which
-- the rate applies. The earliest rate of a currency also applies before its date
-- (valid_from null); the latest applies from its date on (valid_to null). Joined with
-- the fx_rate_applies() macro, an amount dated d takes the latest rate dated <= d, else
-- the earliest rate. The reporting currency and null currencies need no rate
-- (rate_to_reporting() macro).
with

fx_rates as (

    select * from {{ ref('stg_raw__fx_rates') }}

),

sequenced as (

    select
        currency,
        rate_date,
        rate_to_reporting,
        _loaded_at,
        row_number() over (
            partition by currency
            order by rate_date
        ) as rate_sequence,
        lead(rate_date) over (
            partition by currency
            order by rate_date
        ) as next_rate_date
    from fx_rates

),

final as (

    select
        currency,
        rate_date,
        rate_to_reporting,
        case
            when rate_sequence = 1 then null
            else rate_date
        end as valid_from,
        next_rate_date as valid_to,
        _loaded_at
    from sequenced

)

select * from final
