{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="delete from {{ this }} where customer_key is null"
    )
}}
-- Customers as a type-2 slowly changing dimension. Versions come from the snapshot
-- snap_customers (a new version when segment or owner_rep_id changes); the first version
-- of a customer is valid from 1900-01-01 so that facts of any date find it; valid_to is
-- null on the current version. The other attributes are type 1 (current export).
-- Customers referenced by orders, opportunities or leads but absent from the customer
-- exports get one current row with null attributes. `_loaded_at` is the latest load time
-- of the customer's export and of its orders.
--
-- Incremental by customer (delete+insert on customer_id: all versions of a customer are
-- replaced together). A night rebuilds the customers whose export or orders were loaded
-- after the table's newest `_loaded_at` (with the customers those orders had before,
-- int_orders_netted.previous_customer_id), whose first won date changed, that an
-- opportunity or lead references for the first time, and every customer absent from the
-- exports (so that one no longer referenced disappears). A rebuilt customer without any
-- row left gets one row with a null customer_key, which clears its old rows and is
-- deleted by the post-hook. A full refresh gives the same rows.
--
-- What a night reads whole: the opportunities' first won dates (compared with the built
-- ones: an opportunity moved to another customer changes the first won date of the
-- customer it left, which no row loaded tonight names), the customers' ids (those absent
-- from the exports) and the table's own current rows. What it reads by the watermark or
-- by the rebuilt customers: a customer referenced for the first time is named by an
-- opportunity or lead loaded after the watermark, because after every build each
-- customer that an opportunity or lead references has a row (a rebuilt customer keeps
-- one while referenced: customers_not_exported) and tonight's rows were loaded after
-- everything the table was built from; whether a rebuilt customer is referenced is
-- looked up for the rebuilt customers only. int_orders_netted is read where it is used,
-- not through one CTE: a CTE read twice is materialised whole (4.4 M orders at L),
-- while each read on its own gets its filter in the table's scan (the watermark's zone
-- maps) or its semi join (docs/decisions/0004).
with

customer_versions_snapshot as (

    select * from {{ ref('snap_customers') }}

),

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_mapped') }}

),

leads as (

    select * from {{ ref('stg_raw__leads') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

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

{% if is_incremental() %}
orders_loaded_since as (

    select
        customer_id,
        previous_customer_id
    from {{ ref('int_orders_netted') }}
    where {{ loaded_after_watermark() }}

),

changed_customers as (

    -- the export (and with it the snapshot's versions) changed
    select customer_id from customers
    where {{ loaded_after_watermark() }}
    union
    -- orders loaded since: their customers now and before
    select customer_id from orders_loaded_since
    union
    select previous_customer_id from orders_loaded_since
    union
    -- the first won opportunity changed
    select coalesce(built.customer_id, first_wins.customer_id)
    from (select customer_id, first_won_date from {{ this }} where is_current) as built
    full outer join first_wins
        on built.customer_id = first_wins.customer_id
    where built.first_won_date is distinct from first_wins.first_won_date
    union
    -- referenced for the first time by an opportunity or a lead: one loaded since (every
    -- customer referenced before has a row, see above)
    select referencing.customer_id
    from (
        select customer_id from opportunities
        where customer_id is not null
            and {{ loaded_after_watermark() }}
        union
        select converted_customer_id from leads
        where converted_customer_id is not null
            and {{ loaded_after_watermark() }}
    ) as referencing
    left join {{ this }} as built
        on referencing.customer_id = built.customer_id
    where built.customer_id is null
    union
    -- absent from the exports: still referenced?
    select built.customer_id
    from {{ this }} as built
    left join customers
        on built.customer_id = customers.customer_id
    where customers.customer_id is null

),
{% endif %}

customer_orders as (

    select
        customer_id,
        min(case when is_purchase then order_date end) as first_purchase_date,
        max(_loaded_at) as orders_loaded_at
    from {{ ref('int_orders_netted') }}
    where customer_id is not null
    {% if is_incremental() %}
        and customer_id in (select customer_id from changed_customers)
    {% endif %}
    group by customer_id

),

snapshot_versions as (

    select
        customer_id,
        segment,
        owner_rep_id,
        dbt_valid_from as snapshot_valid_from,
        dbt_valid_to as valid_to
    from customer_versions_snapshot
    {% if is_incremental() %}
    where customer_id in (select customer_id from changed_customers)
    {% endif %}

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
    {% if is_incremental() %}
        and customers.customer_id in (select customer_id from changed_customers)
    {% endif %}

),

-- customers named by an opportunity or a lead (they need a row even without an export);
-- a night looks up only the rebuilt customers
referenced_elsewhere as (

    select customer_id from opportunities
    where customer_id is not null
    {% if is_incremental() %}
        and customer_id in (select customer_id from changed_customers)
    {% endif %}
    union
    select converted_customer_id from leads
    where converted_customer_id is not null
    {% if is_incremental() %}
        and converted_customer_id in (select customer_id from changed_customers)
    {% endif %}

),

referenced_customer_ids as (

    select customer_id from customer_orders
    union
    select customer_id from referenced_elsewhere

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
    {% if is_incremental() %}
        and referenced_customer_ids.customer_id in (select customer_id from changed_customers)
    {% endif %}

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
        customer_orders.first_purchase_date,
        first_wins.first_won_date,
        case
            when versions_numbered.version_number = 1 then {{ epoch_timestamp() }}
            else versions_numbered.snapshot_valid_from
        end as valid_from,
        versions_numbered.valid_to,
        versions_numbered.valid_to is null as is_current,
        versions_numbered.version_number,
        {{ latest_loaded_at(['customers._loaded_at', 'customer_orders.orders_loaded_at']) }} as _loaded_at
    from versions_numbered
    left join customers
        on versions_numbered.customer_id = customers.customer_id
    left join channel_mapping
        on {{ label_key('customers.channel') }} = {{ label_key('channel_mapping.source_label') }}
    left join customer_orders
        on versions_numbered.customer_id = customer_orders.customer_id
    left join first_wins
        on versions_numbered.customer_id = first_wins.customer_id

    {% if is_incremental() %}
    union all

    -- rebuilt customers without any version left: one row that clears their old rows
    select
        cast(null as {{ dbt.type_string() }}) as customer_key,
        changed_customers.customer_id,
        null as name,
        null as segment,
        null as industry,
        null as country,
        null as region,
        null as city,
        null as channel,
        null as channel_raw,
        null as created_at,
        null as owner_rep_id,
        null as first_purchase_date,
        null as first_won_date,
        null as valid_from,
        null as valid_to,
        null as is_current,
        null as version_number,
        null as _loaded_at
    from changed_customers
    left join (select distinct customer_id from versions) as versioned
        on changed_customers.customer_id = versioned.customer_id
    where changed_customers.customer_id is not null
        and versioned.customer_id is null
    {% endif %}

)

select * from final
