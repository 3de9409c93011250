-- Rows per source and day of one table, for every day up to the given one.
SELECT source, partition_key, count(*) AS n
FROM {schema}.{table}
WHERE partition_key <= ?
GROUP BY source, partition_key
