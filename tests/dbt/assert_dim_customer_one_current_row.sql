-- Every customer has exactly one current version, and versions do not overlap: each
-- version ends where the next one starts.
with

dim_customer as (

    select * from {{ ref('dim_customer') }}

),

current_rows as (

    select
        customer_id,
        sum(case when is_current then 1 else 0 end) as current_row_count
    from dim_customer
    group by customer_id

),

versions as (

    select
        customer_id,
        version_number,
        valid_to,
        lead(valid_from) over (
            partition by customer_id
            order by version_number
        ) as next_valid_from
    from dim_customer

),

final as (

    select
        customer_id,
        'current rows: ' || cast(current_row_count as {{ dbt.type_string() }}) as problem
    from current_rows
    where current_row_count <> 1

    union all

    select
        customer_id,
        'version ' || cast(version_number as {{ dbt.type_string() }}) || ' does not end where the next starts' as problem
    from versions
    where next_valid_from is not null
        and (valid_to is null or valid_to <> next_valid_from)

)

select * from final
