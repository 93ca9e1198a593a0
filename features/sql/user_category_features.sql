-- User x category affinity over 30 days, as of the end of each day in [$start, $end].
-- One row per (user, category, day) for categories shown to the user in the window, plus a
-- tombstone of zeros the day the last impression leaves the window.
WITH daily AS (
    SELECT e.user_id, c.category, CAST(e.date AS DATE) AS day,
           count(*) FILTER (WHERE e.event_type = 'impression') AS impressions,
           count(*) FILTER (WHERE e.event_type = 'click') AS clicks
    FROM accepted_events e JOIN catalog c USING (item_id)
    WHERE CAST(e.date AS DATE) BETWEEN CAST($start AS DATE) - INTERVAL 30 DAY AND CAST($end AS DATE)
    GROUP BY ALL
),
as_of_days AS (
    SELECT CAST(range AS DATE) AS as_of
    FROM range(CAST($start AS DATE), CAST($end AS DATE) + INTERVAL 1 DAY, INTERVAL 1 DAY)
),
windows AS (
    SELECT a.as_of, d.user_id, d.category,
           coalesce(sum(d.impressions) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY), 0) AS impressions_30d,
           coalesce(sum(d.clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY), 0) AS clicks_30d
    FROM as_of_days a JOIN daily d ON d.day BETWEEN a.as_of - INTERVAL 30 DAY AND a.as_of
    GROUP BY a.as_of, d.user_id, d.category
)
SELECT
    user_id,
    category,
    CAST(as_of + INTERVAL 1 DAY AS TIMESTAMPTZ) AS event_timestamp,
    CAST(impressions_30d AS BIGINT) AS uc_impressions_30d,
    CAST(clicks_30d AS BIGINT) AS uc_clicks_30d,
    CAST(clicks_30d AS DOUBLE) / nullif(impressions_30d, 0) AS uc_ctr_30d,
    -- Defined only while the category was shown in the window, so a tombstone equals an absent row.
    CASE WHEN impressions_30d > 0
         THEN CAST(clicks_30d AS DOUBLE) / nullif(sum(clicks_30d) OVER (PARTITION BY as_of, user_id), 0)
    END AS uc_affinity_30d,
    strftime(as_of, '%Y-%m-%d') AS date
FROM windows
ORDER BY as_of, user_id, category
