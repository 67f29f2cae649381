-- One row per (period_start, channel label, campaign): the spend, converted to the
-- reporting currency at the rate of period_start.
with

marketing_spend as (

    select * from {{ ref('stg_raw__marketing_spend') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_resolved') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

converted as (

    select
        marketing_spend.*,
        {{ rate_to_reporting('marketing_spend.currency', 'fx_rates.rate_to_reporting') }} as fx_rate,
        {{ canonical_channel('marketing_spend.channel', 'channel_mapping.channel') }} as canonical_channel
    from marketing_spend
    left join fx_rates
        on {{ fx_rate_applies('fx_rates', 'marketing_spend.currency', 'marketing_spend.period_start') }}
    left join channel_mapping
        on {{ label_key('marketing_spend.channel') }} = {{ label_key('channel_mapping.source_label') }}

),

final as (

    select
        {{ surrogate_key(['period_start', 'channel', 'campaign']) }} as spend_key,
        period_start,
        canonical_channel as channel,
        channel as channel_raw,
        campaign,
        amount * fx_rate as amount,
        amount as amount_local,
        currency
    from converted

)

select * from final
