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

{# Filter on `relation`'s rows: those this run built (see above), else every row. With
   `parent` (another incremental model): every row as well when the parent has no
   recorded watermark (its table was new this run). #}
{% macro rows_built_by_this_run(relation, parent=none) -%}
    {%- set state = incremental_watermarks_relation() -%}
    {%- set recorded = adapter.get_relation(
        database=state.database, schema=state.schema, identifier=state.identifier) if execute else none -%}
    {%- if recorded is none -%}
        true
    {%- else -%}
        {%- if parent is none %}
        _loaded_at > coalesce(
            (
                select max(loaded_at)
                from {{ state }}
                where model_name = '{{ relation.identifier }}'
            ),
            {{ epoch_timestamp() }}
        )
        {%- else %}
        _loaded_at > (
            select
                case
                    when count(case when model_name = '{{ parent.identifier }}' then 1 end) = 0
                        then {{ epoch_timestamp() }}
                    else coalesce(
                        max(case when model_name = '{{ relation.identifier }}' then loaded_at end),
                        {{ epoch_timestamp() }}
                    )
                end
            from {{ state }}
        )
        {%- endif %}
    {%- endif -%}
{%- endmacro %}

{#
    Keys a delete+insert model rebuilt in its latest run, for its key tests: a model whose
    rows are replaced per key (every row of a rebuilt key is deleted, then its new rows
    inserted) can only gain a duplicate (or lose uniqueness in any other way) among the
    keys it rebuilt; the rows of the other keys were unique when the run that built them
    was tested. fct_customer_periods needs it: it rebuilds customers whose `_loaded_at`
    does not change (a lost order, the data's last month, the churn window), so the
    watermark filter of rows_built_by_this_run() does not name them.

    record_rebuilt_keys(key) is a post-hook of such a model. dbt-duckdb builds an
    incremental run's new rows in a temporary table (`<model>__dbt_tmp<time>`, alive
    until the model's transaction is committed, after the post-hooks inside it) and then
    deletes the table's rows of those keys and inserts them: the hook stores the distinct
    keys of that temporary table in intermediate.<model>__rebuilt_keys. `extended`, a
    select of keys, adds the keys a later post-hook gives new rows
    (fct_customer_periods: the customers it extends to a new month). Any other build
    (the first, a full refresh: no such temporary table, or more than one) drops the
    record, and the tests then read the whole table. DuckDB-specific (duckdb_tables()).
#}

{% macro rebuilt_keys_relation(relation) -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('intermediate', none),
        identifier=relation.identifier ~ '__rebuilt_keys',
        type='table'
    )) }}
{%- endmacro %}

{% macro record_rebuilt_keys(key, extended=none) -%}
    {%- set record = rebuilt_keys_relation(this) -%}
    {%- set batches = [] -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select table_name from duckdb_tables() where temporary and starts_with(table_name, '"
            ~ this.identifier ~ "__dbt_tmp')") -%}
        {%- set batches = found.columns[0].values() | list -%}
    {%- endif -%}
    {%- if batches | length == 1 -%}
        create or replace table {{ record }} as
        select distinct {{ key }} from temp.main."{{ batches[0] }}"
        {%- if extended is not none %}
        union
        select {{ key }} from ({{ extended }})
        {%- endif %}
    {%- else -%}
        drop table if exists {{ record }}
    {%- endif -%}
{%- endmacro %}

{# Filter on `relation`'s rows: those of the keys its latest run rebuilt (see above), else
   every row. #}
{% macro rows_of_rebuilt_keys(relation, key) -%}
    {%- set record = rebuilt_keys_relation(relation) -%}
    {#- asked of the database: the hook's SQL does not update dbt's cache of relations -#}
    {%- set recorded = run_query(
        "select count(*) from information_schema.tables where table_catalog = '" ~ record.database
        ~ "' and table_schema = '" ~ record.schema ~ "' and table_name = '" ~ record.identifier ~ "'"
    ).columns[0].values()[0] > 0 if execute else false -%}
    {%- if not recorded -%}
        true
    {%- else -%}
        {{ key }} in (select {{ key }} from {{ record }})
    {%- endif -%}
{%- endmacro %}
