-- Item popularity and engagement windows as of the end of each day in [$start, $end].
-- One row per (item, day) for items shown in the 30 days up to that day, stamped at the
-- next midnight (UTC). Reads only the partitions the windows need.
WITH daily AS (
    SELECT
        item_id,
        CAST(date AS DATE) AS day,
        count(*) FILTER (WHERE event_type = 'impression') AS impressions,
        count(*) FILTER (WHERE event_type = 'click') AS clicks,
        coalesce(sum(timespent_s) FILTER (WHERE event_type = 'click'), 0) AS timespent_s
    FROM accepted_events
    WHERE CAST(date AS DATE) BETWEEN CAST($start AS DATE) - INTERVAL 29 DAY AND CAST($end AS DATE)
    GROUP BY ALL
),
as_of_days AS (
    SELECT CAST(range AS DATE) AS as_of
    FROM range(CAST($start AS DATE), CAST($end AS DATE) + INTERVAL 1 DAY, INTERVAL 1 DAY)
),
windows AS (
    SELECT
        a.as_of,
        d.item_id,
        sum(d.impressions) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS impressions_7d,
        sum(d.clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS clicks_7d,
        sum(d.timespent_s) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS timespent_7d,
        sum(d.clicks) AS clicks_30d
    FROM as_of_days a
    JOIN daily d ON d.day BETWEEN a.as_of - INTERVAL 29 DAY AND a.as_of
    GROUP BY a.as_of, d.item_id
)
SELECT
    item_id,
    CAST(as_of + INTERVAL 1 DAY AS TIMESTAMPTZ) AS event_timestamp,
    CAST(coalesce(impressions_7d, 0) AS BIGINT) AS item_impressions_7d,
    CAST(coalesce(clicks_7d, 0) AS BIGINT) AS item_clicks_7d,
    CAST(clicks_7d AS DOUBLE) / nullif(impressions_7d, 0) AS item_ctr_7d,
    CAST(timespent_7d AS DOUBLE) / nullif(clicks_7d, 0) AS item_timespent_mean_7d,
    CAST(clicks_30d AS BIGINT) AS item_clicks_30d,
    strftime(as_of, '%Y-%m-%d') AS date
FROM windows
ORDER BY as_of, item_id
