{#
    `relationships` from an incremental fact to an incremental parent: every non-null
    value of the column is a `field` of `to`. After an incremental run only the rows the
    run built (rows_built_by_this_run: the model's rows newer than its recorded
    watermark) are looked up, each against the whole parent, when the parent's table
    too existed at the start of the run (it has a recorded watermark): the rows kept
    from before found their parent when their own run was tested, and the parent, a
    delete+insert model without a hook that deletes rows, never loses a key in an
    incremental run (every key it deletes it inserts again). After a full refresh, or
    when either table was new, every row is checked, as `relationships` does.
    See macros/incremental_tests.sql and docs/architecture.md, "dbt tests".
#}
{% test relationships_incremental(model, column_name, to, field) %}

{%- set built = rows_built_by_this_run(model) %}

with child as (

    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
    {%- if built | trim != 'true' %}
        and {{ rows_built_by_this_run(model, parent=to) }}
    {%- endif %}

),

parent as (

    select {{ field }} as to_field
    from {{ to }}
    {%- if built | trim != 'true' %}
    -- only the values tonight's rows look up: the join's hash table is built from
    -- tonight's few rows, not from the whole parent
    where {{ field }} in (select from_field from child)
    {%- endif %}

)

select child.from_field
from child
left join parent
    on child.from_field = parent.to_field
where parent.to_field is null

{% endtest %}
