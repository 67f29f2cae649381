-- One row per day from the first data date (orders, leads, opportunities, stage history,
-- targets, marketing spend) to the end of the last data year. Built from a portable
-- numbers table (macros/helpers.sql); day_of_week is ISO (1 = Monday … 7 = Sunday),
-- counted from Monday 1900-01-01.
with

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

leads as (

    select * from {{ ref('stg_raw__leads') }}

),

opportunities as (

    select * from {{ ref('stg_raw__opportunities') }}

),

stage_history as (

    select * from {{ ref('stg_raw__opportunity_stage_history') }}

),

targets as (

    select * from {{ ref('stg_raw__targets') }}

),

marketing_spend as (

    select * from {{ ref('stg_raw__marketing_spend') }}

),

data_dates as (

    select order_date as data_date from orders
    union all
    select created_at from leads
    union all
    select converted_at from leads
    union all
    select created_at from opportunities
    union all
    select close_date from opportunities
    union all
    select cast(entered_at as date) from stage_history
    union all
    select period_start from targets
    union all
    select period_start from marketing_spend

),

bounds as (

    select
        min(data_date) as first_date,
        cast(
            {{ dbt.dateadd(
                'day',
                -1,
                dbt.dateadd('year', 1, dbt.date_trunc('year', 'max(data_date)'))
            ) }} as date
        ) as last_date
    from data_dates

),

days as (

    select
        cast({{ dbt.dateadd('day', 'numbers.n', 'bounds.first_date') }} as date) as date_day
    from ({{ numbers(5) }}) as numbers
    cross join bounds
    where numbers.n <= {{ dbt.datediff('bounds.first_date', 'bounds.last_date', 'day') }}

),

final as (

    select
        date_day,
        {{ month_start('date_day') }} as month_start,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start,
        cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start,
        cast(extract(year from date_day) as {{ dbt.type_int() }}) as year,
        cast(extract(quarter from date_day) as {{ dbt.type_int() }}) as quarter,
        cast(extract(month from date_day) as {{ dbt.type_int() }}) as month,
        cast(
            mod(mod({{ dbt.datediff("cast('1900-01-01' as date)", 'date_day', 'day') }}, 7) + 7, 7) + 1
            as {{ dbt.type_int() }}
        ) as day_of_week,
        mod(mod({{ dbt.datediff("cast('1900-01-01' as date)", 'date_day', 'day') }}, 7) + 7, 7) >= 5 as is_weekend
    from days

)

select * from final
