-- The stages each opportunity went through, in order. From
-- raw.opportunity_stage_history when the opportunity has any history there; otherwise
-- derived from successive nightly exports (snapshot snap_opportunities, is_derived =
-- true): the first stage seen is entered on the opportunity's created_at (else the
-- load time), each later stage on the load time of the export that first showed it.
-- exited_at is the next stage's entered_at (null for the last).
with

stage_history as (

    select * from {{ ref('stg_raw__opportunity_stage_history') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_mapped') }}

),

opportunity_snapshots as (

    select * from {{ ref('snap_opportunities') }}

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
        stage_history.entered_at,
        false as is_derived
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
        case
            when snapshot_versions.version_number = 1
                then coalesce(
                    cast(opportunities.created_at as {{ dbt.type_timestamp() }}),
                    cast(snapshot_versions.dbt_valid_from as {{ dbt.type_timestamp() }})
                )
            else cast(snapshot_versions.dbt_valid_from as {{ dbt.type_timestamp() }})
        end as entered_at,
        true as is_derived
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

sequenced as (

    select
        unioned.*,
        row_number() over (
            partition by opportunity_id
            order by
                entered_at,
                stage_order,
                stage_raw
        ) as stage_sequence
    from unioned

),

final as (

    select
        {{ surrogate_key(['opportunity_id', 'stage_raw', 'entered_at', 'stage_sequence']) }} as opportunity_stage_key,
        opportunity_id,
        stage_sequence,
        stage_raw,
        stage,
        stage_order,
        entered_at,
        lead(entered_at) over (
            partition by opportunity_id
            order by stage_sequence
        ) as exited_at,
        is_derived
    from sequenced

)

select * from final
