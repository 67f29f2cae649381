{#
    The combination of the columns is unique: the combinations that occur more than once.
    Cheaper than `unique` on a concatenated text key (no string is built per row).
#}
{% test unique_combination(model, column_names) %}

select
    {{ column_names | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ column_names | join(', ') }}
having count(*) > 1

{% endtest %}
