{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        meta={'rebuild_without_columns': ['cost_margin', 'amount_without_cost']}
    )
}}
-- One row per order with its net amount in the reporting currency and the revenue flags
-- (int_orders_netted), enriched with the customer's and the rep's attributes. Channel:
-- the order's own, else the customer's acquisition channel, else `unknown`; region: the
-- order's, else the rep's; country: the customer's, else the order's. Incremental on the
-- latest `_loaded_at` of the raw rows an order is built from (header, lines, products,
-- fx rates, customer, rep).
with

orders as (

    {% if is_incremental() %}
    -- only the orders the final watermark filter can keep: the order, its customer or
    -- its rep loaded after the newest `_loaded_at` in the table. One select per reason
    -- (not one `or`): the watermark filter alone reaches the table's scan, whose zone
    -- maps skip the row groups of orders netted before it, and a lookup by customer or
    -- rep costs nothing when none changed.
    select * from {{ ref('int_orders_netted') }}
    where {{ loaded_after_watermark() }}
    union
    select * from {{ ref('int_orders_netted') }}
    where customer_id in (
        select customer_id from {{ ref('stg_raw__customers') }}
        where {{ loaded_after_watermark() }}
    )
    union
    select * from {{ ref('int_orders_netted') }}
    where rep_id in (
        select rep_id from {{ ref('stg_raw__reps') }}
        where {{ loaded_after_watermark() }}
    )
    {% else %}
    select * from {{ ref('int_orders_netted') }}
    {% endif %}

),

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

reps as (

    select * from {{ ref('stg_raw__reps') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

orders_enriched as (

    select
        orders.*,
        case
            when orders.channel is not null
                then {{ canonical_channel('orders.channel', 'order_channels.channel') }}
            else {{ canonical_channel('customers.channel', 'customer_channels.channel') }}
        end as canonical_channel,
        reps.team,
        coalesce(orders.region, reps.region) as resolved_region,
        coalesce(customers.country, orders.country) as resolved_country,
        customers.segment,
        {{ latest_loaded_at(['orders._loaded_at', 'customers._loaded_at', 'reps._loaded_at']) }} as latest_loaded_at
    from orders
    left join customers
        on orders.customer_id = customers.customer_id
    left join reps
        on orders.rep_id = reps.rep_id
    left join channel_mapping as order_channels
        on {{ label_key('orders.channel') }} = {{ label_key('order_channels.source_label') }}
    left join channel_mapping as customer_channels
        on {{ label_key('customers.channel') }} = {{ label_key('customer_channels.source_label') }}

),

final as (

    select
        order_id,
        order_date,
        customer_id,
        status,
        canonical_channel as channel,
        channel as channel_raw,
        rep_id,
        team,
        resolved_region as region,
        resolved_country as country,
        segment,
        currency,
        net_amount,
        cost_amount,
        line_count,
        is_cancelled,
        is_purchase,
        is_return,
        latest_loaded_at as _loaded_at,
        -- last, as in a table built before they existed (on_schema_change appends them)
        cost_margin,
        amount_without_cost
    from orders_enriched

)

select * from final
{% if is_incremental() %}
where {{ loaded_after_watermark() }}
{% endif %}
-- Physical order only (docs/decisions/0005): revenue queries skip the cancelled orders'
-- row groups, one customer's orders sit in a few row groups (zone maps), per-customer
-- aggregates read each customer's orders together. An incremental run sorts only the
-- orders it appends; a full refresh sorts the whole table.
order by
    is_cancelled,
    customer_id,
    order_date
