{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ record_customer_periods_end() }}",
        post_hook=[
            "delete from {{ this }} where month_start is null",
            "{{ record_rebuilt_keys('customer_id', extended=(customer_periods_behind() if customer_periods_month_moved() else none)) }}",
            "{{ extend_customer_periods() }}",
        ]
    )
}}
-- One row per customer per calendar month, from the month of the customer's first
-- purchase to the last month with an order (the data's end), with the month's revenue
-- (net amount of the orders that are not cancelled, returns included), purchases and
-- orders (not cancelled); months without orders have zeros. last_purchase_date is the
-- latest purchase up to the month's end; is_active_at_month_end says whether it lies
-- within the `churn_window_days` days ending on the month's last day (docs/kpis.md).
-- `_loaded_at` is the latest load time of the customer's orders.
--
-- The months are generated per purchase spell (a month with a purchase up to the next
-- one): every month of a spell has the spell's last purchase date, so no running window
-- over all customer-months is needed.
--
-- Incremental by customer (delete+insert on customer_id): a customer's rows depend on
-- all its orders, so a night rebuilds every row of the customers whose orders were
-- loaded after the table's newest `_loaded_at`, with the customers those orders had
-- before (int_orders_netted.previous_customer_id: an order moved to another customer).
-- Every customer is rebuilt when the data's last month moved back (each one loses
-- months) and a customer whose activity flags disagree with `churn_window_days` (the
-- var changed) is rebuilt. When the data's last month moves forward, the other
-- customers are not rebuilt: the third post-hook gives them the new months
-- (macros/customer_periods.sql). A rebuilt customer without any purchase left gets one
-- row with a null month_start, which clears its old rows and is deleted by the first
-- post-hook. A full refresh gives the same rows. The second post-hook records the
-- customers the run rebuilt or extends (macros/incremental_tests.sql): the key test
-- reads only their rows.
--
-- Built after fct_orders (no data flows between them): with dbt's two threads sharing
-- one DuckDB memory limit, the two large sorts at once ran out of memory at 10 M order
-- lines (docs/decisions/0004).
--
-- int_orders_netted is read where it is used, not through one CTE: a CTE read four times
-- is materialised whole (4.4 M orders at L), while each read on its own gets its filter
-- in the table's scan (the watermark's zone maps) or its semi join.
-- depends_on: {{ ref('fct_orders') }}
with

data_end as (

    {{ customer_periods_last_month() }}

),

{% if is_incremental() %}
changed_customers as (

    -- orders loaded since: their customers now and before
    select customer_id
    from {{ ref('int_orders_netted') }}
    where {{ loaded_after_watermark() }}
    union
    select previous_customer_id
    from {{ ref('int_orders_netted') }}
    where {{ loaded_after_watermark() }}
    union
    -- activity flags of another churn window
    select customer_id
    from {{ this }}
    where is_active_at_month_end <> {{ is_active_at('last_purchase_date', 'month_end') }}
    union
    -- the data's last month moved back: every customer (a move forward is the third
    -- post-hook's)
    select customer_id
    from {{ ref('int_orders_netted') }}
    where (select max(month_start) from {{ this }}) > (select last_month from data_end)

),
{% endif %}

customer_orders as (

    select *
    from {{ ref('int_orders_netted') }}
    where customer_id is not null
    {% if is_incremental() %}
        and customer_id in (select customer_id from changed_customers)
    {% endif %}

),

monthly_orders as (

    select
        customer_id,
        {{ month_start('order_date') }} as month_start,
        sum(case when not is_cancelled then net_amount else 0 end) as revenue,
        sum(case when is_purchase then 1 else 0 end) as purchases,
        sum(case when not is_cancelled then 1 else 0 end) as orders,
        max(case when is_purchase then order_date end) as last_purchase_date_in_month
    from customer_orders
    group by
        customer_id,
        {{ month_start('order_date') }}

),

customers_loaded as (

    select
        customer_id,
        max(_loaded_at) as _loaded_at
    from customer_orders
    group by customer_id

),

purchase_months as (

    select
        customer_id,
        month_start,
        last_purchase_date_in_month,
        lag(month_start) over (
            partition by customer_id
            order by month_start
        ) as previous_purchase_month,
        lead(month_start) over (
            partition by customer_id
            order by month_start
        ) as next_purchase_month
    from monthly_orders
    where purchases > 0

),

-- a purchase month and the months after it up to the next purchase month (excluded) or
-- the data's last month (included)
purchase_spells as (

    select
        customer_id,
        month_start as spell_start,
        previous_purchase_month is null as is_first_spell,
        last_purchase_date_in_month as last_purchase_date,
        {{ dbt.datediff(
            'month_start',
            'coalesce(next_purchase_month, ' ~ dbt.dateadd('month', 1, '(select last_month from data_end)') ~ ')',
            'month'
        ) }} as spell_months
    from purchase_months

),

month_offsets as (

    select numbers.n
    from ({{ numbers(4) }}) as numbers
    where numbers.n < (select max(spell_months) from purchase_spells)

),

customer_months as (

    select
        purchase_spells.customer_id,
        cast({{ dbt.dateadd('month', 'month_offsets.n', 'purchase_spells.spell_start') }} as date) as month_start,
        purchase_spells.is_first_spell and month_offsets.n = 0 as is_first_purchase_month,
        purchase_spells.last_purchase_date
    from purchase_spells
    inner join month_offsets
        on month_offsets.n < purchase_spells.spell_months

),

with_month_end as (

    select
        customer_months.customer_id,
        customer_months.month_start,
        cast(
            {{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'customer_months.month_start')) }} as date
        ) as month_end,
        coalesce(monthly_orders.revenue, 0) as revenue,
        coalesce(monthly_orders.purchases, 0) as purchases,
        coalesce(monthly_orders.orders, 0) as orders,
        customer_months.is_first_purchase_month,
        customer_months.last_purchase_date,
        customers_loaded._loaded_at
    from customer_months
    left join monthly_orders
        on customer_months.customer_id = monthly_orders.customer_id
        and customer_months.month_start = monthly_orders.month_start
    inner join customers_loaded
        on customer_months.customer_id = customers_loaded.customer_id

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
        {{ is_active_at('last_purchase_date', 'month_end') }} as is_active_at_month_end,
        _loaded_at
    from with_month_end

    {% if is_incremental() %}
    union all

    -- rebuilt customers without any purchase left: one row that clears their old rows
    select
        changed_customers.customer_id,
        cast(null as date) as month_start,
        cast(null as date) as month_end,
        null as revenue,
        null as purchases,
        null as orders,
        null as is_first_purchase_month,
        null as has_purchase,
        null as last_purchase_date,
        null as is_active_at_month_end,
        null as _loaded_at
    from changed_customers
    left join (select distinct customer_id from purchase_spells) as buyers
        on changed_customers.customer_id = buyers.customer_id
    where changed_customers.customer_id is not null
        and buyers.customer_id is null
    {% endif %}

)

select * from final
-- Physical order only (docs/decisions/0005): queries on the months with a purchase
-- (cohorts) read only those row groups, each customer's months together. An incremental
-- run sorts only the rows it appends; a full refresh sorts the whole table.
order by
    has_purchase,
    customer_id,
    month_start
