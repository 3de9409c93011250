-- Quarantined rows per source and reason code, over every day up to the given one.
SELECT source, reason, count(*) AS n
FROM {schema}.quarantine
WHERE partition_key <= ?
GROUP BY source, reason
