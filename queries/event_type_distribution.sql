-- Event-type distribution, with each type's share of all events.
SELECT event_type,
       COUNT(*) AS events,
       ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 2) AS pct
FROM processed_netflix_events
GROUP BY event_type
ORDER BY events DESC
