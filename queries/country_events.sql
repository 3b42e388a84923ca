-- Events and distinct accounts per country.
SELECT country,
       COUNT(*) AS events,
       COUNT(DISTINCT user_id) AS accounts
FROM processed_netflix_events
GROUP BY country
ORDER BY events DESC, country
