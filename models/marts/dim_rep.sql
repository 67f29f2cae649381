with

reps as (

    select * from {{ ref('stg_raw__reps') }}

),

final as (

    select
        rep_id,
        name,
        manager,
        team,
        region,
        hire_date,
        active
    from reps

)

select * from final
