{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="drop table if exists {{ retired_relation('intermediate', 'int_order_lines_converted') }}"
    )
}}
-- One row per order line with its order header and product, amounts in the reporting
-- currency (rate of the line's currency, else the order's, on the order date). `cost` is
-- the line's cost converted, else quantity × the product's unit_cost (product costs are
-- taken to be in the reporting currency), else null. `_loaded_at` is the latest load time
-- of the raw rows the order is built from: its header, its lines, their products and the
-- fx rates used (the latest over the order's lines).
--
-- Built from staging directly: the 10 M lines at L are written once (the former table
-- int_order_lines_converted held the same rows; the pre-hook drops it from a warehouse
-- built before). Incremental by order: an order is rebuilt (all its lines deleted and
-- inserted again, as ingestion replaces lines per order) when its header or any of its
-- lines was loaded after the newest `_loaded_at` in the table, or a product or fx rate
-- it uses was; of the rebuilt orders, those whose `_loaded_at` is newer than that are
-- written (the others are the rows already in the table). A full refresh gives the same
-- rows.
with

{% if is_incremental() %}
changed_products as (

    select product_id from {{ ref('stg_raw__products') }}
    where {{ loaded_after_watermark() }}

),

changed_currencies as (

    select distinct currency from {{ ref('int_fx_rates_resolved') }}
    where {{ loaded_after_watermark() }}

),

-- One select per reason, not one `or`: a lone watermark filter reaches the raw table's
-- scan (its zone maps skip the row groups loaded before the watermark), and a lookup by a
-- product or currency that changed costs nothing when none did. Rows are cleaned (the
-- staging views) only once they are selected.
headers_loaded_since as (

    select order_id from {{ ref('stg_raw__orders') }}
    where {{ loaded_after_watermark() }}

),

lines_loaded_since as (

    select order_id from {{ ref('stg_raw__order_lines') }}
    where {{ loaded_after_watermark() }}

),

changed_orders as (

    select order_id from lines_loaded_since
    union
    select order_id from {{ ref('stg_raw__order_lines') }}
    where product_id in (select product_id from changed_products)
    union
    select order_id from {{ ref('stg_raw__order_lines') }}
    where currency in (select currency from changed_currencies)
    union
    select order_id from headers_loaded_since
    union
    select order_id from {{ ref('stg_raw__orders') }}
    where currency in (select currency from changed_currencies)

),
{% endif %}

order_lines as (

    -- the lines loaded since (their filter reaches the scan), and by key those of the
    -- other changed orders (none on a night whose exports bring each changed order's
    -- lines). Ingestion replaces an order's lines whole (all of them come from its
    -- newest export), so an order with a line loaded since has no older line.
    {{ rows_to_rebuild(ref('stg_raw__order_lines'), 'order_id', 'changed_orders', 'lines_loaded_since') }}

),

