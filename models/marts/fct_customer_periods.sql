-- One row per customer per month from its first purchase month to the last data month
-- (int_customer_periods), with activity flags: last_purchase_date is the latest purchase
-- up to the month's end; is_active_at_month_end says whether it lies within the
-- `churn_window_days` days ending on the month's last day (SPEC §6).
with

customer_periods as (

    select * from {{ ref('int_customer_periods') }}

),

with_last_purchase as (

    select
        customer_periods.*,
        max(last_purchase_date_in_month) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as last_purchase_date,
        cast(
            {{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_start')) }} as date
        ) as month_end
    from customer_periods

),

final as (

    select
        customer_id,
        month_start,
        month_end,
        revenue,
        purchases,
        orders,
        is_first_purchase_month,
        purchases > 0 as has_purchase,
        last_purchase_date,
        coalesce(
            {{ dbt.datediff('last_purchase_date', 'month_end', 'day') }}
                < {{ var('churn_window_days') }},
            false
        ) as is_active_at_month_end
    from with_last_purchase

)

select * from final
-- Physical order only (docs/performance.md): queries on the months with a purchase
-- (cohorts) read only those row groups, each customer's months together.
order by
    has_purchase,
    customer_id,
    month_start
