{#
    Key tests of the incremental facts that read only what a run built.

    At the start of every `dbt build` / `dbt run` (on-run-start in dbt_project.yml),
    record_incremental_watermarks() stores the newest `_loaded_at` of each incremental
    model's table in intermediate.incremental_watermarks: the watermark the model's own
    filter (loaded_after_watermark) is about to use. For a model whose final filter is
    that watermark (fct_orders, fct_order_lines, fct_leads, fct_opportunities,
    fct_opportunity_stages), the rows with a newer `_loaded_at` after the run are exactly
    the rows the run inserted (delete+insert: the other rows were in the table before, so
    they are not newer than its newest row). rows_built_by_this_run() is that filter;
    after a full refresh, or without a recorded watermark, it is `true` (every row).
    The test unique_incremental (tests/dbt/generic/) uses it; docs/architecture.md,
    "dbt tests", gives the argument why that keeps the guarantee.
#}

{% macro incremental_watermarks_relation() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('intermediate', none),
        identifier='incremental_watermarks',
        type='table'
    )) }}
{%- endmacro %}

{% macro record_incremental_watermarks() -%}
    {%- if not execute or flags.WHICH not in ('build', 'run') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set state = incremental_watermarks_relation() -%}
    {%- set watermarks = [] -%}
    {%- if not flags.FULL_REFRESH -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
            {%- set relation = adapter.get_relation(
                database=node.database, schema=node.schema, identifier=node.alias) -%}
            {%- if relation is not none and relation.is_table
                and '_loaded_at' in adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
                {%- do watermarks.append(
                    "select '" ~ node.name ~ "' as model_name, max(_loaded_at) as loaded_at from " ~ relation) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- call statement('record_incremental_watermarks', auto_begin=True) -%}
        create schema if not exists {{ state.schema }};
        create or replace table {{ state }} as
        {% if watermarks -%}
        {{ watermarks | join('\n        union all\n        ') }}
        {%- else -%}
        select
            cast(null as {{ dbt.type_string() }}) as model_name,
            cast(null as {{ dbt.type_timestamp() }}) as loaded_at
        where 1 = 0
        {%- endif %}
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {{ return('') }}
{%- endmacro %}

{# Filter on `relation`'s rows: those this run built (see above), else every row. #}
{% macro rows_built_by_this_run(relation) -%}
    {%- set state = incremental_watermarks_relation() -%}
    {%- set recorded = adapter.get_relation(
        database=state.database, schema=state.schema, identifier=state.identifier) if execute else none -%}
    {%- if recorded is none -%}
        true
    {%- else -%}
        _loaded_at > coalesce(
            (
                select max(loaded_at)
                from {{ state }}
                where model_name = '{{ relation.identifier }}'
            ),
            {{ epoch_timestamp() }}
        )
    {%- endif -%}
{%- endmacro %}
