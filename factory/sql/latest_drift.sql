-- The newest drift report: the latest day, and for a re-run day, the latest write.
SELECT partition_key, score, threshold, created_at
FROM {schema}.drift_report
ORDER BY partition_key DESC, created_at DESC
LIMIT 1
