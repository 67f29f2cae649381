-- Opportunities with the CRM stage label mapped onto the canonical funnel through the
-- stage_mapping seed (matched on lower(trim(label))). A label the seed does not know
-- becomes stage `unmapped` with a null stage_order and no default probability.
with

opportunities as (

    select * from {{ ref('stg_raw__opportunities') }}

),

stage_mapping as (

    select * from {{ ref('stage_mapping') }}

),

mapped as (

    select
        opportunities.*,
        coalesce(stage_mapping.stage, 'unmapped') as stage,
        stage_mapping.stage_order,
        stage_mapping.default_probability
    from opportunities
    left join stage_mapping
        on {{ label_key('opportunities.stage_raw') }} = {{ label_key('stage_mapping.source_label') }}

),

final as (

    select
        opportunity_id,
        customer_id,
        lead_id,
        owner_rep_id,
        name,
        stage_raw,
        stage,
        stage_order,
        default_probability,
        stage = 'won' as is_won,
        stage = 'lost' as is_lost,
        stage in ('won', 'lost') as is_closed,
        amount,
        currency,
        probability,
        created_at,
        close_date,
        channel,
        product_id,
        type,
        _loaded_at
    from mapped

)

select * from final
