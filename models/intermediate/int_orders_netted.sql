{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        meta={'rebuild_without_columns': ['cost_margin', 'amount_without_cost']}
    )
}}
-- One row per order header with its net amount (sum of the converted line amounts; 0 for
-- an order without lines) and the revenue flags of docs/kpis.md: a purchase is an order that
-- is not cancelled with a positive net amount, a return one that is not cancelled with a
-- negative net amount (whatever its status says). `_loaded_at` is the latest load time
-- of the header and of its lines (with their products and fx rates).
--
-- A table, incremental by order like fct_order_lines: an order is netted again
-- when its header or one of its converted lines was loaded after the table's newest
-- `_loaded_at`. A full refresh gives the same rows, except `previous_customer_id`: the
-- customer an order had before tonight's rebuild (null after a full refresh and for a
-- new order), so that the marts incremental by customer (fct_customer_periods,
-- dim_customer) also rebuild a customer that lost an order to another one.
with

{% if is_incremental() %}
-- The orders with a converted line loaded after the watermark: a line's `_loaded_at` in
-- fct_order_lines is the latest over its order's lines (all of them are rebuilt
-- together), so these are the orders whose lines are newer than the watermark.
orders_with_new_lines as (

    select distinct order_id from {{ ref('fct_order_lines') }}
    where {{ loaded_after_watermark() }}

),

headers_loaded_since as (

    select order_id from {{ ref('stg_raw__orders') }}
    where {{ loaded_after_watermark() }}

),

changed_orders as (

    select order_id from orders_with_new_lines
    union
    select order_id from headers_loaded_since

),
{% endif %}

-- The headers and lines of the changed orders. Each is read by its watermark filter
-- alone, which reaches the table's scan (zone maps skip the row groups loaded before
-- it), plus a lookup by key of the orders found only through the other table (none on
-- a night whose order exports bring each changed order's header with its lines).
orders as (

    {{ rows_to_rebuild(ref('stg_raw__orders'), 'order_id', 'orders_with_new_lines', 'headers_loaded_since') }}

),

order_lines as (

    {{ rows_to_rebuild(ref('fct_order_lines'), 'order_id', 'headers_loaded_since', 'orders_with_new_lines') }}

),

{% if is_incremental() %}
-- the customers the rebuilt orders had so far
previous_customers as (

    select
        order_id,
        customer_id as previous_customer_id
    from {{ this }}
    where order_id in (select order_id from changed_orders)

),
{% endif %}

lines_per_order as (

    select
        order_id,
        sum(amount) as net_amount,
        sum(cost) as cost_amount,
        count(*) as line_count,
        -- the KPIs' margin parts (kpis.inputs): amount − cost of the lines with both,
        -- and the amount of the lines without a cost
        sum(amount - cost) as cost_margin,
        sum(case when cost is null then amount end) as amount_without_cost,
        min(currency) as line_currency,
        max(_loaded_at) as lines_loaded_at
    from order_lines
    group by order_id

),

netted as (

    select
        orders.order_id,
        orders.order_date,
        orders.customer_id,
        orders.status,
        orders.channel,
        orders.rep_id,
        orders.region,
        orders.country,
        coalesce(orders.currency, lines_per_order.line_currency) as currency,
        case
            when lines_per_order.order_id is null then 0
            else lines_per_order.net_amount
        end as net_amount,
        lines_per_order.cost_amount,
        coalesce(lines_per_order.line_count, 0) as line_count,
        orders.status = 'cancelled' as is_cancelled,
        {% if is_incremental() -%}
        previous_customers.previous_customer_id,
        {%- else -%}
        cast(null as {{ dbt.type_string() }}) as previous_customer_id,
        {%- endif %}
        {{ latest_loaded_at(['orders._loaded_at', 'lines_per_order.lines_loaded_at']) }} as _loaded_at,
        lines_per_order.cost_margin,
        lines_per_order.amount_without_cost
    from orders
    left join lines_per_order
        on orders.order_id = lines_per_order.order_id
    {% if is_incremental() -%}
    left join previous_customers
        on orders.order_id = previous_customers.order_id
    {%- endif %}

),

final as (

    select
        order_id,
        order_date,
        customer_id,
        status,
        channel,
        rep_id,
        region,
        country,
        currency,
        net_amount,
        cost_amount,
        line_count,
        is_cancelled,
        coalesce(not is_cancelled and net_amount > 0, false) as is_purchase,
        coalesce(not is_cancelled and net_amount < 0, false) as is_return,
        previous_customer_id,
        _loaded_at,
        -- last, as in a table built before they existed (on_schema_change appends them)
        cost_margin,
        amount_without_cost
    from netted

)

select * from final
