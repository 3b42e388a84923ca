-- Top titles by plays (PLAY_START events), with their names from the world's catalog (netflix_playables; empty names without dims).
SELECT e.title_id, p.title_name, COUNT(*) AS views
FROM processed_netflix_events e
LEFT JOIN netflix_playables p ON p.title_id = e.title_id
WHERE e.event_type = 'PLAY_START'
GROUP BY e.title_id, p.title_name
ORDER BY views DESC, e.title_id
LIMIT 10
