-- One row per customer with at least one purchase (an order that is not cancelled with a
-- positive net amount): the date of the first purchase and the purchase totals.
with

orders as (

    select * from {{ ref('int_orders_netted') }}

),

purchases as (

    select
        customer_id,
        order_date,
        net_amount
    from orders
    where is_purchase
        and customer_id is not null

),

final as (

    select
        customer_id,
        min(order_date) as first_purchase_date,
        {{ month_start('min(order_date)') }} as first_purchase_month,
        max(order_date) as last_purchase_date,
        count(*) as purchases,
        sum(net_amount) as purchase_amount
    from purchases
    group by customer_id

)

select * from final
