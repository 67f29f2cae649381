-- One row per customer per calendar month, from the month of the customer's first
-- purchase to the last month with an order (the data's end), with the month's revenue
-- (net amount of the orders that are not cancelled, returns included), purchases and
-- orders (not cancelled). Months without orders have zeros.
with

orders as (

    select * from {{ ref('int_orders_netted') }}

),

first_purchases as (

    select * from {{ ref('int_customers_first_purchase') }}

),

bounds as (

    select
        min(first_purchases.first_purchase_month) as first_month,
        (
            select {{ month_start('max(order_date)') }}
            from orders
        ) as last_month
    from first_purchases

),

months as (

    select
        cast({{ dbt.dateadd('month', 'numbers.n', 'bounds.first_month') }} as date) as month_start
    from ({{ numbers(4) }}) as numbers
    cross join bounds
    where numbers.n <= {{ dbt.datediff('bounds.first_month', 'bounds.last_month', 'month') }}

),

customer_months as (

    select
        first_purchases.customer_id,
        first_purchases.first_purchase_month,
        months.month_start
    from first_purchases
    inner join months
        on months.month_start >= first_purchases.first_purchase_month

),

monthly_orders as (

    select
        customer_id,
        {{ month_start('order_date') }} as month_start,
        sum(case when not is_cancelled then net_amount else 0 end) as revenue,
        sum(case when is_purchase then 1 else 0 end) as purchases,
        sum(case when not is_cancelled then 1 else 0 end) as orders,
        max(case when is_purchase then order_date end) as last_purchase_date_in_month
    from orders
    where customer_id is not null
    group by
        customer_id,
        {{ month_start('order_date') }}

),

final as (

    select
        customer_months.customer_id,
        customer_months.month_start,
        coalesce(monthly_orders.revenue, 0) as revenue,
        coalesce(monthly_orders.purchases, 0) as purchases,
        coalesce(monthly_orders.orders, 0) as orders,
        customer_months.month_start = customer_months.first_purchase_month as is_first_purchase_month,
        monthly_orders.last_purchase_date_in_month
    from customer_months
    left join monthly_orders
        on customer_months.customer_id = monthly_orders.customer_id
        and customer_months.month_start = monthly_orders.month_start

)

select * from final
