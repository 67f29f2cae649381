with

products as (

    select * from {{ ref('stg_raw__products') }}

),

final as (

    select
        product_id,
        name,
        category,
        list_price,
        unit_cost
    from products

)

select * from final
