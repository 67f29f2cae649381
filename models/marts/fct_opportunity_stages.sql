-- One row per stage an opportunity entered (int_opportunity_stages_ordered: from the
-- stage history, else one derived row for the current stage). days_in_stage is null for
-- the stage an opportunity is still in (or ended in).
with

opportunity_stages as (

    select * from {{ ref('int_opportunity_stages_ordered') }}

),

final as (

    select
        opportunity_stage_key,
        opportunity_id,
        stage_sequence,
        stage_raw,
        stage,
        stage_order,
        entered_at,
        exited_at,
        {{ dbt.datediff('entered_at', 'exited_at', 'day') }} as days_in_stage,
        is_derived
    from opportunity_stages

)

select * from final
