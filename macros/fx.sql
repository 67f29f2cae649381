{#
    Currency conversion to the reporting currency (var `reporting_currency`).

    `int_fx_rates_resolved` holds one row per (currency, rate date) with the interval
    [valid_from, valid_to) in which the rate applies; the earliest rate of a currency has
    valid_from null (it also applies before the first rate date), the latest valid_to null.
#}

{# Join condition: the rate of `currency_expr` that applies on `date_expr`.
   A null date takes the latest rate. #}
{% macro fx_rate_applies(rates, currency_expr, date_expr) -%}
    {{ rates }}.currency = {{ currency_expr }}
    and (
        {{ rates }}.valid_from is null
        or {{ date_expr }} is null
        or {{ rates }}.valid_from <= {{ date_expr }}
    )
    and (
        {{ rates }}.valid_to is null
        or ({{ date_expr }} is not null and {{ date_expr }} < {{ rates }}.valid_to)
    )
{%- endmacro %}

{# Rate to apply: 1 for the reporting currency and for amounts without a currency,
   else the joined rate (null when the currency has no rate at all). #}
{% macro rate_to_reporting(currency_expr, rate_expr) -%}
    case
        when {{ currency_expr }} is null then 1.0
        when {{ currency_expr }} = '{{ var("reporting_currency") | upper }}' then 1.0
        else {{ rate_expr }}
    end
{%- endmacro %}

{# Date of the rate that applies on `date_expr`, for an equality join on
   int_fx_rates_resolved (currency, rate_date): from `days` (int_fx_rates_daily, joined on
   currency and day) inside the currency's rate dates; outside them from `edges` (the
   currency's first_rate_date and last_rate_date): the first rate before, the last rate
   after and for a null date. The same rule as fx_rate_applies(), without a range join. #}
{% macro fx_rate_date(date_expr, edges, days) -%}
    case
        when {{ date_expr }} is null then {{ edges }}.last_rate_date
        when {{ date_expr }} < {{ edges }}.first_rate_date then {{ edges }}.first_rate_date
        when {{ date_expr }} > {{ edges }}.last_rate_date then {{ edges }}.last_rate_date
        else {{ days }}.rate_date
    end
{%- endmacro %}
