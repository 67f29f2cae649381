{#
    `unique` for the key of an incremental fact: the column is unique in the whole table.
    After an incremental run only the keys of the rows the run built are looked up (each
    against the whole table): the rows kept from before were unique when their own run
    tested them, so a duplicate now involves a row built by this run. After a full
    refresh (or without a recorded watermark) every key is checked, as `unique` does.
    See macros/incremental_tests.sql and docs/architecture.md, "dbt tests".
#}
{% test unique_incremental(model, column_name) %}

{%- set built = rows_built_by_this_run(model) %}

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
{%- if built | trim != 'true' %}
    and {{ column_name }} in (
        select {{ column_name }}
        from {{ model }}
        where {{ built }}
    )
{%- endif %}
group by {{ column_name }}
having count(*) > 1

{% endtest %}
