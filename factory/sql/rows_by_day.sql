-- Rows per day of one table, from the first given day to the second, both included.
SELECT partition_key, count(*) AS n
FROM {schema}.{table}
WHERE partition_key >= ? AND partition_key <= ?
GROUP BY partition_key
