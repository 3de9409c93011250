-- Annotators flagged as spammers per day, from the first given day to the second, both included.
SELECT partition_key, count(*) FILTER (WHERE spammer) AS spammers
FROM {schema}.annotator_report
WHERE partition_key >= ? AND partition_key <= ?
GROUP BY partition_key
