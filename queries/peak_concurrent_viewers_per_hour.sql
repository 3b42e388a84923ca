-- Peak concurrent viewers per UTC hour: a session is watching from its first to its last event (event_timestamp, whatever the types, so sessions already playing when the data starts count too); the peak is the most sessions watching at the same instant within the hour.
WITH spans AS (
    SELECT session_id, MIN(event_timestamp) AS first_ts, MAX(event_timestamp) AS last_ts
    FROM processed_netflix_events
    WHERE event_timestamp IS NOT NULL AND session_id IS NOT NULL
    GROUP BY session_id
),
changes AS (
    SELECT first_ts AS ts, 1 AS delta FROM spans
    UNION ALL
    SELECT last_ts AS ts, -1 AS delta FROM spans
),
running AS (
    SELECT ts,
           delta,
           SUM(delta) OVER (ORDER BY ts, delta ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS watching
    FROM changes
)
SELECT date_trunc('hour', ts) AS hour_utc,
       MAX(GREATEST(watching, watching - delta)) AS peak_concurrent_viewers
FROM running
GROUP BY date_trunc('hour', ts)
ORDER BY hour_utc
