-- The canonical channels of the channel_mapping seed, plus `other` (a label the seed does
-- not know) and `unknown` (no label at all).
with

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

seed_channels as (

    select distinct
        channel,
        channel_type
    from channel_mapping

),

fallback_channels as (

    select
        'other' as channel,
        'other' as channel_type
    union all
    select
        'unknown' as channel,
        'other' as channel_type

),

channels as (

    select * from seed_channels
    union all
    select * from fallback_channels
    where channel not in (select channel from seed_channels)

),

final as (

    select
        channel,
        channel_type,
        case channel
            when 'web' then 'Own website: organic search, direct traffic, web forms, chat'
            when 'paid_search' then 'Paid search and online advertising'
            when 'social' then 'Social media, organic or paid'
            when 'email' then 'Email marketing and newsletters'
            when 'referral' then 'Referrals by customers, employees and word of mouth'
            when 'events' then 'Trade shows, conferences, seminars and webinars'
            when 'partner' then 'Partners, resellers and distributors'
            when 'outbound' then 'Outbound prospecting: cold calls, cold email, purchased lists'
            when 'direct' then 'Direct / field sales, stores and offline sources'
            when 'marketplace' then 'Third-party online marketplaces'
            when 'other' then 'A label the channel mapping does not know'
            when 'unknown' then 'No channel given'
        end as description
    from channels

)

select * from final
