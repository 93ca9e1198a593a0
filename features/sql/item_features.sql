-- Item popularity, CTR and completion windows as of the end of each day in [$start, $end].
-- One row per (item, day) for items shown in the 30 days up to that day, stamped at the next
-- midnight (UTC), plus a tombstone of zeros the day an item's last impression leaves the window.
-- Completion is timespent / the catalogue's duration, per click.
WITH daily AS (
    SELECT e.item_id, CAST(e.date AS DATE) AS day,
           count(*) FILTER (WHERE e.event_type = 'impression') AS impressions,
           count(*) FILTER (WHERE e.event_type = 'click') AS clicks,
           coalesce(sum(least(e.timespent_s / nullif(c.duration_s, 0), 1.0)) FILTER (WHERE e.event_type = 'click'), 0)
               AS completion_sum,
           count(c.duration_s) FILTER (WHERE e.event_type = 'click') AS completion_clicks
    FROM accepted_events e LEFT JOIN catalog c USING (item_id)
    WHERE CAST(e.date AS DATE) BETWEEN CAST($start AS DATE) - INTERVAL 30 DAY AND CAST($end AS DATE)
    GROUP BY ALL
),
as_of_days AS (
    SELECT CAST(range AS DATE) AS as_of
    FROM range(CAST($start AS DATE), CAST($end AS DATE) + INTERVAL 1 DAY, INTERVAL 1 DAY)
),
windows AS (
    SELECT a.as_of, d.item_id,
           sum(d.impressions) FILTER (WHERE d.day = a.as_of) AS impressions_1d,
           sum(d.clicks) FILTER (WHERE d.day = a.as_of) AS clicks_1d,
           sum(d.impressions) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS impressions_7d,
           sum(d.clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS clicks_7d,
           sum(d.completion_sum) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS completion_7d,
           sum(d.completion_clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 7 DAY) AS completion_clicks_7d,
           sum(d.impressions) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS impressions_30d,
           sum(d.clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS clicks_30d,
           sum(d.completion_sum) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS completion_30d,
           sum(d.completion_clicks) FILTER (WHERE d.day > a.as_of - INTERVAL 30 DAY) AS completion_clicks_30d
    FROM as_of_days a JOIN daily d ON d.day BETWEEN a.as_of - INTERVAL 30 DAY AND a.as_of
    GROUP BY a.as_of, d.item_id
)
SELECT
    item_id,
    CAST(as_of + INTERVAL 1 DAY AS TIMESTAMPTZ) AS event_timestamp,
    CAST(coalesce(impressions_1d, 0) AS BIGINT) AS item_impressions_1d,
    CAST(coalesce(clicks_1d, 0) AS BIGINT) AS item_clicks_1d,
    CAST(coalesce(impressions_7d, 0) AS BIGINT) AS item_impressions_7d,
    CAST(coalesce(clicks_7d, 0) AS BIGINT) AS item_clicks_7d,
    CAST(coalesce(impressions_30d, 0) AS BIGINT) AS item_impressions_30d,
    CAST(coalesce(clicks_30d, 0) AS BIGINT) AS item_clicks_30d,
    CAST(clicks_7d AS DOUBLE) / nullif(impressions_7d, 0) AS item_ctr_7d,
    CAST(completion_7d AS DOUBLE) / nullif(completion_clicks_7d, 0) AS item_completion_mean_7d,
    CAST(clicks_30d AS DOUBLE) / nullif(impressions_30d, 0) AS item_ctr_30d,
    CAST(completion_30d AS DOUBLE) / nullif(completion_clicks_30d, 0) AS item_completion_mean_30d,
    strftime(as_of, '%Y-%m-%d') AS date
FROM windows
ORDER BY as_of, item_id
