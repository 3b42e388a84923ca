-- Top titles by plays (PLAY_START events).
SELECT title_id, COUNT(*) AS views
FROM processed_netflix_events
WHERE event_type = 'PLAY_START'
GROUP BY title_id
ORDER BY views DESC, title_id
LIMIT 10
