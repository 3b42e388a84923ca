-- Rows per event_date (NULL is the __HIVE_DEFAULT_PARTITION__ of rows without a timestamp).
SELECT event_date, COUNT(*) AS rows_per_date
FROM processed_netflix_events
GROUP BY event_date
ORDER BY event_date
