{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
-- One row per order line, amounts in the reporting currency. Incremental: an order is
-- rebuilt (all its lines deleted and inserted again, as ingestion replaces lines per
-- order) when any raw row it is built from (its header, lines, products, fx rates) was
-- loaded after the newest `_loaded_at` already in the table. A full refresh gives the
-- same rows.
with

order_lines as (

    select * from {{ ref('int_order_lines_converted') }}

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
        order_loaded_at as _loaded_at
    from order_lines

)

select * from final
{% if is_incremental() %}
where {{ loaded_after_watermark() }}
{% endif %}
-- Physical order only, as fct_orders (docs/performance.md): line aggregates skip the
-- cancelled lines' row groups; one customer's lines sit in a few row groups. An
-- incremental run sorts only the lines it appends; a full refresh sorts the whole table.
order by
    is_cancelled,
    customer_id,
    order_date
