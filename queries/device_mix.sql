-- Plays and stalls per device type: stalls per 100 plays shows where rebuffering hurts.
SELECT device_type,
       SUM(CASE WHEN event_type = 'PLAY_START' THEN 1 ELSE 0 END) AS plays,
       SUM(CASE WHEN event_type = 'BUFFER_START' THEN 1 ELSE 0 END) AS stalls,
       ROUND(100.0 * SUM(CASE WHEN event_type = 'BUFFER_START' THEN 1 ELSE 0 END)
             / NULLIF(SUM(CASE WHEN event_type = 'PLAY_START' THEN 1 ELSE 0 END), 0), 2) AS stalls_per_100_plays
FROM processed_netflix_events
GROUP BY device_type
ORDER BY plays DESC, device_type
