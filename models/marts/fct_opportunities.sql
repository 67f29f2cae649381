{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
-- One row per opportunity: canonical stage (stage_mapping seed), amounts in the
-- reporting currency (rate on the close date, else the created date, else the latest
-- rate), probability (given, else the stage's default), and the customer's, rep's and
-- product's attributes. max_stage_order_reached: the highest open-stage order (1..5)
-- reached, from the stage history when there is one and the current stage; 5 for a won
-- opportunity; 1 for a lost one that shows no open stage (it was at least a lead); null
-- for an unmapped one without history.
--
-- Incremental by opportunity (delete+insert on opportunity_id), like fct_orders: an
-- opportunity is rebuilt when it, its stages, its customer, owner or product, or a rate
-- of its currency was loaded after the table's newest `_loaded_at` (the latest load
-- time of those rows, the rate the amount uses among them). A full refresh gives the
-- same rows.
with

{% if is_incremental() %}
changed_opportunities as (

    select opportunity_id from {{ ref('int_opportunities_mapped') }}
    where {{ loaded_after_watermark() }}
        or customer_id in (
            select customer_id from {{ ref('stg_raw__customers') }}
            where {{ loaded_after_watermark() }}
        )
        or owner_rep_id in (
            select rep_id from {{ ref('stg_raw__reps') }}
            where {{ loaded_after_watermark() }}
        )
        or product_id in (
            select product_id from {{ ref('stg_raw__products') }}
            where {{ loaded_after_watermark() }}
        )
        or currency in (
            select currency from {{ ref('int_fx_rates_resolved') }}
            where {{ loaded_after_watermark() }}
        )
    union
    select opportunity_id from {{ ref('int_opportunity_stages_ordered') }}
    where {{ loaded_after_watermark() }}

),
{% endif %}

opportunities as (

    select * from {{ ref('int_opportunities_mapped') }}
    {% if is_incremental() %}
    where opportunity_id in (select opportunity_id from changed_opportunities)
    {% endif %}

),

opportunity_stages as (

    select * from {{ ref('int_opportunity_stages_ordered') }}
    {% if is_incremental() %}
    where opportunity_id in (select opportunity_id from changed_opportunities)
    {% endif %}

),

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

reps as (

    select * from {{ ref('stg_raw__reps') }}

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

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

stages_reached as (

    select
        opportunity_id,
        max(
            case
                when stage = 'won' then 5
                when stage_order <= 5 then stage_order
            end
        ) as max_history_stage_order,
        max(_loaded_at) as stages_loaded_at
    from opportunity_stages
    group by opportunity_id

),

opportunities_enriched as (

    select
        opportunities.*,
        stages_reached.max_history_stage_order,
        {{ latest_loaded_at([
            'opportunities._loaded_at',
            'stages_reached.stages_loaded_at',
            'customers._loaded_at',
            'reps._loaded_at',
            'products._loaded_at',
            'fx_rates._loaded_at'
        ]) }} as latest_loaded_at,
        case
            when opportunities.stage_order <= 5 then opportunities.stage_order
        end as current_open_stage_order,
        {{ rate_to_reporting('opportunities.currency', 'fx_rates.rate_to_reporting') }} as fx_rate,
        reps.team,
        reps.region,
        products.category as product_category,
        customers.segment,
        customers.country,
        case
            when opportunities.channel is not null
                then {{ canonical_channel('opportunities.channel', 'opportunity_channels.channel') }}
            else {{ canonical_channel('customers.channel', 'customer_channels.channel') }}
        end as canonical_channel
    from opportunities
    left join stages_reached
        on opportunities.opportunity_id = stages_reached.opportunity_id
    -- the rate that applies on the close date, else the created date (see
    -- int_fx_rates_daily): equality joins
    left join fx_edges
        on opportunities.currency = fx_edges.currency
    left join fx_days
        on opportunities.currency = fx_days.currency
        and coalesce(opportunities.close_date, opportunities.created_at) = fx_days.rate_day
    left join fx_rates
        on opportunities.currency = fx_rates.currency
        and fx_rates.rate_date = {{ fx_rate_date(
            'coalesce(opportunities.close_date, opportunities.created_at)',
            'fx_edges',
            'fx_days'
        ) }}
    left join reps
        on opportunities.owner_rep_id = reps.rep_id
    left join products
        on opportunities.product_id = products.product_id
    left join customers
        on opportunities.customer_id = customers.customer_id
    left join channel_mapping as opportunity_channels
        on {{ label_key('opportunities.channel') }} = {{ label_key('opportunity_channels.source_label') }}
    left join channel_mapping as customer_channels
        on {{ label_key('customers.channel') }} = {{ label_key('customer_channels.source_label') }}

),

final as (

    select
        opportunity_id,
        customer_id,
        lead_id,
        owner_rep_id,
        team,
        region,
        name,
        stage_raw,
        stage,
        stage_order,
        case
            when is_won then 5
            when max_history_stage_order is null then
                coalesce(current_open_stage_order, case when is_lost then 1 end)
            when current_open_stage_order is null then max_history_stage_order
            when current_open_stage_order > max_history_stage_order then current_open_stage_order
            else max_history_stage_order
        end as max_stage_order_reached,
        is_won,
        is_lost,
        is_closed,
        amount * fx_rate as amount,
        amount as amount_local,
        currency,
        coalesce(probability, default_probability) as probability,
        created_at,
        close_date,
        canonical_channel as channel,
        channel as channel_raw,
        product_id,
        product_category,
        type,
        segment,
        country,
        latest_loaded_at as _loaded_at
    from opportunities_enriched

)

select * from final
{% if is_incremental() %}
where {{ loaded_after_watermark() }}
{% endif %}
