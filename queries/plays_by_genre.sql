-- Plays (PLAY_START events) by genre and kind (film or episode), from the world's catalog (netflix_playables, netflix_titles); share of all plays in percent.
SELECT t.genre,
       p.kind,
       COUNT(*) AS plays,
       ROUND(100 * CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (), 2) AS pct
FROM processed_netflix_events e
JOIN netflix_playables p ON p.title_id = e.title_id
JOIN netflix_titles t ON t.title_index = p.title_index
WHERE e.event_type = 'PLAY_START'
GROUP BY t.genre, p.kind
ORDER BY plays DESC, t.genre, p.kind
