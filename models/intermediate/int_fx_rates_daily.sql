-- The fx rate that applies on each day from a currency's first rate date to its last one
-- (int_fx_rates_resolved's rule: the latest rate dated on or before the day), so that
-- large tables find their rate with an equality join on (currency, day) instead of a
-- range join. Days before the first rate or after the last take the first or the last
-- rate; `first_rate_date` / `last_rate_date` carry those bounds on every row.
with

rates as (

    select * from {{ ref('int_fx_rates_resolved') }}

),

edges as (

    select
        currency,
        min(rate_date) as first_rate_date,
        max(rate_date) as last_rate_date
    from rates
    group by currency

),

days as (

    select
        edges.currency,
        edges.first_rate_date,
        edges.last_rate_date,
        cast({{ dbt.dateadd('day', 'numbers.n', 'edges.first_rate_date') }} as date) as rate_day
    from edges
    cross join ({{ numbers(5) }}) as numbers
    where numbers.n <= {{ dbt.datediff('edges.first_rate_date', 'edges.last_rate_date', 'day') }}

),

final as (

    select
        days.currency,
        days.rate_day,
        rates.rate_date,
        days.first_rate_date,
        days.last_rate_date
    from days
    inner join rates
        on days.currency = rates.currency
        and rates.rate_date <= days.rate_day
        and (rates.valid_to is null or days.rate_day < rates.valid_to)

)

select * from final
