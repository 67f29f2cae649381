-- One row per sales activity (跟进记录, 拜访): when it occurred and on which day, its
-- canonical type, the rep with the rep's team and region, and the customer, lead and
-- opportunity it concerns.
with

activities as (

    select * from {{ ref('stg_raw__activities') }}

),

reps as (

    select * from {{ ref('dim_rep') }}

),

final as (

    select
        activities.activity_id,
        activities.occurred_at,
        cast(activities.occurred_at as date) as activity_date,
        activities.type,
        activities.rep_id,
        reps.team,
        reps.region,
        activities.customer_id,
        activities.lead_id,
        activities.opportunity_id,
        activities.subject,
        activities.outcome,
        activities.duration_minutes,
        activities._loaded_at
    from activities
    left join reps
        on activities.rep_id = reps.rep_id

)

select * from final
