{#
    Several not_null tests of one model in one scan: the rows where any of the columns is
    null, with the names of the null columns. Each column's not_null test would read the
    table again (and cost dbt's per-test overhead).
#}
{% test not_null_columns(model, column_names) %}

select
    {% for column in column_names -%}
    case when {{ column }} is null then '{{ column }} ' else '' end
    {%- if not loop.last %} || {% endif %}
    {% endfor %} as null_columns
from {{ model }}
where
    {% for column in column_names -%}
    {{ column }} is null{% if not loop.last %} or {% endif %}
    {% endfor %}

{% endtest %}
