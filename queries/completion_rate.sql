-- Completion rate per title: the share of sessions with both a PLAY_START and a PLAY_STOP whose PLAY_STOP position_ms is at least 95 % of the title's runtime, estimated as the furthest position_ms seen for the title (a finished play stops at the end, so the estimate needs a few sessions per title); the 20 titles with the most such sessions.
WITH sessions AS (
    SELECT session_id,
           title_id,
           MAX(CASE WHEN event_type = 'PLAY_START' THEN position_ms END) AS start_ms,
           MAX(CASE WHEN event_type = 'PLAY_STOP' THEN position_ms END) AS stop_ms
    FROM processed_netflix_events
    WHERE event_type IN ('PLAY_START', 'PLAY_STOP') AND session_id IS NOT NULL
    GROUP BY session_id, title_id
),
runtimes AS (
    SELECT title_id, MAX(position_ms) AS runtime_ms
    FROM processed_netflix_events
    GROUP BY title_id
)
SELECT s.title_id,
       COUNT(*) AS sessions,
       SUM(CASE WHEN s.stop_ms >= 0.95 * r.runtime_ms THEN 1 ELSE 0 END) AS completed,
       ROUND(100 * CAST(SUM(CASE WHEN s.stop_ms >= 0.95 * r.runtime_ms THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*), 2) AS completion_pct
FROM sessions s
JOIN runtimes r ON r.title_id = s.title_id
WHERE s.start_ms IS NOT NULL AND s.stop_ms IS NOT NULL
GROUP BY s.title_id
ORDER BY sessions DESC, s.title_id
LIMIT 20