orders as (

    -- the headers loaded since (their filter reaches the scan), and by key those of the
    -- other changed orders (none on a night whose exports bring each changed order's
    -- header with its lines); staging has one header per order_id (fct_orders' key test)
    {{ rows_to_rebuild(ref('stg_raw__orders'), 'order_id', 'changed_orders', 'headers_loaded_since') }}

),

products as (

    select * from {{ ref('stg_raw__products') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_resolved') }}

),

fx_days as (

    select * from {{ ref('int_fx_rates_daily') }}

),

fx_edges as (

    select distinct
        currency,
        first_rate_date,
        last_rate_date
    from fx_days

),

-- A line without line_id is keyed by its position in the order: after the lines with a
-- line_id (those sort first), by file and row. Only such lines are numbered (read apart
-- from order_lines, which then streams): a window over every line would sort all of them.
unnumbered_lines as (

    select
        order_id,
        _file,
        _row_number,
        row_number() over (
            partition by order_id
            order by
                _file,
                _row_number
        ) as position_among_unnumbered
    from {{ ref('stg_raw__order_lines') }}
    where line_id is null
    {% if is_incremental() %}
        and order_id in (select order_id from changed_orders)
    {% endif %}

),

numbered_line_counts as (

    select
        order_id,
        count(line_id) as numbered_lines
    from {{ ref('stg_raw__order_lines') }}
    where order_id in (select order_id from unnumbered_lines)
    group by order_id

),

lines_with_orders as (

    select
        order_lines.order_id,
        order_lines.line_id,
        numbered_line_counts.numbered_lines
            + unnumbered_lines.position_among_unnumbered as line_sequence,
        orders.order_date,
        orders.customer_id,
        coalesce(orders.status = 'cancelled', false) as is_cancelled,
        order_lines.product_id,
        order_lines.quantity,
        order_lines.unit_price,
        order_lines.discount,
        order_lines.amount as amount_local,
        order_lines.cost as cost_local,
        coalesce(order_lines.currency, orders.currency) as currency,
        order_lines._loaded_at as line_loaded_at,
        orders._loaded_at as order_loaded_at
    from order_lines
    left join orders
        on order_lines.order_id = orders.order_id
    left join unnumbered_lines
        on order_lines.order_id = unnumbered_lines.order_id
        and order_lines._file is not distinct from unnumbered_lines._file
        and order_lines._row_number is not distinct from unnumbered_lines._row_number
    left join numbered_line_counts
        on order_lines.order_id = numbered_line_counts.order_id

),

converted as (

    select
        lines_with_orders.*,
        products.category as product_category,
        products.unit_cost as product_unit_cost,
        {{ rate_to_reporting('lines_with_orders.currency', 'fx_rates.rate_to_reporting') }} as fx_rate,
        products._loaded_at as product_loaded_at,
        fx_rates._loaded_at as fx_loaded_at
    from lines_with_orders
    left join products
        on lines_with_orders.product_id = products.product_id
    -- the rate that applies on the order date (see int_fx_rates_daily): equality joins
    left join fx_edges
        on lines_with_orders.currency = fx_edges.currency
    left join fx_days
        on lines_with_orders.currency = fx_days.currency
        and lines_with_orders.order_date = fx_days.rate_day
    left join fx_rates
        on lines_with_orders.currency = fx_rates.currency
        and fx_rates.rate_date = {{ fx_rate_date('lines_with_orders.order_date', 'fx_edges', 'fx_days') }}

),

lines_converted as (

    select
        {{ surrogate_key([
            'order_id',
            "coalesce(line_id, " ~ dbt.concat(["'#'", "cast(line_sequence as " ~ dbt.type_string() ~ ")"]) ~ ")"
        ]) }} as order_line_key,
        order_id,
        line_id,
        line_sequence,
        order_date,
        customer_id,
        product_id,
        product_category,
        quantity,
        unit_price,
        discount,
        amount_local * fx_rate as amount,
        amount_local,
        currency,
        fx_rate,
        coalesce(cost_local * fx_rate, quantity * product_unit_cost) as cost,
        is_cancelled,
        {{ latest_loaded_at(['line_loaded_at', 'order_loaded_at', 'product_loaded_at', 'fx_loaded_at']) }} as _loaded_at
    from converted

),

final as (

    select
        order_line_key,
        order_id,
        line_id,
        order_date,
        customer_id,
        product_id,
        product_category,
        quantity,
        unit_price,
        discount,
        amount,
        amount_local,
        currency,
        fx_rate,
        cost,
        is_cancelled,
        max(_loaded_at) over (partition by order_id) as _loaded_at
    from lines_converted

)

select * from final
{% if is_incremental() %}
where {{ loaded_after_watermark() }}
{% endif %}
-- Physical order only, as fct_orders (docs/decisions/0005): line aggregates skip the
-- cancelled lines' row groups; one customer's lines sit in a few row groups. An
-- incremental run sorts only the lines it appends; a full refresh sorts the whole table.
order by
    is_cancelled,
    customer_id,
    order_date
