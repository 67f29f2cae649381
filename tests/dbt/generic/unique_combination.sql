{#
    The combination of the columns is unique: the combinations that occur more than once.
    Cheaper than `unique` on a concatenated text key (no string is built per row).

    rebuilt_key (optional, one of column_names): the model is a delete+insert model whose
    post-hook record_rebuilt_keys(rebuilt_key) records the keys its latest run rebuilt;
    only the rows of those keys are checked (a duplicate combination lies within one key,
    and the rows of the keys the run did not rebuild are those an earlier tested run left).
    Without a record (first build, full refresh) every row is checked.
    See macros/incremental_tests.sql and docs/architecture.md, "dbt tests".
#}
{% test unique_combination(model, column_names, rebuilt_key=none) %}

select
    {{ column_names | join(', ') }},
    count(*) as occurrences
from {{ model }}
{%- if rebuilt_key is not none %}
where {{ rows_of_rebuilt_keys(model, rebuilt_key) }}
{%- endif %}
group by {{ column_names | join(', ') }}
having count(*) > 1

{% endtest %}
