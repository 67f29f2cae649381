-- Order lines with their order header, product and amounts in the reporting currency
-- (rate of the line's currency, else the order's, on the order date). `cost` is the
-- line's cost converted, else quantity × the product's unit_cost (product costs are taken
-- to be in the reporting currency), else null. `_loaded_at` is the latest load time of
-- the line, its order, its product and the fx rate used.
with

order_lines as (

    select * from {{ ref('stg_raw__order_lines') }}

),

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

products as (

    select * from {{ ref('stg_raw__products') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_resolved') }}

),

lines_with_orders as (

    select
        order_lines.order_id,
        order_lines.line_id,
        row_number() over (
            partition by order_lines.order_id
            order by
                order_lines.line_id,
                order_lines._file,
                order_lines._row_number
        ) as line_sequence,
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
    left join fx_rates
        on {{ fx_rate_applies('fx_rates', 'lines_with_orders.currency', 'lines_with_orders.order_date') }}

),

final as (

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

)

select * from final
