{{
    config(
        materialized='incremental',
        unique_key='lead_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
-- One row per lead. converted_date: the earliest of converted_at (when a customer is
-- linked) and the close date of a won opportunity linked by lead_id or by
-- converted_opportunity_id; null if the lead never converted. Incremental on the latest
-- `_loaded_at` of the lead, its owner and every opportunity linked to it.
with

{% if is_incremental() %}
-- the leads the final watermark filter can keep: the lead, its owner or an opportunity
-- linked to it (by lead_id or converted_opportunity_id) loaded after the newest
-- `_loaded_at` in the table; each selected lead is built from all its opportunities
changed_opportunities as (

    select
        opportunity_id,
        lead_id
    from {{ ref('int_opportunities_mapped') }}
    where {{ loaded_after_watermark() }}

),

changed_leads as (

    select lead_id from {{ ref('stg_raw__leads') }}
    where {{ loaded_after_watermark() }}
    union
    select lead_id from {{ ref('stg_raw__leads') }}
    where owner_rep_id in (
        select rep_id from {{ ref('stg_raw__reps') }}
        where {{ loaded_after_watermark() }}
    )
    union
    select lead_id from changed_opportunities
    union
    select lead_id from {{ ref('stg_raw__leads') }}
    where converted_opportunity_id in (select opportunity_id from changed_opportunities)

),
{% endif %}

leads as (

    select * from {{ ref('stg_raw__leads') }}
    {% if is_incremental() %}
    where lead_id in (select lead_id from changed_leads)
    {% endif %}

),

opportunities as (

    select * from {{ ref('int_opportunities_mapped') }}

),

reps as (

    select * from {{ ref('stg_raw__reps') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

opportunities_by_lead_id as (

    select
        leads.lead_id,
        opportunities.is_won,
        opportunities.close_date,
        opportunities._loaded_at
    from leads
    inner join opportunities
        on leads.lead_id = opportunities.lead_id

),

opportunities_by_converted_id as (

    select
        leads.lead_id,
        opportunities.is_won,
        opportunities.close_date,
        opportunities._loaded_at
    from leads
    inner join opportunities
        on leads.converted_opportunity_id = opportunities.opportunity_id

),

linked_opportunities as (

    select * from opportunities_by_lead_id
    union all
    select * from opportunities_by_converted_id

),

opportunities_per_lead as (

    select
        lead_id,
        min(case when is_won then close_date end) as first_won_close_date,
        max(_loaded_at) as opportunities_loaded_at
    from linked_opportunities
    group by lead_id

),

leads_converted as (

    select
        leads.*,
        case
            when leads.converted_customer_id is not null then leads.converted_at
        end as customer_converted_date,
        opportunities_per_lead.first_won_close_date,
        opportunities_per_lead.opportunities_loaded_at,
        reps.team,
        reps.region,
        reps._loaded_at as rep_loaded_at,
        {{ canonical_channel('leads.channel', 'channel_mapping.channel') }} as canonical_channel
    from leads
    left join opportunities_per_lead
        on leads.lead_id = opportunities_per_lead.lead_id
    left join reps
        on leads.owner_rep_id = reps.rep_id
    left join channel_mapping
        on {{ label_key('leads.channel') }} = {{ label_key('channel_mapping.source_label') }}

),

final as (

    select
        lead_id,
        created_at,
        canonical_channel as channel,
        channel as channel_raw,
        status,
        owner_rep_id,
        team,
        region,
        converted_at,
        converted_customer_id,
        converted_opportunity_id,
        case
            when customer_converted_date is null then first_won_close_date
            when first_won_close_date is null then customer_converted_date
            when first_won_close_date < customer_converted_date then first_won_close_date
            else customer_converted_date
        end as converted_date,
        {{ latest_loaded_at(['_loaded_at', 'rep_loaded_at', 'opportunities_loaded_at']) }} as _loaded_at
    from leads_converted

)

select * from final
{% if is_incremental() %}
where {{ loaded_after_watermark() }}
{% endif %}
