-- User activity windows (1, 7, 30 days) as of the end of each day in [$start, $end].
-- One row per (user, day) for users with events in the 30 days up to that day, stamped at the
-- next midnight (UTC): the first moment all of the day's events are known. The day a user's
-- last event leaves the 30-day window gets one more row of zeros (a tombstone), so the online
-- store, which keeps a user's latest row, never serves counts the offline store has expired.
-- Reads only the partitions its windows need, [$start - 30 days, $end]: a daily run is incremental.
WITH events AS (
    SELECT e.user_id, CAST(e.date AS DATE) AS day, e.event_type, e.timespent_s, e.ts, c.category
    FROM accepted_events e LEFT JOIN catalog c USING (item_id)
    WHERE CAST(e.date AS DATE) BETWEEN CAST($start AS DATE) - INTERVAL 30 DAY AND CAST($end AS DATE)
),
daily AS (
    SELECT user_id, day,
           count(*) FILTER (WHERE event_type = 'impression') AS impressions,
           count(*) FILTER (WHERE event_type = 'click') AS clicks,
           coalesce(sum(timespent_s) FILTER (WHERE event_type = 'click'), 0) AS timespent_s,
           max(ts) AS last_ts
    FROM events GROUP BY ALL
),
daily_categories AS (  -- categories clicked per (user, day), for distinct counts over windows
    SELECT DISTINCT user_id, day, category FROM events WHERE event_type = 'click' AND category IS NOT NULL
),
as_of_days AS (
    SELECT CAST(range AS DATE) AS as_of
    FROM range(CAST($start AS DATE), CAST($end AS DATE) + INTERVAL 1 DAY, INTERVAL 1 DAY)
),
windows AS (
    SELECT a.as_of, d.user_id,
           sum(d.impressions) FILTER (WHERE d.day = a.as_of) AS impressions_1d,
           sum(d.clicks) FILTER (WHERE d.day = a.as_of) AS clicks_1d,
           sum(d.timespent_s) FILTER (WHERE d.day = a.as_of) AS timespent_1d,
           sum(d.impressions) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS impressions_7d,
           sum(d.clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS clicks_7d,
           sum(d.timespent_s) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS timespent_7d,
           sum(d.impressions) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS impressions_30d,
           sum(d.clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS clicks_30d,
           sum(d.timespent_s) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS timespent_30d,
           count(*) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS active_days_30d,
           max(d.last_ts) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS last_ts
    FROM as_of_days a JOIN daily d ON d.day BETWEEN a.as_of - INTERVAL 30 DAY AND a.as_of
    GROUP BY a.as_of, d.user_id
),
category_windows AS (
    SELECT a.as_of, c.user_id,
           count(DISTINCT c.category) FILTER (WHERE c.day = a.as_of) AS categories_1d,
           count(DISTINCT c.category) FILTER (WHERE c.day > a.as_of - INTERVAL 7 DAY) AS categories_7d,
           count(DISTINCT c.category) FILTER (WHERE c.day > a.as_of - INTERVAL 30 DAY) AS categories_30d
    FROM as_of_days a JOIN daily_categories c ON c.day BETWEEN a.as_of - INTERVAL 30 DAY AND a.as_of
    GROUP BY a.as_of, c.user_id
)
SELECT
    w.user_id,
    CAST(w.as_of + INTERVAL 1 DAY AS TIMESTAMPTZ) AS event_timestamp,
    CAST(coalesce(w.impressions_1d, 0) AS BIGINT) AS user_impressions_1d,
    CAST(coalesce(w.clicks_1d, 0) AS BIGINT) AS user_clicks_1d,
    CAST(w.clicks_1d AS DOUBLE) / nullif(w.impressions_1d, 0) AS user_ctr_1d,
    CAST(coalesce(w.timespent_1d, 0) AS DOUBLE) AS user_timespent_sum_1d,
    CAST(w.timespent_1d AS DOUBLE) / nullif(w.clicks_1d, 0) AS user_timespent_mean_1d,
    CAST(coalesce(c.categories_1d, 0) AS BIGINT) AS user_categories_1d,
    CAST(coalesce(w.impressions_7d, 0) AS BIGINT) AS user_impressions_7d,
    CAST(coalesce(w.clicks_7d, 0) AS BIGINT) AS user_clicks_7d,
    CAST(w.clicks_7d AS DOUBLE) / nullif(w.impressions_7d, 0) AS user_ctr_7d,
    CAST(coalesce(w.timespent_7d, 0) AS DOUBLE) AS user_timespent_sum_7d,
    CAST(w.timespent_7d AS DOUBLE) / nullif(w.clicks_7d, 0) AS user_timespent_mean_7d,
    CAST(coalesce(c.categories_7d, 0) AS BIGINT) AS user_categories_7d,
    CAST(coalesce(w.impressions_30d, 0) AS BIGINT) AS user_impressions_30d,
    CAST(coalesce(w.clicks_30d, 0) AS BIGINT) AS user_clicks_30d,
    CAST(w.clicks_30d AS DOUBLE) / nullif(w.impressions_30d, 0) AS user_ctr_30d,
    CAST(coalesce(w.timespent_30d, 0) AS DOUBLE) AS user_timespent_sum_30d,
    CAST(w.timespent_30d AS DOUBLE) / nullif(w.clicks_30d, 0) AS user_timespent_mean_30d,
    CAST(coalesce(c.categories_30d, 0) AS BIGINT) AS user_categories_30d,
    CAST(w.active_days_30d AS BIGINT) AS user_active_days_30d,
    CAST(epoch(w.last_ts) AS DOUBLE) AS user_last_event_ts,
    strftime(w.as_of, '%Y-%m-%d') AS date
FROM windows w LEFT JOIN category_windows c USING (as_of, user_id)
ORDER BY w.as_of, w.user_id
