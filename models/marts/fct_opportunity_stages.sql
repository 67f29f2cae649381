{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        meta={'rebuild_without_columns': ['default_probability']}
    )
}}
-- One row per stage an opportunity entered (int_opportunity_stages_ordered: from the
-- stage history, else derived rows from successive exports). days_in_stage is null for
-- the stage an opportunity is still in (or ended in). Incremental like its source: all
-- stages of an opportunity are replaced together (delete+insert on opportunity_id) when
-- their `_loaded_at` (the opportunity's, on each of its rows) is newer than the table's.
with

opportunity_stages as (

    select * from {{ ref('int_opportunity_stages_ordered') }}
    {% if is_incremental() %}
    where {{ loaded_after_watermark() }}
    {% endif %}

),

final as (

    select
        opportunity_stage_key,
        opportunity_id,
        stage_sequence,
        stage_raw,
        stage,
        stage_order,
        default_probability,
        entered_at,
        exited_at,
        {{ dbt.datediff('entered_at', 'exited_at', 'day') }} as days_in_stage,
        is_derived,
        _loaded_at
    from opportunity_stages

)

select * from final
