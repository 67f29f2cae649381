-- One row per target. period_end is exclusive (period_start + 1 grain). level_value is
-- `all` for the company level and the canonical channel (channel_mapping seed) for the
-- channel level; level_value_raw keeps the value as loaded.
with

targets as (

    select * from {{ ref('stg_raw__targets') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

final as (

    select
        {{ surrogate_key([
            'targets.period_start',
            'targets.grain',
            'targets.metric',
            'targets.level',
            'targets.level_value'
        ]) }} as target_key,
        targets.period_start,
        cast(
            case targets.grain
                when 'week' then {{ dbt.dateadd('day', 7, 'targets.period_start') }}
                when 'month' then {{ dbt.dateadd('month', 1, 'targets.period_start') }}
                when 'quarter' then {{ dbt.dateadd('month', 3, 'targets.period_start') }}
                when 'year' then {{ dbt.dateadd('year', 1, 'targets.period_start') }}
            end as date
        ) as period_end,
        targets.grain,
        targets.metric,
        targets.level,
        case
            when targets.level = 'company' then 'all'
            when targets.level = 'channel'
                then {{ canonical_channel('targets.level_value', 'channel_mapping.channel') }}
            else targets.level_value
        end as level_value,
        targets.level_value as level_value_raw,
        targets.target_value
    from targets
    left join channel_mapping
        on targets.level = 'channel'
        and {{ label_key('targets.level_value') }} = {{ label_key('channel_mapping.source_label') }}

)

select * from final
