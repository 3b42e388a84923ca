-- Plays started per UTC hour of the day.
SELECT hour(event_timestamp) AS hour_utc, COUNT(*) AS plays
FROM processed_netflix_events
WHERE event_type = 'PLAY_START' AND event_timestamp IS NOT NULL
GROUP BY hour(event_timestamp)
ORDER BY hour_utc
