{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        meta={'rebuild_without_columns': ['default_probability']}
    )
}}
-- The stages each opportunity went through, in order. From
-- raw.opportunity_stage_history when the opportunity has any history there; otherwise
-- derived from successive nightly exports (snapshot snap_opportunities, is_derived =
-- true): the first stage seen is entered on the opportunity's created_at (else the
-- load time), each later stage on the load time of the export that first showed it.
-- exited_at is the next stage's entered_at (null for the last). `_loaded_at` is the
-- latest load time of the opportunity and of its history rows, on every row of the
-- opportunity.
--
-- A table (fct_opportunities and fct_opportunity_stages read it), incremental by
-- opportunity: all rows of an opportunity are rebuilt when it or one of its history
-- rows was loaded after the table's newest `_loaded_at` (a new snapshot version comes
-- with a new export of the opportunity). A full refresh gives the same rows.
with

{% if is_incremental() %}
changed_opportunities as (

    select opportunity_id from {{ ref('stg_raw__opportunity_stage_history') }}
    where {{ loaded_after_watermark() }}
    union
    select opportunity_id from {{ ref('int_opportunities_mapped') }}
    where {{ loaded_after_watermark() }}

),
{% endif %}

stage_history as (

    select * from {{ ref('stg_raw__opportunity_stage_history') }}
    {% if is_incremental() %}
    where opportunity_id in (select opportunity_id from changed_opportunities)
    {% endif %}

),

opportunities as (

    select * from {{ ref('int_opportunities_mapped') }}
    {% if is_incremental() %}
    where opportunity_id in (select opportunity_id from changed_opportunities)
    {% endif %}

),

opportunity_snapshots as (

    select * from {{ ref('snap_opportunities') }}
    {% if is_incremental() %}
    where opportunity_id in (select opportunity_id from changed_opportunities)
    {% endif %}

),

stage_mapping as (

    select * from {{ ref('stage_mapping') }}

),

history_mapped as (

    select
        stage_history.opportunity_id,
        stage_history.stage_raw,
        coalesce(stage_mapping.stage, 'unmapped') as stage,
        stage_mapping.stage_order,
        stage_mapping.default_probability,
        stage_history.entered_at,
        false as is_derived,
        stage_history._loaded_at
    from stage_history
    left join stage_mapping
        on {{ label_key('stage_history.stage_raw') }} = {{ label_key('stage_mapping.source_label') }}

),

opportunities_with_history as (

    select distinct
        opportunity_id
    from stage_history

),

snapshot_versions as (

    select
        opportunity_snapshots.opportunity_id,
        opportunity_snapshots.stage_raw,
        opportunity_snapshots.dbt_valid_from,
        row_number() over (
            partition by opportunity_snapshots.opportunity_id
            order by opportunity_snapshots.dbt_valid_from
        ) as version_number
    from opportunity_snapshots

),

current_stage_derived as (

    select
        snapshot_versions.opportunity_id,
        snapshot_versions.stage_raw,
        coalesce(stage_mapping.stage, 'unmapped') as stage,
        stage_mapping.stage_order,
        stage_mapping.default_probability,
        case
            when snapshot_versions.version_number = 1
                then coalesce(
                    cast(opportunities.created_at as {{ dbt.type_timestamp() }}),
                    cast(snapshot_versions.dbt_valid_from as {{ dbt.type_timestamp() }})
                )
            else cast(snapshot_versions.dbt_valid_from as {{ dbt.type_timestamp() }})
        end as entered_at,
        true as is_derived,
        opportunities._loaded_at
    from snapshot_versions
    inner join opportunities
        on snapshot_versions.opportunity_id = opportunities.opportunity_id
    left join stage_mapping
        on {{ label_key('snapshot_versions.stage_raw') }} = {{ label_key('stage_mapping.source_label') }}
    left join opportunities_with_history
        on snapshot_versions.opportunity_id = opportunities_with_history.opportunity_id
    where opportunities_with_history.opportunity_id is null

),

unioned as (

    select * from history_mapped
    union all
    select * from current_stage_derived

),

-- the position and the next stage in one sort (stages tied on entered_at, order and
-- label are identical rows: which of them comes first does not change the result)
sequenced as (

    select
        unioned.opportunity_id,
        unioned.stage_raw,
        unioned.stage,
        unioned.stage_order,
        unioned.default_probability,
        unioned.entered_at,
        unioned.is_derived,
        row_number() over (
            partition by unioned.opportunity_id
            order by
                unioned.entered_at,
                unioned.stage_order,
                unioned.stage_raw
        ) as stage_sequence,
        lead(unioned.entered_at) over (
            partition by unioned.opportunity_id
            order by
                unioned.entered_at,
                unioned.stage_order,
                unioned.stage_raw
        ) as exited_at,
        max(unioned._loaded_at) over (
            partition by unioned.opportunity_id
        ) as stages_loaded_at
    from unioned

),

final as (

    select
        {{ surrogate_key(['sequenced.opportunity_id', 'sequenced.stage_raw', 'sequenced.entered_at', 'sequenced.stage_sequence']) }} as opportunity_stage_key,
        sequenced.opportunity_id,
        sequenced.stage_sequence,
        sequenced.stage_raw,
        sequenced.stage,
        sequenced.stage_order,
        sequenced.default_probability,
        sequenced.entered_at,
        sequenced.exited_at,
        sequenced.is_derived,
        {{ latest_loaded_at(['sequenced.stages_loaded_at', 'opportunities._loaded_at']) }} as _loaded_at
    from sequenced
    left join opportunities
        on sequenced.opportunity_id = opportunities.opportunity_id

)

select * from final
