-- One row per opportunity: canonical stage (stage_mapping seed), amounts in the
-- reporting currency (rate on the close date, else the created date, else the latest
-- rate), probability (given, else the stage's default), and the customer's, rep's and
-- product's attributes. max_stage_order_reached: the highest open-stage order (1..5)
-- reached, from the stage history when there is one and the current stage; 5 for a won
-- opportunity; 1 for a lost one that shows no open stage (it was at least a lead); null
-- for an unmapped one without history.
with

opportunities as (

    select * from {{ ref('int_opportunities_mapped') }}

),

opportunity_stages as (

    select * from {{ ref('int_opportunity_stages_ordered') }}

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
        ) as max_history_stage_order
    from opportunity_stages
    group by opportunity_id

),

opportunities_enriched as (

    select
        opportunities.*,
        stages_reached.max_history_stage_order,
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
    left join fx_rates
        on {{ fx_rate_applies(
            'fx_rates',
            'opportunities.currency',
            'coalesce(opportunities.close_date, opportunities.created_at)'
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
        country
    from opportunities_enriched

)

select * from final
