{#
    fct_customer_periods when the data's last month moves forward.

    Every customer has a row per month up to the data's last month. Rebuilding every
    customer (all their months) only to add a new month would cost, at 10 M order lines,
    9 M rows and 12 s of dbt (docs/decisions/0004). The model rebuilds only the customers
    whose orders changed; these post-hooks then give every other customer the months
    between its last row and the data's last month. Such a customer has no order after
    its last row (its orders were all loaded before, when the data ended in that month),
    so a new month has no revenue, no purchase and no order, carries the customer's last
    purchase date, and is active while that date lies within the churn window of the
    month's last day: the row the model itself builds for a month without orders.

    customer_periods_behind() selects, per customer whose last row is before the data's
    last month (the customers the run did not rebuild), that row's month, last purchase
    date and `_loaded_at`.
    extend_customer_periods() inserts the missing months. Both only in an incremental run
    whose data's last month is after the table's before the run (a pre-hook records it):
    a full refresh builds every customer to the data's last month, and within a month
    no customer is behind.
#}

{# Whether a customer whose latest purchase was on `last_purchase_date` is active at
   `month_end`: that purchase lies within the `churn_window_days` days ending on that day
   (docs/kpis.md); false without a purchase. #}
{% macro is_active_at(last_purchase_date, month_end) -%}
    coalesce(
        {{ dbt.datediff(last_purchase_date, month_end, 'day') }} < {{ var('churn_window_days') }},
        false
    )
{%- endmacro %}

{# The data's last month, to which every customer has rows: the month of the latest order
   date (cancelled orders included). The model's `data_end` and the hooks below. #}
{% macro customer_periods_last_month() -%}
    select {{ month_start('max(order_date)') }} as last_month from {{ ref('int_orders_netted') }}
{%- endmacro %}

{# Pre-hook: the table's last month before the run, for customer_periods_month_moved(). #}
{% macro record_customer_periods_end() -%}
    {%- if is_incremental() -%}
    create or replace temp table {{ this.identifier }}__previous_end as
    select max(month_start) as last_month from {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{# Whether the data's last month is after the table's before the run (then some customers
   are behind), from the pre-hook's record and int_orders_netted: two small queries, so
   that a night within the month does not scan the table for customers behind (0.5–0.8
   s at 10 M order lines). False without the record (the table's first build). #}
{% macro customer_periods_month_moved() -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set recorded = run_query(
        "select count(*) from duckdb_tables() where temporary and table_name = '"
        ~ this.identifier ~ "__previous_end'") -%}
    {%- if recorded.columns[0].values()[0] == 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set moved = run_query(
        "select coalesce((select last_month from temp.main." ~ this.identifier
        ~ "__previous_end) < (select last_month from (" ~ customer_periods_last_month()
        ~ ")), false)") -%}
    {{ return(moved.columns[0].values()[0] == true) }}
{%- endmacro %}

{# The customers behind, each with its last row. Every customer has rows up to the table's
   last month before the run (the pre-hook's record), so the customers behind are those
   whose row of that month is still their last after the run's delete+insert: the ones
   the run did not rebuild (a rebuilt customer has rows up to the data's new last month).
   Two filters on month_start and an anti join with the rebuilt customers' new months.
   A window over every row (each customer's latest month) took 0.8-1.0 s at 10 M order
   lines inside the model's transaction, and the two post-hooks ask twice. Called only when the month moved
   (customer_periods_month_moved), so the record exists. #}
{% macro customer_periods_behind() -%}
    {%- set previous_end = "(select last_month from temp.main." ~ this.identifier ~ "__previous_end)" -%}
    select customer_id, month_start, last_purchase_date, _loaded_at
    from {{ this }} as periods
    where month_start = {{ previous_end }}
        and not exists (
            select 1
            from {{ this }} as later
            where later.customer_id = periods.customer_id
                and later.month_start > {{ previous_end }}
        )
{%- endmacro %}

{% macro extend_customer_periods() -%}
    {%- if customer_periods_month_moved() -%}
    insert into {{ this }} (
        customer_id, month_start, month_end, revenue, purchases, orders,
        is_first_purchase_month, has_purchase, last_purchase_date, is_active_at_month_end,
        _loaded_at
    )
    with behind as (
        {{ customer_periods_behind() }}
    ),

    data_end as (
        {{ customer_periods_last_month() }}
    ),

    behind_by as (
        select
            *,
            {{ dbt.datediff('month_start', '(select last_month from data_end)', 'month') }}
                as months_behind
        from behind
    ),

    -- 1 .. the largest gap (usually 1): the join below then compares few numbers
    month_offsets as (
        select numbers.n
        from ({{ numbers(4) }}) as numbers
        where numbers.n >= 1 and numbers.n <= (select max(months_behind) from behind_by)
    ),

    new_months as (
        select
            behind_by.customer_id,
            cast({{ dbt.dateadd('month', 'month_offsets.n', 'behind_by.month_start') }} as date)
                as month_start,
            behind_by.last_purchase_date,
            behind_by._loaded_at
        from behind_by
        inner join month_offsets
            on month_offsets.n <= behind_by.months_behind
    ),

    with_month_end as (
        select
            *,
            cast(
                {{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_start')) }} as date
            ) as month_end
        from new_months
    )

    select
        customer_id,
        month_start,
        month_end,
        0 as revenue,
        0 as purchases,
        0 as orders,
        false as is_first_purchase_month,
        false as has_purchase,
        last_purchase_date,
        {{ is_active_at('last_purchase_date', 'month_end') }} as is_active_at_month_end,
        _loaded_at
    from with_month_end
    order by customer_id, month_start
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
