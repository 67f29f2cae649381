-- Customers as a type-2 slowly changing dimension. Versions come from the snapshot
-- snap_customers (a new version when segment or owner_rep_id changes); the first version
-- of a customer is valid from 1900-01-01 so that facts of any date find it; valid_to is
-- null on the current version. The other attributes are type 1 (current export).
-- Customers referenced by orders, opportunities or leads but absent from the customer
-- exports get one current row with null attributes.
with

customer_versions_snapshot as (

    select * from {{ ref('snap_customers') }}

),

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

orders as (

    select * from {{ ref('int_orders_netted') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_mapped') }}

),

leads as (

    select * from {{ ref('stg_raw__leads') }}

),

first_purchases as (

    select * from {{ ref('int_customers_first_purchase') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

snapshot_versions as (

    select
        customer_id,
        segment,
        owner_rep_id,
        dbt_valid_from as snapshot_valid_from,
        dbt_valid_to as valid_to
    from customer_versions_snapshot

),

-- customers loaded after the last snapshot (e.g. `dbt run` without `dbt snapshot`)
customers_not_snapshotted as (

    select
        customers.customer_id,
        customers.segment,
        customers.owner_rep_id,
        customers._loaded_at as snapshot_valid_from,
        cast(null as {{ dbt.type_timestamp() }}) as valid_to
    from customers
    left join (select distinct customer_id from snapshot_versions) as snapshotted
        on customers.customer_id = snapshotted.customer_id
    where snapshotted.customer_id is null

),

referenced_customer_ids as (

    select customer_id from orders
    union
    select customer_id from opportunities
    union
    select converted_customer_id from leads

),

customers_not_exported as (

    select
        referenced_customer_ids.customer_id,
        cast(null as {{ dbt.type_string() }}) as segment,
        cast(null as {{ dbt.type_string() }}) as owner_rep_id,
        cast(null as {{ dbt.type_timestamp() }}) as snapshot_valid_from,
        cast(null as {{ dbt.type_timestamp() }}) as valid_to
    from referenced_customer_ids
    left join customers
        on referenced_customer_ids.customer_id = customers.customer_id
    left join (select distinct customer_id from snapshot_versions) as snapshotted
        on referenced_customer_ids.customer_id = snapshotted.customer_id
    where referenced_customer_ids.customer_id is not null
        and customers.customer_id is null
        and snapshotted.customer_id is null

),

versions as (

    select * from snapshot_versions
    union all
    select * from customers_not_snapshotted
    union all
    select * from customers_not_exported

),

versions_numbered as (

    select
        versions.*,
        row_number() over (
            partition by customer_id
            order by snapshot_valid_from
        ) as version_number
    from versions

),

first_wins as (

    select
        customer_id,
        min(close_date) as first_won_date
    from opportunities
    where is_won
        and customer_id is not null
    group by customer_id

),

final as (

    select
        {{ surrogate_key(['versions_numbered.customer_id', 'versions_numbered.version_number']) }} as customer_key,
        versions_numbered.customer_id,
        customers.name,
        versions_numbered.segment,
        customers.industry,
        customers.country,
        customers.region,
        customers.city,
        {{ canonical_channel('customers.channel', 'channel_mapping.channel') }} as channel,
        customers.channel as channel_raw,
        customers.created_at,
        versions_numbered.owner_rep_id,
        first_purchases.first_purchase_date,
        first_wins.first_won_date,
        case
            when versions_numbered.version_number = 1 then {{ epoch_timestamp() }}
            else versions_numbered.snapshot_valid_from
        end as valid_from,
        versions_numbered.valid_to,
        versions_numbered.valid_to is null as is_current,
        versions_numbered.version_number
    from versions_numbered
    left join customers
        on versions_numbered.customer_id = customers.customer_id
    left join channel_mapping
        on {{ label_key('customers.channel') }} = {{ label_key('channel_mapping.source_label') }}
    left join first_purchases
        on versions_numbered.customer_id = first_purchases.customer_id
    left join first_wins
        on versions_numbered.customer_id = first_wins.customer_id

)

select * from final
