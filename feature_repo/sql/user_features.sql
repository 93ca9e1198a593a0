-- User activity windows as of the end of each day in [$start, $end].
-- One row per (user, day) for users active in the 30 days up to that day; the row is
-- stamped at the next midnight (UTC), the first moment all of the day's events are known.
-- Reads only the partitions the windows need: [$start - 29 days, $end].
WITH daily AS (
    SELECT
        user_id,
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
        d.user_id,
        sum(d.impressions) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS impressions_7d,
        sum(d.clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS clicks_7d,
        sum(d.timespent_s) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS timespent_7d,
        sum(d.clicks) AS clicks_30d,
        count(*) AS active_days_30d
    FROM as_of_days a
    JOIN daily d ON d.day BETWEEN a.as_of - INTERVAL 29 DAY AND a.as_of
    GROUP BY a.as_of, d.user_id
)
SELECT
    user_id,
    CAST(as_of + INTERVAL 1 DAY AS TIMESTAMPTZ) AS event_timestamp,
    CAST(coalesce(impressions_7d, 0) AS BIGINT) AS user_impressions_7d,
    CAST(coalesce(clicks_7d, 0) AS BIGINT) AS user_clicks_7d,
    CAST(clicks_7d AS DOUBLE) / nullif(impressions_7d, 0) AS user_ctr_7d,
    CAST(timespent_7d AS DOUBLE) / nullif(clicks_7d, 0) AS user_timespent_mean_7d,
    CAST(clicks_30d AS BIGINT) AS user_clicks_30d,
    CAST(active_days_30d AS BIGINT) AS user_active_days_30d,
    strftime(as_of, '%Y-%m-%d') AS date
FROM windows
ORDER BY as_of, user_id
