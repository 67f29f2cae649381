-- Each seed label must match one row once lower-cased and trimmed, or a join on the
-- label would duplicate opportunities / orders. Returns the offending labels.
with

stage_labels as (

    select
        'stage_mapping' as seed_name,
        lower(trim(source_label)) as label_key
    from {{ ref('stage_mapping') }}

),

channel_labels as (

    select
        'channel_mapping' as seed_name,
        lower(trim(source_label)) as label_key
    from {{ ref('channel_mapping') }}

),

labels as (

    select * from stage_labels
    union all
    select * from channel_labels

),

final as (

    select
        seed_name,
        label_key,
        count(*) as label_count
    from labels
    group by
        seed_name,
        label_key
    having count(*) > 1

)

select * from final
