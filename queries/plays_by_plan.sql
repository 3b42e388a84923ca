-- Plays (PLAY_START events) by subscription plan and the profile's preferred device, from the world's population (netflix_accounts, netflix_profiles).
SELECT a.plan,
       pr.preferred_device,
       COUNT(*) AS plays,
       COUNT(DISTINCT e.user_id) AS accounts
FROM processed_netflix_events e
JOIN netflix_accounts a ON a.user_id = e.user_id
JOIN netflix_profiles pr ON pr.user_id = e.user_id AND pr.profile_id = e.profile_id
WHERE e.event_type = 'PLAY_START'
GROUP BY a.plan, pr.preferred_device
ORDER BY plays DESC, a.plan, pr.preferred_device
