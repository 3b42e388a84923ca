-- Average watch time per title: for each session with both a PLAY_START and a PLAY_STOP, the minutes of the title played from one to the other (PLAY_STOP position_ms - PLAY_START position_ms, never below 0, so pauses and stalls do not count and seeks do); the 20 titles with the most such sessions.
WITH sessions AS (
    SELECT session_id,
           title_id,
           MAX(CASE WHEN event_type = 'PLAY_START' THEN position_ms END) AS start_ms,
           MAX(CASE WHEN event_type = 'PLAY_STOP' THEN position_ms END) AS stop_ms
    FROM processed_netflix_events
    WHERE event_type IN ('PLAY_START', 'PLAY_STOP') AND session_id IS NOT NULL
    GROUP BY session_id, title_id
)
SELECT title_id,
       COUNT(*) AS sessions,
       ROUND(AVG(CAST(GREATEST(stop_ms - start_ms, 0) AS DOUBLE)) / 60000, 2) AS avg_watch_minutes
FROM sessions
WHERE start_ms IS NOT NULL AND stop_ms IS NOT NULL
GROUP BY title_id
ORDER BY sessions DESC, title_id
LIMIT 20
