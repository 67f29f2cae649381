{# Small portable building blocks shared by intermediate models and marts. #}

{# First day of the month of a date, as a date. #}
{% macro month_start(date_expr) -%}
    cast({{ dbt.date_trunc('month', date_expr) }} as date)
{%- endmacro %}

{# Canonical channel of a raw label: the seed's channel, 'other' for a label the seed does
   not know, 'unknown' when there is no label. #}
{% macro canonical_channel(raw_label_expr, mapped_channel_expr) -%}
    case
        when {{ raw_label_expr }} is null then 'unknown'
        else coalesce({{ mapped_channel_expr }}, 'other')
    end
{%- endmacro %}

{# Key used to match a CRM label against the seeds' source_label. #}
{% macro label_key(expr) -%}
    lower(trim({{ expr }}))
{%- endmacro %}

{# Latest of several `_loaded_at` columns, nulls ignored (portable: no reliance on how an
   engine's greatest() treats nulls). Incremental marts use it as their watermark. #}
{% macro latest_loaded_at(columns) -%}
    greatest(
        {%- for column in columns %}
        coalesce({{ column }}, {{ epoch_timestamp() }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{% macro epoch_timestamp() -%}
    cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{# Watermark filter of the incremental models: rows whose sources were loaded after the
   newest row already in the table. #}
{% macro loaded_after_watermark(column='_loaded_at') -%}
    {{ column }} > {{ incremental_watermark(column) }}
{%- endmacro %}

{# The rows of `relation` an incremental model rebuilds from: those loaded after the
   model's watermark, read by that filter alone (it then reaches the table's scan, whose
   zone maps skip the row groups loaded before), and by key (`key` in the CTE `changed`,
   less those in the CTE `loaded_since`, the keys of the rows loaded since) the rows of
   the other changed keys. Right when a key's rows are all loaded together (ingestion
   replaces an order's lines whole; one header per order). Outside an incremental run,
   every row. #}
{% macro rows_to_rebuild(relation, key, changed, loaded_since) -%}
    {%- if is_incremental() %}
    select * from {{ relation }}
    where {{ loaded_after_watermark() }}
    union all
    select * from {{ relation }}
    where {{ key }} in (
        select {{ key }} from {{ changed }}
        except
        select {{ key }} from {{ loaded_since }}
    )
    {%- else %}
    select * from {{ relation }}
    {%- endif %}
{%- endmacro %}

{# The newest `column` already in the incremental model's table; the epoch when the table
   has no such column yet (a table built before the model was incremental, which a
   project change builds without --full-refresh), or lacks a column the model lists in
   `meta.rebuild_without_columns` (columns added later: on_schema_change appends them
   null to the rows already there): then every row is rebuilt. #}
{% macro incremental_watermark(column='_loaded_at') -%}
    {%- set existing = adapter.get_columns_in_relation(this) if execute else [] -%}
    {%- set names = existing | map(attribute='name') | map('lower') | list -%}
    {%- set required = [column] + ((config.get('meta') or {}).get('rebuild_without_columns') or []) -%}
    {%- set missing = [] -%}
    {%- for name in required if name | lower not in names -%}
        {%- do missing.append(name) -%}
    {%- endfor -%}
    {%- if execute and missing -%}
        {{ epoch_timestamp() }}
    {%- else -%}
        (
            select coalesce(max({{ column }}), {{ epoch_timestamp() }})
            from {{ this }}
        )
    {%- endif -%}
{%- endmacro %}

{# Surrogate key: md5 of the parts joined with '|' (nulls as empty strings). #}
{% macro surrogate_key(parts) -%}
    {{ dbt.hash(dbt.concat(surrogate_key_parts(parts))) }}
{%- endmacro %}

{% macro surrogate_key_parts(parts) -%}
    {%- set pieces = [] -%}
    {%- for part in parts -%}
        {%- do pieces.append("coalesce(cast(" ~ part ~ " as " ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last -%}{%- do pieces.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ return(pieces) }}
{%- endmacro %}

{# A column of the integers 0 .. 10^digits - 1, built from cross joins (no generate_series,
   no recursive CTE): a portable numbers table for date spines. #}
{% macro numbers(digits) -%}
    select
        {% for i in range(digits) -%}
        d{{ i }}.digit * {{ 10 ** i }}{% if not loop.last %} + {% endif %}
        {%- endfor %} as n
    from {{ digit_values() }} as d0
    {%- for i in range(1, digits) %}
    cross join {{ digit_values() }} as d{{ i }}
    {%- endfor %}
{%- endmacro %}

{% macro digit_values() -%}
    (
        {%- for d in range(10) %}
        select {{ d }} as digit{% if not loop.last %} union all{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{# A table the project no longer builds (a warehouse built before may still hold it), in
   the schema `custom_schema` resolves to; for hooks that drop it. #}
{% macro retired_relation(custom_schema, identifier) -%}
    {{ api.Relation.create(
        database=target.database,
        schema=generate_schema_name(custom_schema, none),
        identifier=identifier,
        type='table'
    ) }}
{%- endmacro %}
